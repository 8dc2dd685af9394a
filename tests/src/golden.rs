//! Golden traces: the reviewed, expected trace of each scenario, in
//! `tests/traces/NAME.trace`. The simulation's fault-free run must produce it; every
//! other backend is compared with the simulation.
//!
//! Set `CONFORMANCE_BLESS=1` to write the simulation's trace as the golden file (new
//! scenarios, or an intended change); review the diff before committing it.

use std::path::PathBuf;

use crate::trace::TraceLog;

/// The environment variable that makes the simulation runner write golden files.
pub const BLESS_VAR: &str = "CONFORMANCE_BLESS";

/// Where scenario `name`'s golden trace lives.
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("traces")
        .join(format!("{name}.trace"))
}

/// The golden trace of `name`: `Ok(None)` if there is none yet.
///
/// # Errors
///
/// The file exists but cannot be read or parsed.
pub fn load(name: &str) -> Result<Option<TraceLog>, String> {
    let p = path(name);
    match std::fs::read_to_string(&p) {
        Ok(text) => text
            .parse()
            .map(Some)
            .map_err(|e| format!("{}: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

/// Whether this run should (re)write golden files.
pub fn blessing() -> bool {
    std::env::var_os(BLESS_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Write `log` as the golden trace of `name`, with a header naming the scenario.
///
/// # Errors
///
/// The file cannot be written.
pub fn write(name: &str, log: &TraceLog) -> Result<(), String> {
    let p = path(name);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = format!("# Golden trace of scenario `{name}` (see tests/README.md).\n{log}");
    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
}

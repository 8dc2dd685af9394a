//! Which servers the runner knows and how each is started.
//!
//! A server is a name, a program and its arguments; `{port}` in an argument becomes the
//! loopback port the runner chose. [`builtin_servers`] is the list the runner measures by
//! default; `--server NAME=PROGRAM ARGS…` adds one from the command line (see
//! [`ServerSpec::parse`]).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The built-in servers, in table order.
///
/// Tulip's own servers are host-native examples that take `HOST:PORT` as their only
/// argument: `echo_server_protocol` (asyncio's protocol echo) and `echo_server_streams`
/// (a `start_server` task per connection).
pub fn builtin_servers() -> Vec<ServerSpec> {
    vec![
        ServerSpec::harness("mio", &["serve", "mio", "{port}"]),
        ServerSpec::harness("tokio", &["serve", "tokio", "{port}"]),
        ServerSpec::cargo_example(
            "tulip-protocol",
            "host-native",
            "echo_server_protocol",
            &["127.0.0.1:{port}"],
        ),
        ServerSpec::cargo_example(
            "tulip-streams",
            "host-native",
            "echo_server_streams",
            &["127.0.0.1:{port}"],
        ),
        ServerSpec::python(
            "asyncio",
            &[],
            &["{bench}/echo_server.py", "--loop", "asyncio", "{port}"],
        ),
        ServerSpec::python(
            "uvloop",
            &["uvloop"],
            &["{bench}/echo_server.py", "--loop", "uvloop", "{port}"],
        ),
    ]
}

/// The server the table's ratios compare against.
pub const BASELINE: &str = "tokio";

/// A server the runner can start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Its name in the table.
    pub name: String,
    /// What to run.
    pub program: Program,
    /// Its arguments; `{port}`, `{bench}` (this crate's directory) and `{workspace}` are
    /// replaced.
    pub args: Vec<String>,
}

/// Where a server's executable comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// An executable path, or a name looked up on `PATH`.
    Path(PathBuf),
    /// The harness's own executable (its `serve` subcommand).
    Harness,
    /// A binary or example target of a workspace package, built by `cargo build` with
    /// the harness's own profile before the run.
    Cargo {
        /// The package (`-p`).
        package: String,
        /// Binary or example.
        kind: TargetKind,
        /// The target's name.
        target: String,
    },
    /// The Python interpreter chosen with `--python`; it must import `modules`, which
    /// are installed with pip from `bench/requirements.txt` when missing.
    Python {
        /// Modules the server imports beyond the standard library.
        modules: Vec<String>,
    },
}

/// A cargo target kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// `--bin`.
    Bin,
    /// `--example`.
    Example,
}

impl ServerSpec {
    /// A server run by the harness's own `serve` subcommand.
    pub fn harness(name: &str, args: &[&str]) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            program: Program::Harness,
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// A server that is an example of a workspace package.
    pub fn cargo_example(name: &str, package: &str, example: &str, args: &[&str]) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            program: Program::Cargo {
                package: package.into(),
                kind: TargetKind::Example,
                target: example.into(),
            },
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// A server that is a Python script needing `modules`.
    pub fn python(name: &str, modules: &[&str], args: &[&str]) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            program: Program::Python {
                modules: modules.iter().map(|m| m.to_string()).collect(),
            },
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Parses `NAME=PROGRAM ARG…` (words split at whitespace, no quoting), where
    /// PROGRAM is `example:PACKAGE/TARGET`, `bin:PACKAGE/TARGET`, `python` or an
    /// executable path or name.
    ///
    /// ```
    /// # use tulip_bench::{ServerSpec, Program, TargetKind};
    /// let spec = ServerSpec::parse("tulip-protocol=example:host-native/echo_server {port}")?;
    /// assert_eq!(spec.name, "tulip-protocol");
    /// assert_eq!(spec.args, ["{port}"]);
    /// assert!(matches!(spec.program, Program::Cargo { kind: TargetKind::Example, .. }));
    /// # Ok::<(), tulip_bench::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<ServerSpec> {
        let usage = |why: &str| {
            Error::Usage(format!(
                "server `{text}`: {why} (expected NAME=PROGRAM ARG…, PROGRAM being \
                 example:PACKAGE/TARGET, bin:PACKAGE/TARGET, python or an executable)"
            ))
        };
        let (name, command) = text.split_once('=').ok_or_else(|| usage("no `=`"))?;
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(usage("the name must be one word"));
        }
        let mut words = command.split_whitespace();
        let program = words.next().ok_or_else(|| usage("no program"))?;
        let cargo = |kind, rest: &str| {
            let (package, target) = rest
                .split_once('/')
                .filter(|(p, t)| !p.is_empty() && !t.is_empty())
                .ok_or_else(|| usage("a cargo target is PACKAGE/TARGET"))?;
            Ok::<_, Error>(Program::Cargo {
                package: package.into(),
                kind,
                target: target.into(),
            })
        };
        let program = if let Some(rest) = program.strip_prefix("example:") {
            cargo(TargetKind::Example, rest)?
        } else if let Some(rest) = program.strip_prefix("bin:") {
            cargo(TargetKind::Bin, rest)?
        } else if program == "python" {
            Program::Python {
                modules: Vec::new(),
            }
        } else {
            Program::Path(program.into())
        };
        Ok(ServerSpec {
            name: name.into(),
            program,
            args: words.map(str::to_string).collect(),
        })
    }
}

/// Where the harness runs: what the specs' programs and placeholders resolve to.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The executable with the `serve` subcommand (normally this process's own).
    pub harness_exe: PathBuf,
    /// The Python interpreter for [`Program::Python`].
    pub python: PathBuf,
    /// Whether missing Python modules may be installed with pip.
    pub install_python_modules: bool,
    /// The workspace root, where cargo builds run.
    pub workspace: PathBuf,
    /// This crate's directory (`{bench}`).
    pub bench_dir: PathBuf,
    /// The cargo profile for [`Program::Cargo`] targets: `release` when the harness is
    /// an optimised build, else `dev`.
    pub cargo_profile: String,
}

impl Environment {
    /// The environment of this build of the harness, with `harness_exe` as the
    /// executable that has the `serve` subcommand.
    pub fn new(harness_exe: PathBuf, python: PathBuf) -> Environment {
        let bench_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let workspace = bench_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| bench_dir.clone());
        Environment {
            harness_exe,
            python,
            install_python_modules: true,
            workspace,
            bench_dir,
            cargo_profile: if cfg!(debug_assertions) {
                "dev".into()
            } else {
                "release".into()
            },
        }
    }
}

/// A server ready to start: its program resolved and placeholders other than `{port}`
/// filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The server's name.
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments, `{port}` still to be replaced.
    pub args: Vec<String>,
}

impl Launch {
    /// The arguments with `{port}` replaced.
    pub fn args_for_port(&self, port: u16) -> Vec<String> {
        let port = port.to_string();
        self.args
            .iter()
            .map(|a| a.replace("{port}", &port))
            .collect()
    }
}

/// A server that can be measured here, or why it cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Ready to start.
    Ready(Launch),
    /// Not measurable on this machine (its row in the table says why).
    Unavailable {
        /// The server's name.
        name: String,
        /// Why, e.g. "uvloop could not be installed with pip: …".
        reason: String,
    },
}

impl Availability {
    /// The server's name.
    pub fn name(&self) -> &str {
        match self {
            Availability::Ready(launch) => &launch.name,
            Availability::Unavailable { name, .. } => name,
        }
    }
}

/// How long pip may take to install a missing module.
const PIP_LIMIT: Duration = Duration::from_secs(300);

/// Resolves `spec` in `env`: builds cargo targets, checks (and if allowed installs)
/// Python modules. A server that cannot be had here is [`Availability::Unavailable`].
pub fn prepare(spec: &ServerSpec, env: &Environment) -> Availability {
    let unavailable = |reason: String| Availability::Unavailable {
        name: spec.name.clone(),
        reason,
    };
    let program = match &spec.program {
        Program::Path(path) => path.clone(),
        Program::Harness => env.harness_exe.clone(),
        Program::Cargo {
            package,
            kind,
            target,
        } => match build_cargo_target(env, package, *kind, target) {
            Ok(path) => path,
            Err(reason) => return unavailable(reason),
        },
        Program::Python { modules } => {
            if let Err(reason) = check_python(env, modules) {
                return unavailable(reason);
            }
            env.python.clone()
        }
    };
    let bench = env.bench_dir.to_string_lossy();
    let workspace = env.workspace.to_string_lossy();
    let args = spec
        .args
        .iter()
        .map(|a| {
            a.replace("{bench}", &bench)
                .replace("{workspace}", &workspace)
        })
        .collect();
    Availability::Ready(Launch {
        name: spec.name.clone(),
        program,
        args,
    })
}

/// Runs `cargo build` for one target and returns the executable's path, or a reason.
fn build_cargo_target(
    env: &Environment,
    package: &str,
    kind: TargetKind,
    target: &str,
) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let kind_flag = match kind {
        TargetKind::Bin => "--bin",
        TargetKind::Example => "--example",
    };
    eprintln!(
        "building {package} {} {target} ({})",
        &kind_flag[2..],
        env.cargo_profile
    );
    let output = Command::new(&cargo)
        .current_dir(&env.workspace)
        .args(["build", "--profile", &env.cargo_profile, "-p", package])
        .args([kind_flag, target])
        .args(["--message-format", "json-render-diagnostics"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build {kind_flag} {target} -p {package} failed: {}",
            last_line(&output.stderr)
        ));
    }
    let wanted_kind = match kind {
        TargetKind::Bin => "bin",
        TargetKind::Example => "example",
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_target = message["reason"] == "compiler-artifact"
            && message["target"]["name"] == target
            && message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == wanted_kind));
        if let (true, Some(exe)) = (is_target, message["executable"].as_str()) {
            return Ok(exe.into());
        }
    }
    Err(format!(
        "cargo built {package} but reported no executable for {wanted_kind} {target}"
    ))
}

/// Checks that the interpreter imports `modules`, installing them with pip from
/// `bench/requirements.txt` when allowed.
fn check_python(env: &Environment, modules: &[String]) -> Result<(), String> {
    let python = env.python.display();
    let missing = match missing_modules(env, modules) {
        Ok(missing) => missing,
        Err(e) => return Err(format!("cannot run {python}: {e}")),
    };
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(", ");
    if !env.install_python_modules {
        return Err(format!("{python} lacks {list} (installing was turned off)"));
    }
    let requirements = env.bench_dir.join("requirements.txt");
    eprintln!(
        "installing {list} with pip from {} for {python}",
        requirements.display()
    );
    let mut child = Command::new(&env.python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "-r",
        ])
        .arg(&requirements)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(pipe) = stderr.as_mut() {
            let _ = pipe.read_to_end(&mut text);
        }
        text
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() > PIP_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("cannot wait for pip: {e}")),
        }
    };
    let text = reader.join().unwrap_or_default();
    match status {
        None => {
            return Err(format!(
                "pip did not install {list} within {} s",
                PIP_LIMIT.as_secs()
            ));
        }
        Some(status) if !status.success() => {
            return Err(format!(
                "pip could not install {list}: {}",
                last_line(&text)
            ));
        }
        Some(_) => {}
    }
    match missing_modules(env, modules) {
        Ok(still) if still.is_empty() => Ok(()),
        Ok(still) => Err(format!(
            "{python} still lacks {} after pip install",
            still.join(", ")
        )),
        Err(e) => Err(format!("cannot run {python}: {e}")),
    }
}

/// The modules of `modules` the interpreter cannot import.
fn missing_modules(env: &Environment, modules: &[String]) -> std::io::Result<Vec<String>> {
    let mut missing = Vec::new();
    // Checks the interpreter itself even when no module is needed.
    let probe = |module: &str| {
        Command::new(&env.python)
            .args(["-c", &format!("import {module}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    if !probe("asyncio")?.success() {
        return Err(std::io::Error::other("it cannot import asyncio"));
    }
    for module in modules {
        if !probe(module)?.success() {
            missing.push(module.clone());
        }
    }
    Ok(missing)
}

/// The last non-empty line of a tool's output, for a one-line reason.
fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
        .trim()
        .to_string()
}

/// Selects servers by name from `builtin` and `extra` (the `--server` ones): all of them
/// in order when `names` is empty, else those named, in the order named.
pub fn select(
    builtin: Vec<ServerSpec>,
    extra: Vec<ServerSpec>,
    names: &[String],
) -> Result<Vec<ServerSpec>> {
    let mut all = builtin;
    for spec in extra {
        match all.iter_mut().find(|s| s.name == spec.name) {
            Some(existing) => *existing = spec,
            None => all.push(spec),
        }
    }
    if names.is_empty() {
        return Ok(all);
    }
    let mut chosen = Vec::with_capacity(names.len());
    for name in names {
        let spec = all.iter().find(|s| &s.name == name).ok_or_else(|| {
            let known: Vec<_> = all.iter().map(|s| s.name.as_str()).collect();
            Error::Usage(format!(
                "unknown server `{name}` (known: {})",
                known.join(", ")
            ))
        })?;
        if chosen.iter().any(|s: &ServerSpec| &s.name == name) {
            return Err(Error::Usage(format!("server `{name}` named twice")));
        }
        chosen.push(spec.clone());
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_program_form() {
        let spec = ServerSpec::parse("g=bin:host-wasi/tulip run {workspace}/e.wasm").unwrap();
        assert_eq!(
            spec.program,
            Program::Cargo {
                package: "host-wasi".into(),
                kind: TargetKind::Bin,
                target: "tulip".into()
            }
        );
        assert_eq!(spec.args, ["run", "{workspace}/e.wasm"]);
        let spec = ServerSpec::parse("p=python x.py {port}").unwrap();
        assert_eq!(spec.program, Program::Python { modules: vec![] });
        let spec = ServerSpec::parse("n = /usr/bin/ncat -l {port}").unwrap();
        assert_eq!(spec.name, "n");
        assert_eq!(spec.program, Program::Path("/usr/bin/ncat".into()));
    }

    #[test]
    fn rejects_malformed_specs() {
        for bad in [
            "noequals",
            "=prog",
            "two words=prog",
            "x=",
            "x=example:pkg",
            "x=bin:/t",
        ] {
            assert!(
                matches!(ServerSpec::parse(bad), Err(Error::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn selection_keeps_the_named_order_and_lets_extras_replace_builtins() {
        let extra = vec![
            ServerSpec::parse("tokio=/bin/true").unwrap(),
            ServerSpec::parse("x=/bin/x").unwrap(),
        ];
        let all = select(builtin_servers(), extra.clone(), &[]).unwrap();
        let names: Vec<_> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "mio",
                "tokio",
                "tulip-protocol",
                "tulip-streams",
                "asyncio",
                "uvloop",
                "x"
            ]
        );
        assert_eq!(all[1].program, Program::Path("/bin/true".into()));
        let some = select(builtin_servers(), extra, &["x".into(), "mio".into()]).unwrap();
        assert_eq!(some[0].name, "x");
        assert_eq!(some[1].name, "mio");
        assert!(select(builtin_servers(), vec![], &["nope".into()]).is_err());
        assert!(select(builtin_servers(), vec![], &["mio".into(), "mio".into()]).is_err());
    }

    #[test]
    fn placeholders_are_filled() {
        let env = Environment::new("/h".into(), "python3".into());
        let spec = ServerSpec::harness("mio", &["serve", "mio", "{port}", "{bench}"]);
        let Availability::Ready(launch) = prepare(&spec, &env) else {
            panic!("a harness server is always available");
        };
        assert_eq!(launch.program, PathBuf::from("/h"));
        assert_eq!(
            launch.args_for_port(4321),
            ["serve", "mio", "4321", env!("CARGO_MANIFEST_DIR")]
        );
    }
}

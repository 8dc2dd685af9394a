//! The open-file limit the idle-connection mode needs.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use crate::error::{Error, Result};

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (server processes
/// started afterwards inherit it) and returns the soft limit now in force.
pub fn raise_open_files() -> Result<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )
        .map_err(|e| Error::io("raise RLIMIT_NOFILE", e.into()))?;
    }
    Ok(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
}

/// Fails with a message saying how to raise the limit when `needed` descriptors do not
/// fit under this process's open-file limit (raised to the hard limit first).
pub fn ensure_open_files(needed: u64) -> Result<()> {
    let limit = raise_open_files()?;
    if limit < needed {
        return Err(Error::Usage(format!(
            "{needed} open files are needed but RLIMIT_NOFILE's hard limit is {limit}; \
             raise it (ulimit -Hn as root) or ask for fewer connections"
        )));
    }
    Ok(())
}

//! [`GuestBuild`]: build guest programs for `wasm32-wasip2` from a test, a build script
//! or a tool on the host.
//!
//! The build runs a child `cargo build --target wasm32-wasip2` with a target directory of
//! its own, so it never waits on the lock of the cargo invocation that runs the test or
//! the build script (which would deadlock), and with the host build's flags
//! (`RUSTFLAGS`, a forced `--target`, clippy's wrapper) removed from its environment.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The target guests are built for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// Variables of a host build that must not reach the guest build.
const HOST_ONLY_ENV: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WORKSPACE_WRAPPER",
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Selection {
    Example(String),
    Bin(String),
    AllExamples,
    AllBins,
}

/// A build of guest programs for `wasm32-wasip2` (see the [module docs](self)).
///
/// ```no_run
/// use guest_sdk::build::GuestBuild;
///
/// // guest-sdk's own example guests (echo, connect, guest_udp_echo), optimised:
/// let built = GuestBuild::sdk_examples().release(true).build()?;
/// let echo = built.example("echo");
/// assert!(echo.ends_with("examples/echo.wasm"));
/// # Ok::<(), guest_sdk::build::BuildError>(())
/// ```
#[derive(Clone, Debug)]
pub struct GuestBuild {
    manifest_path: PathBuf,
    package: Option<String>,
    selection: Vec<Selection>,
    release: bool,
    target_dir: Option<PathBuf>,
}

impl GuestBuild {
    /// A build of the package (or workspace) at `manifest_path` (a `Cargo.toml`). With
    /// nothing selected, cargo's default targets of the package are built.
    pub fn new(manifest_path: impl Into<PathBuf>) -> Self {
        GuestBuild {
            manifest_path: manifest_path.into(),
            package: None,
            selection: Vec::new(),
            release: false,
            target_dir: None,
        }
    }

    /// The example guests of this crate (`guest-sdk/examples`: `echo`, `connect`, `guest_udp_echo`), in
    /// `wasm-guests` under the workspace's target directory (`CARGO_TARGET_DIR` when set).
    pub fn sdk_examples() -> Self {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| here.join("..").join("target"), PathBuf::from);
        GuestBuild::new(here.join("Cargo.toml"))
            .package("guest-sdk")
            .all_examples()
            .target_dir(target.join("wasm-guests"))
    }

    /// Build this package of the workspace (`cargo -p`).
    #[must_use]
    pub fn package(mut self, name: impl Into<String>) -> Self {
        self.package = Some(name.into());
        self
    }

    /// Build this example (`--example`); may be given several times.
    #[must_use]
    pub fn example(mut self, name: impl Into<String>) -> Self {
        self.selection.push(Selection::Example(name.into()));
        self
    }

    /// Build this binary (`--bin`); may be given several times.
    #[must_use]
    pub fn bin(mut self, name: impl Into<String>) -> Self {
        self.selection.push(Selection::Bin(name.into()));
        self
    }

    /// Build every example (`--examples`).
    #[must_use]
    pub fn all_examples(mut self) -> Self {
        self.selection.push(Selection::AllExamples);
        self
    }

    /// Build every binary (`--bins`).
    #[must_use]
    pub fn all_bins(mut self) -> Self {
        self.selection.push(Selection::AllBins);
        self
    }

    /// Build with the release profile (default: dev).
    #[must_use]
    pub fn release(mut self, release: bool) -> Self {
        self.release = release;
        self
    }

    /// Where to build. Default: `target/wasm-guests` next to the manifest. It must
    /// differ from the target directory of the cargo invocation this runs under.
    #[must_use]
    pub fn target_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.target_dir = Some(dir.into());
        self
    }

    /// The target directory this build uses.
    pub fn target_directory(&self) -> PathBuf {
        self.target_dir.clone().unwrap_or_else(|| {
            self.manifest_path
                .parent()
                .unwrap_or(Path::new("."))
                .join("target")
                .join("wasm-guests")
        })
    }

    /// The `cargo` command this build runs.
    pub fn command(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "--target",
            GUEST_TARGET,
            "--manifest-path",
        ])
        .arg(&self.manifest_path)
        .arg("--target-dir")
        .arg(self.target_directory());
        if let Some(p) = &self.package {
            cmd.args(["--package", p]);
        }
        for s in &self.selection {
            match s {
                Selection::Example(n) => cmd.args(["--example", n]),
                Selection::Bin(n) => cmd.args(["--bin", n]),
                Selection::AllExamples => cmd.arg("--examples"),
                Selection::AllBins => cmd.arg("--bins"),
            };
        }
        if self.release {
            cmd.arg("--release");
        }
        for var in HOST_ONLY_ENV {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Run the build (cargo's diagnostics go to this process's stderr).
    ///
    /// # Errors
    ///
    /// [`BuildError::Spawn`] when cargo cannot be started, [`BuildError::Failed`] when
    /// the build fails (a compile error, or the `wasm32-wasip2` target not installed).
    pub fn build(&self) -> Result<GuestArtifacts, BuildError> {
        let status = self.command().status().map_err(BuildError::Spawn)?;
        if !status.success() {
            return Err(BuildError::Failed {
                manifest_path: self.manifest_path.clone(),
                status,
            });
        }
        let profile = if self.release { "release" } else { "debug" };
        Ok(GuestArtifacts {
            dir: self.target_directory().join(GUEST_TARGET).join(profile),
        })
    }
}

/// Where a [`GuestBuild`] put its `.wasm` components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestArtifacts {
    dir: PathBuf,
}

impl GuestArtifacts {
    /// The output directory (`<target dir>/wasm32-wasip2/<profile>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The component of example `name`.
    pub fn example(&self, name: &str) -> PathBuf {
        self.dir.join("examples").join(format!("{name}.wasm"))
    }

    /// The component of binary `name`.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wasm"))
    }
}

/// Why a [`GuestBuild`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// cargo could not be started.
    Spawn(io::Error),
    /// cargo ran and failed; its diagnostics were printed.
    Failed {
        /// The manifest built.
        manifest_path: PathBuf,
        /// cargo's exit status.
        status: ExitStatus,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Spawn(e) => write!(f, "cannot run cargo to build guests: {e}"),
            BuildError::Failed {
                manifest_path,
                status,
            } => write!(
                f,
                "building {} for {GUEST_TARGET} failed ({status}); if the target is missing, \
                 install it with `rustup target add {GUEST_TARGET}`",
                manifest_path.display()
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Spawn(e) => Some(e),
            BuildError::Failed { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(b: &GuestBuild) -> Vec<String> {
        b.command()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_command_builds_for_the_guest_target_in_its_own_directory() {
        let b = GuestBuild::new("/ws/guests/Cargo.toml")
            .package("g")
            .example("echo")
            .bin("probe")
            .release(true);
        let a = args(&b);
        let joined = a.join(" ");
        assert!(
            joined.starts_with(
                "build --quiet --target wasm32-wasip2 --manifest-path /ws/guests/Cargo.toml \
                 --target-dir /ws/guests/target/wasm-guests"
            ),
            "{joined}"
        );
        assert!(
            joined.ends_with("--package g --example echo --bin probe --release"),
            "{joined}"
        );
    }

    #[test]
    fn host_build_flags_are_removed() {
        let cmd = GuestBuild::new("Cargo.toml").command();
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        for var in HOST_ONLY_ENV {
            assert!(removed.iter().any(|r| r == var), "{var} is not removed");
        }
    }

    #[test]
    fn artifacts_are_where_cargo_puts_them() {
        let b = GuestBuild::new("/ws/Cargo.toml").target_dir("/t");
        assert_eq!(b.target_directory(), PathBuf::from("/t"));
        let a = GuestArtifacts {
            dir: PathBuf::from("/t/wasm32-wasip2/debug"),
        };
        assert_eq!(
            a.example("echo"),
            PathBuf::from("/t/wasm32-wasip2/debug/examples/echo.wasm")
        );
        assert_eq!(a.bin("x"), PathBuf::from("/t/wasm32-wasip2/debug/x.wasm"));
    }

    #[test]
    fn the_sdk_examples_build_names_this_package() {
        let a = args(&GuestBuild::sdk_examples()).join(" ");
        assert!(a.contains("--package guest-sdk --examples"), "{a}");
        assert!(a.contains("wasm-guests"), "{a}");
    }
}

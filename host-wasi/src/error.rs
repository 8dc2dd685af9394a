//! Why a guest could not be loaded or started. What happens to a guest once it runs is
//! not an error but a [`Report`](crate::Report) with its [`Outcome`](crate::Outcome).

use std::io;
use std::path::PathBuf;

/// A guest could not be loaded, compiled or started.
///
/// Every message says what was wrong with which file and, where there is one, what to
/// do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read (missing, unreadable).
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A file could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The bytes are a WebAssembly core module (for example a `wasm32-wasip1` or
    /// `wasm32-unknown-unknown` build), not a WASI 0.2 component.
    #[error(
        "{what} is a WebAssembly core module, not a WASI 0.2 component; build the guest for \
         wasm32-wasip2 (`rustup target add wasm32-wasip2`, then `cargo build --target \
         wasm32-wasip2`), or wrap a wasip1 module with `wasm-tools component new MODULE.wasm \
         --adapt wasi_snapshot_preview1.command.wasm -o GUEST.wasm` (wasip1 modules get no \
         sockets)"
    )]
    CoreModule {
        /// What was loaded (a quoted path, or "the guest bytes").
        what: String,
    },
    /// The bytes are neither WebAssembly nor a precompiled guest.
    #[error(
        "{what} is not a WebAssembly component (it does not start with `\\0asm`) nor a guest \
         precompiled by `tulip compile`"
    )]
    NotWasm {
        /// What was loaded.
        what: String,
    },
    /// Precompiled native code where a `.wasm` component was expected.
    #[error(
        "{what} is a precompiled guest (native code); load it with `Runtime::load_precompiled`"
    )]
    Precompiled {
        /// What was loaded.
        what: String,
    },
    /// A precompiled guest made by another wasmtime version or configuration.
    #[error(
        "{what} was precompiled for another wasmtime build ({reason}); run `tulip compile` on the .wasm again"
    )]
    Incompatible {
        /// What was loaded.
        what: String,
        /// wasmtime's explanation.
        reason: String,
    },
    /// The component did not validate or compile.
    #[error("cannot compile {what}: {reason}")]
    Compile {
        /// What was compiled.
        what: String,
        /// wasmtime's explanation.
        reason: String,
    },
    /// The component is not a `wasi:cli/command`, or imports something the host does not
    /// provide (only WASI 0.2 interfaces are provided).
    #[error("{what} cannot run as a WASI 0.2 command: {reason}")]
    NotCommand {
        /// What was loaded.
        what: String,
        /// wasmtime's explanation (the missing import or export).
        reason: String,
    },
    /// The wasmtime engine could not be configured.
    #[error("cannot set up wasmtime: {0}")]
    Engine(String),
    /// The guest's thread could not be started.
    #[error("cannot start a thread for guest `{name}`: {source}")]
    Spawn {
        /// The guest's name.
        name: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// wasmtime's error with its causes, on one line.
pub(crate) fn describe(error: &wasmtime::Error) -> String {
    format!("{error:#}")
}

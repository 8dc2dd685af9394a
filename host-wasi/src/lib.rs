//! The wasmtime + wasmtime-wasi embedder and the `tulip` command. Lands with the guest-sdk/host-wasi issue; this crate holds nothing until then.

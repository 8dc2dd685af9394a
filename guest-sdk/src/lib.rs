//! Tulip's loop backend inside a wasm32-wasip2 guest. Lands with the guest-sdk/host-wasi issue; this crate holds nothing until then.

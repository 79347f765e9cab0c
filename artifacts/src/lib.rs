//! The workspace's Wasm components, built for `wasm32-wasip2` by this crate's
//! build script (a nested cargo build into `target/wasm`) and embedded here, so
//! that the crates that run them — the `memtls` command, the tests — need no
//! separate Wasm build and `memtls-host` needs none at all.
//!
//! Not published: a published embedder gives `memtls-host` the guest provider
//! component itself (see `memtls_host::GuestComponent`).

#![warn(missing_docs)]

/// The guest provider (`memtls-guest`): exports `memtls:tls`, imports
/// `memtls:tls/policy` and WASI.
pub fn guest() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_GUEST"))
}

/// The parity suite's scenario component (`tests/scenarios`): exports
/// `memtls:test/runner`, imports `memtls:tls`.
pub fn scenarios() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_SCENARIOS"))
}

/// `https-get`: HTTP/1.1 GET over TLS (the demo's client).
pub fn https_get() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_HTTPS_GET"))
}

/// `tls-echo-server`: a TLS echo server (and SMTP STARTTLS server).
pub fn tls_echo_server() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_TLS_ECHO_SERVER"))
}

/// `starttls`: an SMTP STARTTLS client.
pub fn starttls() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_STARTTLS"))
}

/// The wasi:tls 0.2 client the benchmarks compare
/// (`memtls-wasi-tls-client HOST PORT SERVER_NAME REPEAT`).
pub fn wasi_tls_client() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_WASI_TLS_CLIENT"))
}

//! The test programs as Wasm components — the parity suite's scenario
//! component, the wasi:tls 0.2 and 0.3 clients — built for `wasm32-wasip2` by
//! this crate's build script (`memtls-wasm-build`) and embedded here. Only
//! tests and benchmarks depend on this crate: the `memtls` command never
//! builds them.

#![warn(missing_docs)]

/// The parity suite's scenario component (`tests/scenarios`): exports
/// `memtls:test/runner`, imports `memtls:tls`.
pub fn scenarios() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_SCENARIOS"))
}

/// The wasi:tls 0.2 client the benchmarks compare
/// (`memtls-wasi-tls-client HOST PORT SERVER_NAME REPEAT`).
pub fn wasi_tls_client() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_WASI_TLS_CLIENT"))
}

/// A wasi:tls 0.3 program (`memtls-wasi-tls-p3-client HOST PORT SERVER_NAME
/// REPEAT`): HTTPS GET over WASI 0.3 sockets and `wasi:tls/client`.
pub fn wasi_tls_p3_client() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_WASI_TLS_P3_CLIENT"))
}

//! The workspace's Wasm components, built for `wasm32-wasip2` by this crate's
//! build script (a nested cargo build into `target/wasm`) and embedded here, so
//! that the crates that run them — the `memtls` command, the tests — need no
//! separate Wasm build and `memtls-host` needs none at all.
//!
//! Not published: a published embedder gives `memtls-host` the guest provider
//! component itself (see `memtls_host::GuestComponent`).

#![warn(missing_docs)]

/// Declares `$name()`, the component the build script left in `$var`.
macro_rules! component {
    ($(#[$doc:meta])* $name:ident, $var:literal) => {
        $(#[$doc])*
        pub fn $name() -> &'static [u8] {
            include_bytes!(env!($var))
        }
    };
}

component!(
    /// The guest provider (`memtls-guest`): exports `memtls:tls`, imports
    /// `memtls:tls/policy` and WASI.
    guest,
    "MEMTLS_GUEST"
);
component!(
    /// The parity suite's scenario component (`tests/scenarios`): exports
    /// `memtls:test/runner`, imports `memtls:tls`.
    scenarios,
    "MEMTLS_SCENARIOS"
);
component!(
    /// `https-get`: HTTP/1.1 GET over TLS (the demo's client).
    https_get,
    "MEMTLS_HTTPS_GET"
);
component!(
    /// `tls-echo-server`: a TLS echo server (and SMTP STARTTLS server).
    tls_echo_server,
    "MEMTLS_TLS_ECHO_SERVER"
);
component!(
    /// `starttls`: an SMTP STARTTLS client.
    starttls,
    "MEMTLS_STARTTLS"
);
component!(
    /// The wasi:tls 0.2 client the benchmarks compare
    /// (`memtls-wasi-tls-client HOST PORT SERVER_NAME REPEAT`).
    wasi_tls_client,
    "MEMTLS_WASI_TLS_CLIENT"
);
component!(
    /// The wasi:tls adapter (`memtls-wasi-tls`): exports
    /// `wasi:tls/client@0.3.0-draft` and `wasi:tls/types@0.3.0-draft`, imports
    /// `memtls:tls`.
    wasi_tls_adapter,
    "MEMTLS_WASI_TLS_ADAPTER"
);
component!(
    /// A wasi:tls 0.3 program (`memtls-wasi-tls-p3-client HOST PORT SERVER_NAME
    /// REPEAT`): HTTPS GET over WASI 0.3 sockets and `wasi:tls/client`.
    wasi_tls_p3_client,
    "MEMTLS_WASI_TLS_P3_CLIENT"
);

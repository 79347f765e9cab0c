//! Builds the components the `memtls` command ships (the guest provider, the
//! wasi:tls adapter, the example programs); `src/lib.rs` embeds them. Test
//! programs are `memtls-test-artifacts`'s.

fn main() {
    memtls_wasm_build::embed(
        &[
            ("memtls-guest", "MEMTLS_GUEST"),
            ("memtls-wasi-tls", "MEMTLS_WASI_TLS_ADAPTER"),
        ],
        &[
            ("https-get", "MEMTLS_HTTPS_GET"),
            ("tls-echo-server", "MEMTLS_TLS_ECHO_SERVER"),
            ("https-server", "MEMTLS_HTTPS_SERVER"),
            ("starttls", "MEMTLS_STARTTLS"),
        ],
        &["guest", "stream", "examples", "wasi-tls"],
    );
}

//! Builds the test programs (the scenario component, the wasi:tls 0.2 and
//! 0.3 clients); `src/lib.rs` embeds them. Only tests and benchmarks depend
//! on this crate.

fn main() {
    memtls_wasm_build::embed(
        &[("memtls-scenarios", "MEMTLS_SCENARIOS")],
        &[
            ("memtls-wasi-tls-client", "MEMTLS_WASI_TLS_CLIENT"),
            ("memtls-wasi-tls-p3-client", "MEMTLS_WASI_TLS_P3_CLIENT"),
        ],
        &[
            "stream",
            "tests/scenarios",
            "tests/scenario-suite",
            "tests/wasi-tls-client",
            "tests/wasi-tls-p3-client",
        ],
    );
}

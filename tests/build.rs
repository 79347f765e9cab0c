//! Builds the scenario component the parity suite runs under both providers, and
//! the wasi:tls comparison client.

fn main() {
    let path = memtls_wasm_build::build_library_component(
        "memtls-scenarios",
        &[
            "tests/scenarios",
            "tests/scenario-suite",
            "engine",
            "stream",
            "wit",
            "Cargo.lock",
        ],
    );
    println!("cargo:rustc-env=MEMTLS_SCENARIOS_WASM={}", path.display());
    let paths = memtls_wasm_build::build_command_components(
        &["memtls-wasi-tls-client"],
        &["tests/wasi-tls-client", "examples/report", "Cargo.lock"],
    );
    println!(
        "cargo:rustc-env=MEMTLS_WASI_TLS_CLIENT_WASM={}",
        paths[0].display()
    );
}

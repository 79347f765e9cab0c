//! Builds the scenario component the parity suite runs under both providers.

fn main() {
    let path = memtls_wasm_build::build_library_component(
        "memtls-scenarios",
        &[
            "tests/scenarios",
            "examples/tls-stream",
            "wit",
            "Cargo.lock",
        ],
    );
    println!("cargo:rustc-env=MEMTLS_SCENARIOS_WASM={}", path.display());
}

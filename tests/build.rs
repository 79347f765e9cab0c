//! Builds the scenario component the parity suite runs under both providers.

fn main() {
    let path = memtls_wasm_build::build_component(
        "memtls-scenarios",
        &["tests/scenarios", "wit", "Cargo.lock"],
    );
    println!("cargo:rustc-env=MEMTLS_SCENARIOS_WASM={}", path.display());
}

//! Builds the guest provider component so the host library can embed it.

fn main() {
    if std::env::var_os("CARGO_FEATURE_GUEST_PROVIDER").is_none() {
        return;
    }
    let path = memtls_wasm_build::build_library_component(
        "memtls-guest",
        &["guest", "engine", "wit", "Cargo.lock"],
    );
    println!("cargo:rustc-env=MEMTLS_GUEST_WASM={}", path.display());
}

//! Builds the guest provider component so the host library can embed it.

fn main() {
    let path = memtls_wasm_build::build_library_component(
        "memtls-guest",
        &["guest", "engine", "wit", "Cargo.lock"],
    );
    println!("cargo:rustc-env=MEMTLS_GUEST_WASM={}", path.display());
}

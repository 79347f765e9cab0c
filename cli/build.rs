//! Builds the example components the command embeds (the demo runs `https-get`;
//! the interop tests run all of them).

fn main() {
    let paths = memtls_wasm_build::build_command_components(
        &["https-get", "tls-echo-server", "starttls"],
        &["examples", "stream", "wit", "Cargo.lock"],
    );
    for (name, path) in ["HTTPS_GET", "TLS_ECHO_SERVER", "STARTTLS"]
        .iter()
        .zip(paths)
    {
        println!("cargo:rustc-env=MEMTLS_EXAMPLE_{name}={}", path.display());
    }
}

//! Builds workspace packages as Wasm components for `wasm32-wasip2` from a
//! build script: the one way the crates that embed components (the shipped
//! ones in `memtls-artifacts`, the test programs in `memtls-test-artifacts`)
//! build them, so that `cargo build` / `cargo test` build the Wasm pieces
//! themselves and nobody runs a separate Wasm build by hand.
//!
//! The nested cargo uses its own target directory under the workspace's
//! `target/` (`target/wasm`): the outer build holds the lock on its own
//! profile directory, and sharing it would deadlock. Components are always
//! built with the release profile: they are what gets measured and shipped.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the components a build script embeds and tells cargo where they
/// are: each library package as a `cdylib` component, each command package's
/// binaries (`wasi:cli` programs) in one nested run, every one under the
/// environment variable paired with it (for `include_bytes!(env!(..))`).
/// `watched` lists the workspace paths they are built from (a change reruns
/// the script; the nested builds stay incremental).
pub fn embed(libraries: &[(&str, &str)], commands: &[(&str, &str)], watched: &[&str]) {
    let root = workspace_root();
    for path in watched.iter().chain(["wit", "engine", "Cargo.lock"].iter()) {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=CC_wasm32_wasip2");
    check_prerequisites();
    for (package, var) in libraries {
        let path = build_library_component(package);
        println!("cargo:rustc-env={var}={}", path.display());
    }
    if !commands.is_empty() {
        let packages: Vec<&str> = commands.iter().map(|(p, _)| *p).collect();
        for ((_, var), path) in commands.iter().zip(build_command_components(&packages)) {
            println!("cargo:rustc-env={var}={}", path.display());
        }
    }
}

/// The Wasm target every component is built for.
const TARGET: &str = "wasm32-wasip2";

/// Environment variables of the outer build that must not leak into the nested
/// one (they name the outer target, wrap rustc with clippy, or change flags).
const SCRUB: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_PROFILE_RELEASE_DEBUG",
    "DEBUG",
    "OPT_LEVEL",
    "PROFILE",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "NUM_JOBS",
];

/// The workspace root, found from the calling crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let mut dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    loop {
        let manifest = dir.join("Cargo.toml");
        if std::fs::read_to_string(&manifest).is_ok_and(|s| s.contains("[workspace]")) {
            return dir;
        }
        assert!(
            dir.pop(),
            "no workspace Cargo.toml above CARGO_MANIFEST_DIR"
        );
    }
}

/// Builds the library of workspace package `package` as a `cdylib` for
/// `wasm32-wasip2` and returns the path of the component.
///
/// The package declares its library as an `rlib` (so native workspace builds and
/// tests link); the `cdylib` is requested here, for Wasm only.
pub fn build_library_component(package: &str) -> PathBuf {
    let out = nested_cargo(&[
        "rustc",
        "--lib",
        "--crate-type",
        "cdylib",
        "--package",
        package,
    ]);
    find(&out, &format!("{}.wasm", package.replace('-', "_")))
}

/// Builds the binaries of several workspace packages (`wasi:cli` command
/// components) in one nested cargo run; returns their components in order.
pub fn build_command_components(packages: &[&str]) -> Vec<PathBuf> {
    let mut args = vec!["build", "--bins"];
    for package in packages {
        args.extend(["--package", package]);
    }
    let out = nested_cargo(&args);
    packages
        .iter()
        .map(|p| find(&out, &format!("{p}.wasm")))
        .collect()
}

fn find(dir: &Path, file: &str) -> PathBuf {
    let path = dir.join(file);
    assert!(path.exists(), "{} was not produced", path.display());
    path
}

/// Runs cargo with `args` for the Wasm target in `target/wasm`; returns the
/// output directory.
fn nested_cargo(args: &[&str]) -> PathBuf {
    let root = workspace_root();
    let target_dir = root.join("target").join("wasm");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(args)
        .args(["--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    for var in SCRUB {
        cmd.env_remove(var);
    }
    // Wasm SIMD (every current engine has it) for Rust and for ring's C code, and
    // whole-program optimization: ChaCha20 and the curve arithmetic inside the
    // guest are several times faster.
    cmd.env(
        "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
        "-C target-feature=+simd128",
    )
    .env("CFLAGS_wasm32_wasip2", "-msimd128")
    .env("CARGO_PROFILE_RELEASE_LTO", "fat")
    .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
    for (key, _) in env::vars() {
        if key.starts_with("CARGO_FEATURE_") || key.starts_with("CARGO_CFG_") {
            cmd.env_remove(key);
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo {args:?}: {e}"));
    assert!(
        status.success(),
        "cargo {args:?} for {TARGET} failed (see the output above)"
    );
    target_dir.join(TARGET).join("release")
}

/// Fails the build with an actionable message when the target or clang is
/// missing.
pub fn check_prerequisites() {
    let sysroot = Command::new(env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(sysroot) = sysroot {
        let lib = sysroot.join("lib/rustlib").join(TARGET);
        assert!(
            lib.exists(),
            "the Rust target {TARGET} is not installed: run `rustup target add {TARGET}` \
             (or `cargo xtask setup`)"
        );
    }
    let cc = env::var("CC_wasm32_wasip2").unwrap_or_else(|_| "clang".into());
    assert!(
        which(&cc),
        "`{cc}` was not found: ring needs clang to compile for {TARGET}. Install it \
         (Debian: `apt-get install clang`, or run `cargo xtask setup`) or set CC_wasm32_wasip2"
    );
}

fn which(program: &str) -> bool {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return p.exists();
    }
    env::var_os("PATH")
        .is_some_and(|paths| env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

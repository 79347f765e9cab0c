//! Python in Wasm, measured in one run: component size, start-up (cold, i.e. compiled
//! from scratch, and with wasmtime's compilation cache), and urllib HTTPS GET latency
//! inside Wasm on each provider next to native CPython with OpenSSL — the same
//! script (`python/bench/https_get.py`) against the same loopback server.
//!
//! ```text
//! cargo run -p memtls-tests --bin bench-python [-- --gets N]
//! ```
//!
//! A benchmark, not a test: it prints figures and asserts nothing about them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use memtls_cli::demo::{DemoCerts, start_https_server};
use memtls_cli::python::{PythonBuild, build};
use memtls_cli::{RunOptions, load, run};
use memtls_host::{Policy, Provider};
use memtls_tests::bench::{key_values, machine};
use wasmtime::{Result, bail, format_err};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

const CACHED_RUNS: usize = 5;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    let gets: usize = match args.iter().position(|a| a == "--gets") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format_err!("--gets needs a number"))?,
        None => 50,
    };
    let work = TempDir::new()?;
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/bench");
    let mut components = Vec::new();
    for script in ["hello", "https_get"] {
        let output = work.0.join(format!("{script}.wasm"));
        eprintln!("bench: building {script}.py with memtls python build");
        build(&PythonBuild {
            script: scripts.join(format!("{script}.py")),
            output: output.clone(),
            python_path: Vec::new(),
            requirements: None,
        })?;
        components.push(output);
    }
    let (hello, get) = (&components[0], &components[1]);
    let app_size = std::fs::metadata(get)?.len();
    let composed = memtls_host::compose_with_guest(&std::fs::read(get)?, &Policy::default())?.len();

    println!("memtls Python bench: {}", machine());
    println!(
        "component size: {:.1} MB (https_get.py); composed with the guest provider: {:.1} MB\n",
        app_size as f64 / 1e6,
        composed as f64 / 1e6
    );

    // Start-up: whole processes, wall clock, so every column pays the same way.
    let python_start = median_ms(CACHED_RUNS, || {
        process(Command::new("python3").arg(scripts.join("hello.py")))
    })?;
    println!(
        "{:<28}{:>18}{:>18}{:>18}",
        "start (hello.py, process)", "python3 native", "wasm --tls native", "wasm --tls guest"
    );
    let mut cold = Vec::new();
    let mut cached = Vec::new();
    for provider in Provider::ALL {
        let cache = work.0.join(format!("cache-{provider}"));
        let me = std::env::current_exe()?;
        let start = |cache: &Path| {
            process(
                Command::new(&me)
                    .args(["--child", &provider.to_string()])
                    .arg(hello)
                    .env("XDG_CACHE_HOME", cache),
            )
        };
        cold.push(start(&cache)?);
        cached.push(median_ms(CACHED_RUNS, || start(&cache))?);
    }
    println!(
        "{:<28}{:>18}{:>18}{:>18}",
        "  cold (compiles)",
        "-",
        format!("{:.0} ms", cold[0]),
        format!("{:.0} ms", cold[1])
    );
    println!(
        "{:<28}{:>18}{:>18}{:>18}",
        format!("  cached (median of {CACHED_RUNS})"),
        format!("{python_start:.0} ms"),
        ratio(cached[0], python_start),
        ratio(cached[1], python_start)
    );

    // urllib GET latency against one loopback server (native rustls).
    let certs = DemoCerts::generate()?;
    std::fs::write(work.0.join("ca.pem"), &certs.ca_pem)?;
    let port = start_https_server(&certs, 1024)?;
    let url = format!("https://localhost:{port}/");
    let native = Command::new("python3")
        .arg(scripts.join("https_get.py"))
        .arg(&url)
        .arg(work.0.join("ca.pem"))
        .arg(gets.to_string())
        .output()?;
    if !native.status.success() {
        bail!(
            "python3 https_get.py: {}",
            String::from_utf8_lossy(&native.stderr)
        );
    }
    let native = fields(&String::from_utf8_lossy(&native.stdout))?;
    let mut wasm = Vec::new();
    let bytes = std::fs::read(get)?;
    for provider in Provider::ALL {
        let loaded = load(&bytes, provider, &Policy::default(), "https_get")?;
        let out = MemoryOutputPipe::new(1 << 16);
        let code = run(
            &loaded,
            &RunOptions {
                args: vec![
                    "https_get".into(),
                    url.clone(),
                    "/b/ca.pem".into(),
                    gets.to_string(),
                ],
                dirs: vec![(work.0.clone(), "/b".into())],
                inherit_network: true,
                allow_ip_name_lookup: true,
                capture_stdout: Some(out.clone()),
                ..RunOptions::default()
            },
        )?;
        if code != 0 {
            bail!("https_get.py in Wasm (--tls {provider}) exited with {code}");
        }
        wasm.push(fields(&String::from_utf8_lossy(&out.contents()))?);
    }
    println!(
        "\n{:<28}{:>18}{:>18}{:>18}",
        format!("urllib GET, 1 KiB ({gets}x)"),
        "CPython+OpenSSL",
        "wasm --tls native",
        "wasm --tls guest"
    );
    for (key, label) in [
        ("first_ms", "  first (full handshake)"),
        ("median_ms", "  median of the rest"),
        ("min_ms", "  fastest"),
    ] {
        let base = native[key];
        println!(
            "{label:<28}{:>18}{:>18}{:>18}",
            format!("{base:.2} ms"),
            ratio(wasm[0][key], base),
            ratio(wasm[1][key], base)
        );
    }
    println!(
        "\nratios are to native CPython (lower is better); reproduce with \
         `cargo run -p memtls-tests --bin bench-python`"
    );
    Ok(())
}

/// The child process: load and run one component (the cache comes from
/// `XDG_CACHE_HOME`, set by the parent).
fn child(args: &[String]) -> Result<()> {
    let [provider, component] = args else {
        bail!("--child PROVIDER COMPONENT");
    };
    let provider: Provider = provider.parse().map_err(|e: String| format_err!(e))?;
    let bytes = std::fs::read(component)?;
    let loaded = load(&bytes, provider, &Policy::default(), "hello")?;
    let code = run(
        &loaded,
        &RunOptions {
            args: vec!["hello".into()],
            ..RunOptions::default()
        },
    )?;
    if code != 0 {
        bail!("hello exited with {code}");
    }
    Ok(())
}

/// Runs a process to completion; its wall-clock time in milliseconds.
fn process(cmd: &mut Command) -> Result<f64> {
    let start = Instant::now();
    let out = cmd.output()?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(ms)
}

fn median_ms(runs: usize, mut f: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut v = (0..runs).map(|_| f()).collect::<Result<Vec<_>>>()?;
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

fn ratio(value: f64, base: f64) -> String {
    format!("{value:.2} ms ({:.1}x)", value / base)
}

/// The `key=value` figures of the `memtls-bench` line.
fn fields(stdout: &str) -> Result<std::collections::HashMap<String, f64>> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("memtls-bench "))
        .ok_or_else(|| format_err!("no memtls-bench line in: {stdout}"))?;
    Ok(key_values(line))
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("memtls-bench-python-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

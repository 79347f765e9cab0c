//! Python in Wasm, measured in one run: component size, start-up (cold, i.e. compiled
//! from scratch, and cached: memtls's cache of compiled components, and for the
//! guest without it, from wasmtime's compilation cache; and a new policy on the
//! guest provider, a new composition compiled from the functions kept for the
//! last one, for hello.py and for the largest program), HTTPS GET latency with
//! urllib and with requests inside Wasm on each provider next to native CPython
//! with OpenSSL — the same scripts (`python/bench/https_get.py`,
//! `python/bench/requests_get.py`) against the same loopback server — and the peak
//! resident memory of sending 1.5 GiB through `ssl` (`python/tests/ssl_sender.py`).
//!
//! ```text
//! cargo run -p memtls-bench --bin bench-python [-- --gets N] [--send-mib N] [--only-start]
//! ```
//!
//! A benchmark, not a test: it prints figures and asserts nothing about them.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use memtls_bench::machine;
use memtls_cli::python::{PythonBuild, build};
use memtls_host::{Policy, Provider};
use memtls_loopback::{Certs, start_https_server};
use memtls_test_harness::peers::{Files, peak_while_sending, python_tls_sink};
use memtls_test_harness::resident_memory;
use memtls_test_harness::{RunOptions, load, run};
use wasmtime::{Result, bail, format_err};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

const CACHED_RUNS: usize = 5;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    let number = |flag: &str, default: usize| -> Result<usize> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args
                .get(i + 1)
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format_err!("{flag} needs a number")),
            None => Ok(default),
        }
    };
    let gets = number("--gets", 50)?;
    let send_mib = number("--send-mib", 1536)?;
    // Only the start-up rows (one small component to build).
    let only_start = args.iter().any(|a| a == "--only-start");
    let work = Files::scratch("bench-python");
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python");
    let scripts = python.join("bench");
    let mut components = Vec::new();
    let all = [
        (scripts.join("hello.py"), None),
        (scripts.join("https_get.py"), None),
        (
            scripts.join("requests_get.py"),
            Some(scripts.join("requirements.txt")),
        ),
        (python.join("tests/ssl_sender.py"), None),
    ];
    // The start-up rows need hello.py and the largest program (requests).
    for (i, (script, requirements)) in all.into_iter().enumerate() {
        if only_start && !matches!(i, 0 | 2) {
            components.push(std::path::PathBuf::new());
            continue;
        }
        let name = script.file_stem().unwrap().to_string_lossy().into_owned();
        let output = work.dir.join(format!("{name}.wasm"));
        eprintln!("bench: building {name}.py with memtls python build");
        build(&PythonBuild {
            script,
            output: output.clone(),
            python_path: Vec::new(),
            requirements,
            allow_unbundled: Vec::new(),
        })?;
        components.push(output);
    }
    println!("memtls Python bench: {}", machine());
    let hello = &components[0];
    let app_size = std::fs::metadata(hello)?.len();
    let composed = memtls_host::compose_with_guest(
        &std::fs::read(hello)?,
        memtls_artifacts::guest_component(),
        &Policy::default(),
    )?
    .len();
    println!(
        "component size: {:.1} MB (hello.py); composed with the guest provider: {:.1} MB\n",
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
    let me = std::env::current_exe()?;
    let start = |provider: Provider, cache: &Path, component_cache: &str| {
        process(
            Command::new(&me)
                .args(["--child", &provider.to_string()])
                .arg(hello)
                .env("XDG_CACHE_HOME", cache)
                .env("MEMTLS_COMPONENT_CACHE", component_cache),
        )
    };
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let cache = work.dir.join(format!("cache-{provider}"));
        cold.push(start(provider, &cache, "on")?);
        cached.push(median_ms(CACHED_RUNS, || start(provider, &cache, "on"))?);
    }
    // The guest without memtls's cache of compiled components: composed on
    // every start, then found in wasmtime's compilation cache.
    let uncached = median_ms(CACHED_RUNS, || {
        start(Provider::Guest, &work.dir.join("cache-guest"), "off")
    })?;
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
    println!(
        "{:<28}{:>18}{:>18}{:>18}",
        "  without memtls's cache",
        "-",
        "-",
        ratio(uncached, python_start)
    );
    println!(
        "{:<28}{:>18}{:>18}{:>18}",
        "  guest / native, cached",
        "",
        "",
        format!("{:.2}x", cached[1] / cached[0])
    );
    // A new policy is a new composition: compiled, but from the functions
    // the cold start kept (the cache of compiled functions).
    let variants = new_policy_ms(&me, hello, &work.dir.join("cache-guest"), &work.dir)?;
    println!(
        "{:<28}{:>18}{:>18}{:>18}",
        format!("  new policy (median of {CACHED_RUNS})"),
        "-",
        "-",
        format!("{variants:.0} ms ({:.2}x)", variants / cold[1])
    );
    println!("  (a new policy: ratio to the guest's cold start)");

    let [_, get, requests_get, sender] = &components[..] else {
        unreachable!("four components")
    };
    // The same for the largest program (requests bundled): cold, then new
    // policies with the functions kept.
    let size = std::fs::metadata(requests_get)?.len() as f64 / 1e6;
    let cache = work.dir.join("cache-requests");
    let cold = process(
        Command::new(&me)
            .args(["--child", "guest"])
            .arg(requests_get)
            .env("XDG_CACHE_HOME", &cache),
    )?;
    let variants = new_policy_ms(&me, requests_get, &cache, &work.dir)?;
    println!(
        "\n{:<28}{:>18}{:>28}",
        format!("start, {size:.1} MB program"),
        "cold (compiles)",
        format!("new policy (median of {CACHED_RUNS})")
    );
    println!(
        "{:<28}{:>18}{:>28}",
        "  wasm --tls guest",
        format!("{cold:.0} ms"),
        format!("{variants:.0} ms ({:.2}x)", variants / cold)
    );

    if only_start {
        return Ok(());
    }

    // GET latency against one loopback server (rustls directly).
    let certs = Certs::generate()?;
    std::fs::write(work.dir.join("ca.pem"), &certs.ca_pem)?;
    let port = start_https_server(&certs, 1024)?;
    let url = format!("https://localhost:{port}/");
    for (label, script, component) in [
        ("urllib GET", "https_get", get),
        ("requests.get", "requests_get", requests_get),
    ] {
        latency(
            label,
            &scripts.join(format!("{script}.py")),
            component,
            &url,
            &work.dir,
            gets,
        )?;
    }

    // Memory: the process's peak while a Python client sends through `ssl`.
    let files = Files::new("bench-python");
    let (_sink, sink_port) = python_tls_sink(&files);
    let bytes = std::fs::read(sender)?;
    let before = resident_memory();
    let peaks: Vec<usize> = memtls_test_harness::RUSTLS_PROVIDERS
        .iter()
        .map(|p| peak_while_sending(&bytes, *p, &files, sink_port, send_mib as u32))
        .collect();
    println!(
        "\n{:<28}{:>18}{:>18}{:>18}",
        format!("send {send_mib} MiB via ssl"),
        "",
        "wasm --tls native",
        "wasm --tls guest"
    );
    println!(
        "{:<28}{:>18}{:>18}{:>18}",
        "  peak resident memory",
        format!("(before: {} MiB)", before >> 20),
        format!("{} MiB", peaks[0] >> 20),
        format!("{} MiB", peaks[1] >> 20)
    );
    println!(
        "\nratios are to native CPython (lower is better); reproduce with \
         `cargo run -p memtls-bench --bin bench-python`"
    );
    Ok(())
}

/// One latency table: `script` run natively with python3 and `component` (the
/// same script built for Wasm) on each provider, `gets` GETs of `url` each.
fn latency(
    label: &str,
    script: &Path,
    component: &Path,
    url: &str,
    work: &Path,
    gets: usize,
) -> Result<()> {
    let native = Command::new("python3")
        .arg(script)
        .arg(url)
        .arg(work.join("ca.pem"))
        .arg(gets.to_string())
        .output()?;
    if !native.status.success() {
        bail!(
            "python3 {}: {} (cargo xtask setup installs what it needs)",
            script.display(),
            String::from_utf8_lossy(&native.stderr)
        );
    }
    let native = fields(&String::from_utf8_lossy(&native.stdout))?;
    let mut wasm = Vec::new();
    let bytes = std::fs::read(component)?;
    let name = script.file_stem().unwrap_or_default().to_string_lossy();
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let loaded = load(&bytes, provider, &Policy::default(), &name)?;
        let out = MemoryOutputPipe::new(1 << 16);
        let code = run(
            &loaded,
            &RunOptions {
                args: vec![
                    name.to_string(),
                    url.into(),
                    "/b/ca.pem".into(),
                    gets.to_string(),
                ],
                dirs: vec![(work.to_path_buf(), "/b".into())],
                inherit_network: true,
                allow_ip_name_lookup: true,
                capture_stdout: Some(out.clone()),
                capture_stderr: Some(out.clone()),
                ..RunOptions::default()
            },
        )?;
        if code != 0 {
            bail!(
                "{name}.py in Wasm (--tls {provider}) exited with {code}: {}",
                String::from_utf8_lossy(&out.contents())
            );
        }
        wasm.push(fields(&String::from_utf8_lossy(&out.contents()))?);
    }
    println!(
        "\n{:<28}{:>18}{:>18}{:>18}",
        format!("{label}, 1 KiB ({gets}x)"),
        "CPython+OpenSSL",
        "wasm --tls native",
        "wasm --tls guest"
    );
    for (key, row) in [
        ("first_ms", "  first (full handshake)"),
        ("median_ms", "  median of the rest"),
        ("min_ms", "  fastest"),
    ] {
        let base = native[key];
        println!(
            "{row:<28}{:>18}{:>18}{:>18}",
            format!("{base:.2} ms"),
            ratio(wasm[0][key], base),
            ratio(wasm[1][key], base)
        );
    }
    Ok(())
}

/// The child process: load and run one component (the cache comes from
/// `XDG_CACHE_HOME`, set by the parent), under the default policy or, with
/// an anchor file, one whose system trust adds it (a new policy).
fn child(args: &[String]) -> Result<()> {
    let (provider, component, anchor) = match args {
        [provider, component] => (provider, component, None),
        [provider, component, anchor] => (provider, component, Some(anchor)),
        _ => bail!("--child PROVIDER COMPONENT [ANCHOR.pem]"),
    };
    let provider: Provider = provider.parse().map_err(|e: String| format_err!(e))?;
    let bytes = std::fs::read(component)?;
    let policy = Policy {
        extra_system_anchors: anchor.map(std::fs::read).transpose()?.into_iter().collect(),
        ..Policy::default()
    };
    let loaded = load(&bytes, provider, &policy, "hello")?;
    // Started: the program's own work (a GET's script without its URL
    // fails at once) is not what is measured.
    let _ = run(
        &loaded,
        &RunOptions {
            args: vec!["hello".into()],
            ..RunOptions::default()
        },
    )?;
    Ok(())
}

/// The median start, in a child, of `component` on the guest provider under
/// [`CACHED_RUNS`] policies never used before (each adds a new CA to system
/// trust), with the caches in `cache`.
fn new_policy_ms(me: &Path, component: &Path, cache: &Path, work: &Path) -> Result<f64> {
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    median_ms(CACHED_RUNS, || {
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let anchor = work.join(format!("anchor-{n}.pem"));
        std::fs::write(&anchor, Certs::generate()?.ca_pem)?;
        process(
            Command::new(me)
                .args(["--child", "guest"])
                .arg(component)
                .arg(&anchor)
                .env("XDG_CACHE_HOME", cache),
        )
    })
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

/// The figures of the `memtls-bench` report.
fn fields(stdout: &str) -> Result<std::collections::HashMap<String, f64>> {
    let report = memtls_report::first(memtls_report::Tag::Bench, stdout)
        .ok_or_else(|| format_err!("no memtls-bench report in: {stdout}"))?;
    Ok(report
        .0
        .keys()
        .filter_map(|k| Some((k.clone(), report.number(k)?)))
        .collect())
}

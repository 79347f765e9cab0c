//! `memtls demo`: a loopback HTTPS server with a freshly generated CA, and the
//! `https-get` example run against it once per provider, side by side. Offline.

use std::path::{Path, PathBuf};
use std::time::Instant;

use memtls_host::{Policy, Provider};
use memtls_loopback::{Certs, start_https_server};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::{RunOptions, examples, load, run};

/// Bytes of the body the demo server sends (for the transfer rate).
const BODY_LEN: usize = 8 << 20;

/// One provider's results.
struct Column {
    provider: Provider,
    fields: Vec<(String, String)>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> std::io::Result<TempDir> {
    let dir = std::env::temp_dir().join(format!("memtls-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(TempDir(dir))
}

fn write_file(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    std::fs::write(dir.join(name), text)
}

/// Runs the demo and prints the side-by-side summary.
pub fn demo() -> wasmtime::Result<()> {
    println!("memtls demo: the https-get example component fetches a page from a loopback HTTPS");
    println!("server (rustls, CA and certificate generated just now), once per provider.\n");
    let certs = Certs::generate()?;
    let port = start_https_server(&certs, BODY_LEN)?;
    let dir = temp_dir()?;
    write_file(&dir.0, "ca.pem", &certs.ca_pem)?;
    let url = format!("https://localhost:{port}/");
    let mut columns = Vec::new();
    // The openssl provider when this memtls was built with it (feature openssl).
    let providers = Provider::ALL
        .into_iter()
        .filter(|p| *p != Provider::OpenSsl || cfg!(feature = "openssl"));
    for provider in providers {
        let start = Instant::now();
        let loaded = load(
            examples::https_get(),
            provider,
            &Policy::default(),
            "https-get",
        )?;
        let load_ms = start.elapsed().as_secs_f64() * 1e3;
        let pipe = MemoryOutputPipe::new(1 << 20);
        let opts = RunOptions {
            args: vec![
                "https-get".into(),
                "--ca-file".into(),
                "/demo/ca.pem".into(),
                url.clone(),
            ],
            dirs: vec![(dir.0.clone(), "/demo".into())],
            inherit_network: true,
            allow_ip_name_lookup: true,
            capture_stdout: Some(pipe.clone()),
            ..RunOptions::default()
        };
        let start = Instant::now();
        let code = run(&loaded, &opts)?;
        let run_ms = start.elapsed().as_secs_f64() * 1e3;
        let out = String::from_utf8_lossy(&pipe.contents()).into_owned();
        let report = memtls_report::first(memtls_report::Tag::Result, &out).ok_or_else(|| {
            wasmtime::format_err!("https-get ({provider}) exited with {code} and printed:\n{out}")
        })?;
        let get = |k: &str| report.text(k).unwrap_or_else(|| "?".to_string());
        let bytes: f64 = get("body_bytes").parse().unwrap_or(0.0);
        let transfer_ms: f64 = get("transfer_ms").parse().unwrap_or(f64::NAN);
        columns.push(Column {
            provider,
            fields: vec![
                ("HTTP status".into(), get("status")),
                ("TLS version".into(), get("version")),
                ("cipher suite".into(), get("cipher")),
                ("key exchange".into(), get("group")),
                ("ALPN".into(), get("alpn")),
                ("handshake".into(), format!("{} ms", get("handshake_ms"))),
                (
                    "transfer".into(),
                    format!(
                        "{:.0} MB/s ({:.1} MiB)",
                        bytes / transfer_ms / 1e3,
                        bytes / 1048576.0
                    ),
                ),
                ("end of stream".into(), format!("{} close", get("eof"))),
                ("load (compile/cache)".into(), format!("{load_ms:.0} ms")),
                ("whole run".into(), format!("{run_ms:.0} ms")),
            ],
        });
    }
    let width = columns
        .iter()
        .flat_map(|c| c.fields.iter().map(|(_, v)| v.len()))
        .max()
        .unwrap_or(10)
        + 3;
    print!("{:<22}", "");
    for c in &columns {
        print!("{:<width$}", format!("--tls {}", c.provider));
    }
    println!();
    for i in 0..columns[0].fields.len() {
        print!("{:<22}", columns[0].fields[i].0);
        for c in &columns {
            print!("{:<width$}", c.fields[i].1);
        }
        println!();
    }
    println!("\nnative: rustls in the host, platform trust, AES-GCM preferred.");
    println!(
        "guest:  rustls inside Wasm (composed into the app), Mozilla roots, ChaCha20 preferred."
    );
    if cfg!(feature = "openssl") {
        println!("openssl: the system's OpenSSL in the host, its trust store, its suite order.");
    }
    println!("All served the same component through the same memtls:tls interface.");
    Ok(())
}

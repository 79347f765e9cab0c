//! `memtls demo`: a loopback HTTPS server with a freshly generated CA, and the
//! `https-get` example run against it once per provider, side by side. Offline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use memtls_host::{Policy, Provider};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::{RunOptions, examples, load, run};

/// Bytes of the body the demo server sends (for the transfer rate).
const BODY_LEN: usize = 8 << 20;

/// A CA and a server certificate for `localhost`, generated now.
pub struct DemoCerts {
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The server chain (PEM).
    pub chain_pem: String,
    /// The server key (PKCS#8 PEM).
    pub key_pem: String,
}

impl DemoCerts {
    /// Generates the certificates.
    pub fn generate() -> wasmtime::Result<Self> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "memtls demo CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let leaf = leaf.signed_by(&key, &ca)?;
        Ok(Self {
            ca_pem: ca.pem(),
            chain_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Starts a loopback HTTPS server (native rustls) that answers every request with
/// `body_len` bytes, on a background thread, after reading and discarding the
/// request's body (its `Content-Length`). Returns its port.
pub fn start_https_server(certs: &DemoCerts, body_len: usize) -> wasmtime::Result<u16> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(certs.chain_pem.as_bytes()).collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(certs.key_pem.as_bytes())?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let body: Arc<Vec<u8>> = Arc::new((0..body_len).map(|i| b'a' + (i % 26) as u8).collect());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (config, body) = (config.clone(), body.clone());
            std::thread::spawn(move || {
                if let Err(e) = serve(stream, config, &body) {
                    eprintln!("demo server: {e}");
                }
            });
        }
    });
    Ok(port)
}

fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, body: &[u8]) -> std::io::Result<()> {
    // Headers and body go out as separate records: without this, Nagle's algorithm
    // and the client's delayed ACK add ~40 ms to every request.
    stream.set_nodelay(true)?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut reader = BufReader::new(&mut tls);
    let mut content_length = 0u64;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().map_err(std::io::Error::other)?;
        }
    }
    std::io::copy(
        &mut (&mut reader).take(content_length),
        &mut std::io::sink(),
    )?;
    drop(reader);
    write!(
        tls,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    tls.write_all(body)?;
    tls.conn.send_close_notify();
    tls.flush()?;
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest);
    Ok(())
}

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
    println!("server (native rustls, CA and certificate generated just now), once per provider.\n");
    let certs = DemoCerts::generate()?;
    let port = start_https_server(&certs, BODY_LEN)?;
    let dir = temp_dir()?;
    write_file(&dir.0, "ca.pem", &certs.ca_pem)?;
    let url = format!("https://localhost:{port}/");
    let mut columns = Vec::new();
    // The openssl provider when this memtls was built with it (feature openssl).
    let providers = Provider::EVERY
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

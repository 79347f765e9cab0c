//! `load`: the load benchmark (see `memtls_bench::load` and docs/performance.md).
//!
//! ```text
//! load [--quick] [--only native,guest,openssl,embedder,reference,reference-nodelay]
//!      [--concurrency 1,100,1000] [--soak SECONDS] [--soak-server NAME]
//!      [--slowloris N] [--svg FILE]
//! load serve NAME DIR PORT [SERVER OPTIONS]   (what each server's process runs)
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use memtls_bench::load::{LoadOptions, SMALL_BODY, Server, Soak, run_load};
use memtls_host::{Policy, Provider};
use memtls_test_harness::{RunOptions, load, run};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmtime::{Result, bail, format_err};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("serve") {
        serve(&args[1..])
    } else {
        bench(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn list<T>(value: &str, parse: impl Fn(&str) -> Result<T>) -> Result<Vec<T>> {
    value.split(',').map(|s| parse(s.trim())).collect()
}

fn bench(args: &[String]) -> Result<()> {
    let mut opts = LoadOptions {
        quick: false,
        exe: std::env::current_exe()?,
        servers: Server::ALL.to_vec(),
        concurrency: vec![1, 100, 1000],
        soak: None,
    };
    let (mut soak_seconds, mut soak_server, mut slowloris) = (None, Server::Guest, 300);
    let mut svg = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format_err!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--only" => opts.servers = list(&value()?, Server::parse)?,
            "--concurrency" => {
                opts.concurrency = list(&value()?, |s| {
                    s.parse()
                        .map_err(|_| format_err!("--concurrency takes numbers like 1,100,1000"))
                })?
            }
            "--soak" => soak_seconds = Some(value()?.parse()?),
            "--soak-server" => soak_server = Server::parse(&value()?)?,
            "--slowloris" => slowloris = value()?.parse()?,
            "--svg" => svg = Some(PathBuf::from(value()?)),
            other => bail!("unknown argument {other}"),
        }
    }
    opts.soak = soak_seconds.map(|seconds| Soak {
        server: soak_server,
        seconds,
        clients: 100,
        slowloris,
    });
    let results = run_load(&opts)?;
    println!("{}", memtls_bench::machine());
    print!("{}", results.table());
    if let Some(soak) = &results.soak {
        for line in &soak.lines {
            println!("{line}");
        }
    }
    if let Some(path) = svg {
        std::fs::write(
            &path,
            results
                .svg("memtls under load: throughput relative to tokio-rustls (higher is better)"),
        )?;
        eprintln!("load: wrote {}", path.display());
    }
    Ok(())
}

/// `serve NAME DIR PORT [OPTIONS]`: one server, until stdin ends.
fn serve(args: &[String]) -> Result<()> {
    let [name, dir, port, options @ ..] = args else {
        bail!("usage: load serve NAME DIR PORT [SERVER OPTIONS]");
    };
    let server = Server::parse(name)?;
    let dir = Path::new(dir);
    let port: u16 = port.parse()?;
    let provider = match server {
        Server::Native => Provider::Native,
        Server::Guest => Provider::Guest,
        Server::OpenSsl => Provider::OpenSsl,
        Server::Embedder => return serve_embedded(dir, port, options),
        Server::Reference => return serve_reference(dir, port, options, false),
        Server::ReferenceNoDelay => return serve_reference(dir, port, options, true),
    };
    memtls_artifacts::install();
    let loaded = load(
        memtls_artifacts::https_server(),
        provider,
        &Policy::default(),
        "https-server",
    )?;
    let mut program = vec![
        "https-server".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--cert".into(),
        "/f/server.chain".into(),
        "--key".into(),
        "/f/server.key".into(),
        "--stop-on-stdin-eof".into(),
    ];
    program.extend(options.iter().cloned());
    let code = run(
        &loaded,
        &RunOptions {
            args: program,
            dirs: vec![(dir.to_path_buf(), "/f".into())],
            inherit_network: true,
            ..RunOptions::default()
        },
    )?;
    if code != 0 {
        bail!("https-server exited with {code}");
    }
    Ok(())
}

/// The async embedder serving `https-server` as its one tenant (native provider).
fn serve_embedded(dir: &Path, port: u16, options: &[String]) -> Result<()> {
    use memtls_async_embedder::{Program, Tenants};
    let tenants = Tenants {
        program: Program::HttpsServer,
        ports: vec![port],
        provider: Provider::Native,
        dir: dir.to_path_buf(),
        chain: "server.chain".into(),
        key: "server.key".into(),
        connections: None,
        args: options.to_vec(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let finished = runtime.block_on(memtls_async_embedder::serve(&tenants))?;
    for f in &finished {
        for line in f.output.lines() {
            println!("tenant {}: {line}", f.tenant);
        }
        if !f.ok {
            bail!("tenant {} failed", f.tenant);
        }
    }
    Ok(())
}

/// The reference: tokio-rustls on one thread (as `https-server` is), the
/// same routes and the same timeouts; TCP_NODELAY set on its connections only
/// when `nodelay`. Stops when stdin ends, printing its counters as
/// `https-server` does.
fn serve_reference(dir: &Path, port: u16, options: &[String], nodelay: bool) -> Result<()> {
    let (mut bulk, mut handshake_timeout, mut idle_timeout) = (1usize << 20, 10.0f64, 30.0f64);
    let mut it = options.iter();
    while let Some(name) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format_err!("{name} needs a value"))?;
        match name.as_str() {
            "--bulk-bytes" => bulk = value.parse()?,
            "--handshake-timeout" => handshake_timeout = value.parse()?,
            "--idle-timeout" => idle_timeout = value.parse()?,
            "--max-open" => {}
            other => bail!("the reference takes no {other}"),
        }
    }
    let chain =
        CertificateDer::pem_file_iter(dir.join("server.chain"))?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Stateless session tickets, as memtls's servers issue them (rustls's
    // default, a cache of 256 sessions, cannot resume 1,000 clients).
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let counters: Arc<[AtomicU64; 3]> = Arc::default();
    {
        let counters = counters.clone();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            memtls_report::print(memtls_report::Tag::Result, &counted(&counters));
            std::process::exit(0);
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let limits = (
        Duration::from_secs_f64(handshake_timeout),
        Duration::from_secs_f64(idle_timeout),
        bulk,
    );
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let (tcp, _) = listener.accept().await?;
            let (acceptor, counters) = (acceptor.clone(), counters.clone());
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(nodelay);
                let Ok(Ok(tls)) = tokio::time::timeout(limits.0, acceptor.accept(tcp)).await else {
                    return;
                };
                counters[0].fetch_add(1, Ordering::Relaxed);
                if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    counters[1].fetch_add(1, Ordering::Relaxed);
                }
                let _ = answer(tls, limits.1, limits.2, &counters).await;
            });
        }
    })
}

/// The reference's counters as `https-server`'s `/stats` has them.
fn counted(counters: &[AtomicU64; 3]) -> serde_json::Value {
    let [handshakes, resumed, requests] = counters;
    memtls_report::json!({
        "handshakes": handshakes.load(Ordering::Relaxed),
        "resumed": resumed.load(Ordering::Relaxed),
        "requests": requests.load(Ordering::Relaxed),
    })
}

/// Answers the requests of one connection until it closes or idles out.
async fn answer(
    mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    idle: Duration,
    bulk: usize,
    counters: &[AtomicU64; 3],
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if buf.len() > 8192 {
                return Ok(());
            }
            match tokio::time::timeout(idle, tls.read(&mut chunk)).await {
                Ok(Ok(0)) | Err(_) => return Ok(()),
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(e),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end);
        counters[2].fetch_add(1, Ordering::Relaxed);
        let close = head.contains(" http/1.0\r\n") || head.contains("\r\nconnection: close");
        let path = head.split(' ').nth(1).unwrap_or("/");
        let connection = if close { "close" } else { "keep-alive" };
        let stats = (path == "/stats").then(|| counted(counters).to_string());
        let (status, length) = match path {
            "/" => ("200 OK", SMALL_BODY.len()),
            "/bulk" => ("200 OK", bulk),
            "/stats" => ("200 OK", stats.as_ref().map_or(0, String::len)),
            _ => ("404 Not Found", 0),
        };
        let response_head = format!(
            "HTTP/1.1 {status}\r\nServer: tokio-rustls\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\nConnection: {connection}\r\n\r\n"
        );
        // The whole response in one write (as a careful server does): two
        // small writes in a row would wait for a delayed ACK without
        // TCP_NODELAY.
        let mut response = response_head.into_bytes();
        match path {
            "/" => response.extend_from_slice(SMALL_BODY),
            "/bulk" => response.resize(response.len() + bulk, b'x'),
            _ => response.extend_from_slice(stats.as_deref().unwrap_or("").as_bytes()),
        }
        tls.write_all(&response).await?;
        tls.flush().await?;
        if close {
            return tls.shutdown().await;
        }
    }
}

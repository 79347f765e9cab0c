//! The load benchmark: the concurrent `https-server` component served by each
//! provider (and by the async embedder), and a native tokio-rustls server as
//! the reference, each in its own process, driven by programs nobody here
//! wrote — `h2load` (HTTP/1.1 over TLS) and `openssl s_time` — at several
//! numbers of concurrent connections; then a soak with faults injected.
//!
//! `cargo run --release -p memtls-bench --bin load` prints the table and
//! writes the chart; the `load_smoke` test runs every path once, small.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memtls_report::{Report, Tag};
use memtls_test_harness::peers::{Files, Peer, free_port, spawn_command};
use memtls_test_harness::{peak_memory_of, resident_memory_of};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use wasmtime::{Result, bail, format_err};

use crate::Figure;

/// Who serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// `https-server` on the native provider (`memtls run`'s runtime).
    Native,
    /// `https-server` on the guest provider.
    Guest,
    /// `https-server` on the openssl provider.
    OpenSsl,
    /// `https-server` in the async embedder (tokio, pooling allocator), native provider.
    Embedder,
    /// The reference: a native tokio-rustls server with the same routes, and
    /// like the component's sockets without TCP_NODELAY (WASI 0.2 has no
    /// such option).
    Reference,
    /// The reference with TCP_NODELAY: what the option alone is worth.
    ReferenceNoDelay,
}

impl Server {
    /// Every server, in the table's order (the reference last).
    pub const ALL: [Server; 6] = [
        Server::Native,
        Server::Guest,
        Server::OpenSsl,
        Server::Embedder,
        Server::Reference,
        Server::ReferenceNoDelay,
    ];

    /// The column's name.
    pub fn name(self) -> &'static str {
        match self {
            Server::Native => "native provider",
            Server::Guest => "guest provider",
            Server::OpenSsl => "openssl provider",
            Server::Embedder => "async embedder",
            Server::Reference => "tokio-rustls",
            Server::ReferenceNoDelay => "tokio-rustls nodelay",
        }
    }

    /// The name on the command line (`--only`, the child's `serve`).
    pub fn token(self) -> &'static str {
        match self {
            Server::Native => "native",
            Server::Guest => "guest",
            Server::OpenSsl => "openssl",
            Server::Embedder => "embedder",
            Server::Reference => "reference",
            Server::ReferenceNoDelay => "reference-nodelay",
        }
    }

    /// The server named `token`.
    pub fn parse(token: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.token() == token)
            .ok_or_else(|| {
                format_err!(
                    "no server {token:?} (native, guest, openssl, embedder, reference, reference-nodelay)"
                )
            })
    }
}

/// The size of the `/bulk` response in these runs.
pub const BULK_BYTES: usize = 256 * 1024;

/// The small response's body (`https-server`'s and the reference's).
pub const SMALL_BODY: &[u8] = b"hello from memtls\n";

/// How much to run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Small counts, short runs: every path once (CI's smoke run).
    pub quick: bool,
    /// The `load` program: its `serve` command is each server's process.
    pub exe: PathBuf,
    /// The servers, in the table's order.
    pub servers: Vec<Server>,
    /// Numbers of concurrent connections.
    pub concurrency: Vec<usize>,
    /// The soak with faults, if wanted.
    pub soak: Option<Soak>,
}

/// The soak: one server under steady well-behaved load while faults are injected.
#[derive(Clone, Debug)]
pub struct Soak {
    /// Who serves.
    pub server: Server,
    /// How long the faults and the load last.
    pub seconds: u64,
    /// Well-behaved concurrent connections (h2load).
    pub clients: usize,
    /// Stalled connections held at once (slowloris).
    pub slowloris: usize,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct LoadResults {
    /// The column names, in order.
    pub columns: Vec<&'static str>,
    /// One row per figure.
    pub figures: Vec<Figure>,
    /// Requests h2load did not see succeed, per column (should all be 0).
    pub failed: Vec<u64>,
    /// `openssl s_time -reuse`'s connections, per column: (resumed, all).
    pub s_time_reused: Vec<(u64, u64)>,
    /// The soak's figures, if it ran.
    pub soak: Option<SoakResults>,
}

impl LoadResults {
    /// The table, ratios to the reference when it ran.
    pub fn table(&self) -> String {
        let base = self.base();
        let baseline = vec![base; self.columns.len()];
        crate::table_of(
            &self.columns,
            &baseline,
            &self.figures,
            &format!("ratios: to {}\n", self.columns[base]),
        )
    }

    /// The chart of the throughput figures, as ratios to the reference.
    pub fn svg(&self, title: &str) -> String {
        let base = self.base();
        crate::svg_of(&self.columns, base, &self.figures, title)
    }

    /// The column ratios are to: the reference's, when it ran.
    fn base(&self) -> usize {
        self.columns
            .iter()
            .position(|c| *c == Server::Reference.name())
            .unwrap_or(0)
    }

    fn row(&mut self, name: String, unit: &'static str, higher_is_better: bool) -> &mut Figure {
        let i = match self.figures.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.figures.push(Figure::with_columns(
                    name,
                    unit,
                    higher_is_better,
                    self.columns.len(),
                ));
                self.figures.len() - 1
            }
        };
        &mut self.figures[i]
    }

    fn set(&mut self, column: usize, name: String, unit: &'static str, higher: bool, v: f64) {
        self.row(name, unit, higher).values[column] = Some(v);
    }
}

/// A server process, stopped cleanly by [`Running::stop`] (killed if dropped).
pub struct Running {
    peer: Peer,
    /// Its port on 127.0.0.1.
    pub port: u16,
    server: Server,
}

impl Running {
    /// Starts `server` serving `files`' `server.chain` with `args` (the
    /// server's options: timeouts, sizes), and waits until it listens.
    pub fn start(exe: &Path, server: Server, files: &Files, args: &[String]) -> Result<Self> {
        let port = free_port();
        let mut cmd = Command::new(exe);
        cmd.arg("serve")
            .arg(server.token())
            .arg(&files.dir)
            .arg(port.to_string())
            .args(args);
        let peer = spawn_command(cmd, server.name());
        let start = Instant::now();
        // A first run compiles the component (the guest provider's
        // composition too) before it listens.
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(300) {
                bail!(
                    "{} did not listen on {port}: {}",
                    server.name(),
                    peer.text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { peer, port, server })
    }

    /// Its resident memory now, in bytes.
    pub fn rss(&self) -> usize {
        resident_memory_of(self.peer.pid())
    }

    /// Its peak resident memory so far, in bytes.
    pub fn peak(&self) -> usize {
        peak_memory_of(self.peer.pid())
    }

    /// Stops it (its stdin closed: a clean shutdown) and returns the counters
    /// it reported.
    pub fn stop(mut self) -> Result<Report> {
        self.peer.close_stdin();
        let name = self.server.name();
        let (ok, text) = self
            .peer
            .exit_within(Duration::from_secs(60))
            .ok_or_else(|| format_err!("{name} did not stop within 60 s of its stdin closing"))?;
        if !ok {
            bail!("{name} failed: {text}");
        }
        // The embedder prefixes each tenant's lines with its number.
        let lines: String = text
            .lines()
            .map(|l| l.strip_prefix("tenant 0: ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        memtls_report::first(Tag::Result, &lines)
            .ok_or_else(|| format_err!("{name} reported no counters: {text}"))
    }
}

/// What one h2load run did.
#[derive(Debug, Clone, Default)]
pub struct H2Run {
    /// Requests h2load meant to make.
    pub requests: u64,
    /// Requests that got a response.
    pub succeeded: u64,
    /// Requests that failed, errored or timed out.
    pub failed: u64,
    /// Seconds the run took (h2load's own timing).
    pub seconds: f64,
    /// Bytes received and sent on the wire.
    pub traffic: u64,
    /// Each request's time to its whole response, in milliseconds (with a log).
    pub latencies_ms: Vec<f64>,
}

impl H2Run {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.succeeded as f64 / self.seconds.max(1e-9)
    }

    /// Megabytes per second on the wire.
    pub fn mb_per_s(&self) -> f64 {
        self.traffic as f64 / 1e6 / self.seconds.max(1e-9)
    }

    /// The `p`-th percentile latency in milliseconds (0 without a log).
    pub fn percentile(&self, p: f64) -> f64 {
        let mut v = self.latencies_ms.clone();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v[i.min(v.len() - 1)]
    }
}

/// How long an h2load run is.
#[derive(Clone, Copy, Debug)]
pub enum Amount {
    /// This many requests.
    Requests(usize),
    /// For this many seconds.
    Seconds(u64),
}

/// Runs h2load (HTTP/1.1 over TLS, one thread) against `port`: `clients`
/// connections, each `GET path`; with `close`, every request asks the server
/// to close the connection after its response (h2load then opens a new one:
/// one full handshake per request). With `latencies`, per-request times are
/// collected.
pub fn h2load(
    port: u16,
    path: &str,
    clients: usize,
    amount: Amount,
    close: bool,
    latencies: bool,
) -> Result<H2Run> {
    let log = std::env::temp_dir().join(format!("memtls-h2load-{}-{port}.log", std::process::id()));
    let mut cmd = Command::new("h2load");
    cmd.args(["--h1", "-t", "1", "-m", "1", "-c", &clients.to_string()]);
    match amount {
        Amount::Requests(n) => cmd.args(["-n", &n.max(clients).to_string()]),
        Amount::Seconds(s) => cmd.args(["-D", &s.to_string()]),
    };
    if close {
        cmd.args(["-H", "Connection: close"]);
    }
    if latencies {
        cmd.arg("--log-file").arg(&log);
    }
    cmd.arg(format!("https://127.0.0.1:{port}{path}"));
    let out = cmd
        .output()
        .map_err(|e| format_err!("cannot run h2load (Debian's nghttp2-client): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut run = parse_h2load(&text).ok_or_else(|| {
        format_err!(
            "h2load said nothing usable: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if latencies {
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        // Columns: start (µs since the epoch), status, duration (µs).
        run.latencies_ms = log_text
            .lines()
            .filter_map(|l| l.split('\t').nth(2)?.trim().parse::<f64>().ok())
            .map(|us| us / 1000.0)
            .collect();
    }
    Ok(run)
}

/// A duration as h2load prints it (`1.23s`, `456.78ms`, `90us`), in seconds.
fn h2load_seconds(s: &str) -> Option<f64> {
    let s = s.trim().trim_end_matches(',');
    for (suffix, scale) in [("ms", 1e-3), ("us", 1e-6), ("s", 1.0)] {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|v| v * scale);
        }
    }
    None
}

fn parse_h2load(text: &str) -> Option<H2Run> {
    let mut run = H2Run::default();
    let field = |line: &str, name: &str| -> Option<u64> {
        line.split(',')
            .find(|part| part.trim().ends_with(name))?
            .split_whitespace()
            .next()?
            .trim_start_matches("requests:")
            .trim()
            .parse()
            .ok()
    };
    let mut seen = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("finished in ") {
            run.seconds = h2load_seconds(rest.split(',').next()?)?;
        } else if let Some(rest) = line.strip_prefix("requests: ") {
            seen = true;
            run.requests = rest.split_whitespace().next()?.parse().ok()?;
            run.succeeded = field(rest, "succeeded")?;
            run.failed = field(rest, "failed")? + field(rest, "errored")? + field(rest, "timeout")?;
        } else if let Some(rest) = line.strip_prefix("traffic: ") {
            // traffic: 1.23MB (1290000) total, …
            let open = rest.find('(')?;
            let close = rest[open..].find(')')? + open;
            run.traffic = rest[open + 1..close].parse().ok()?;
        }
    }
    seen.then_some(run)
}

/// What `openssl s_time` counted in the measured window.
#[derive(Clone, Copy, Debug, Default)]
pub struct STime {
    /// Connections per second (new sessions for `-new`, resumed ones for
    /// `-reuse`), all processes together.
    pub per_second: f64,
    /// Connections s_time completed in the window, all processes.
    pub connections: u64,
    /// Of those, the ones it saw resumed (its `r` marks).
    pub resumed: u64,
}

/// s_time processes, killed when dropped.
struct Processes(Vec<std::process::Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `openssl s_time` against `port`, new sessions each time or one session
/// resumed over and over (`reuse`), from `processes` processes at once
/// (s_time runs one connection at a time, so `processes` is the number of
/// concurrent connections); each connection fetches `/`, which lets TLS 1.3
/// session tickets arrive. s_time writes a mark as each connection ends (`r`
/// when resumed): hundreds of processes take seconds to start, so the counts
/// are the marks written in `seconds` once every process has written one;
/// then the processes are stopped.
pub fn s_time(port: u16, seconds: u64, reuse: bool, processes: usize) -> Result<STime> {
    let outputs = Files::scratch(&format!("s_time-{port}"));
    let output = |i: usize| outputs.dir.join(i.to_string());
    let mut running = Processes(Vec::with_capacity(processes));
    for i in 0..processes {
        let child = Command::new("openssl")
            .args([
                "s_time",
                "-connect",
                &format!("127.0.0.1:{port}"),
                if reuse { "-reuse" } else { "-new" },
                // Longer than any run: stopped once measured.
                "-time",
                "3600",
                "-www",
                "/",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(output(i))?)
            .stderr(std::fs::File::create(output(i).with_extension("err"))?)
            .spawn()
            .map_err(|e| format_err!("cannot run openssl s_time: {e}"))?;
        running.0.push(child);
    }
    // Every process's marks so far, and when they were read.
    let marks = || -> Result<(Vec<(u64, u64)>, Instant)> {
        let start = Instant::now();
        let counts = (0..processes)
            .map(|i| Ok(count_marks(&std::fs::read(output(i))?)))
            .collect::<Result<Vec<_>>>()?;
        Ok((counts, start + start.elapsed() / 2))
    };
    let deadline = Instant::now() + Duration::from_secs(30 + processes as u64 / 20);
    let (first, t1) = loop {
        std::thread::sleep(Duration::from_millis(200));
        for (i, child) in running.0.iter_mut().enumerate() {
            if child.try_wait()?.is_some() {
                let said = std::fs::read_to_string(output(i).with_extension("err"))?;
                bail!("openssl s_time stopped early: {said}");
            }
        }
        let (counts, at) = marks()?;
        let started = counts.iter().filter(|(n, _)| *n > 0).count();
        if started == processes {
            break (counts, at);
        }
        if Instant::now() > deadline {
            bail!("only {started} of {processes} openssl s_time processes connected in time");
        }
    };
    std::thread::sleep(Duration::from_secs(seconds));
    let (last, t2) = marks()?;
    drop(running);
    let mut run = STime::default();
    for ((n1, r1), (n2, r2)) in first.into_iter().zip(last) {
        run.connections += n2 - n1;
        run.resumed += r2 - r1;
    }
    let counted = if reuse { run.resumed } else { run.connections };
    run.per_second = counted as f64 / (t2 - t1).as_secs_f64();
    Ok(run)
}

/// From s_time's output, its marks, one per connection on lines of marks
/// only: (connections, resumed ones). `r` is resumed; `*`, `t` and `3` are not.
fn count_marks(output: &[u8]) -> (u64, u64) {
    const MARKS: &[u8] = b"r*t3";
    output
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l.iter().all(|b| MARKS.contains(b)))
        .flatten()
        .fold((0, 0), |(n, r), &b| (n + 1, r + u64::from(b == b'r')))
}

/// A client configuration trusting `ca_pem` (the fixtures' CA), ALPN http/1.1.
pub fn client_config(ca_pem: &[u8]) -> Result<Arc<ClientConfig>> {
    let mut config = crate::client_trusting(ca_pem)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection to `port`, as `localhost`, handshake not yet done.
fn connect(port: u16, config: &Arc<ClientConfig>) -> Result<Tls> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let conn = ClientConnection::new(config.clone(), ServerName::try_from("localhost")?)?;
    Ok(StreamOwned::new(conn, tcp))
}

/// Sends `GET path` on `tls` (keep-alive unless `close`) and reads the whole
/// response; returns its body.
fn get(tls: &mut Tls, path: &str, close: bool) -> Result<Vec<u8>> {
    let connection = if close { "close" } else { "keep-alive" };
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: {connection}\r\n\r\n"
    )?;
    tls.flush()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| format_err!("a response without a length: {head}"))?;
            if buf.len() >= end + 4 + length {
                return Ok(buf[end + 4..end + 4 + length].to_vec());
            }
        }
        let n = tls.read(&mut chunk)?;
        if n == 0 {
            bail!("the server closed the connection before its whole response");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The server's counters (`GET /stats`), on a connection of its own.
pub fn stats(port: u16, config: &Arc<ClientConfig>) -> Result<Report> {
    let mut tls = connect(port, config)?;
    let body = get(&mut tls, "/stats", true)?;
    match serde_json::from_slice(&body)? {
        serde_json::Value::Object(map) => Ok(Report(map)),
        other => bail!("/stats is not a JSON object: {other}"),
    }
}

/// Opens `n` connections to `port`, each handshaken and one request served,
/// and keeps them open (idle) until the result is dropped.
fn hold(port: u16, n: usize, config: &Arc<ClientConfig>) -> Result<Vec<Tls>> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut tls = connect(port, config)?;
        let body = get(&mut tls, "/", false)?;
        if body != SMALL_BODY {
            bail!("GET / answered {:?}", String::from_utf8_lossy(&body));
        }
        held.push(tls);
    }
    Ok(held)
}

/// The server options for the load runs.
fn server_args(handshake_timeout: u64, idle_timeout: u64) -> Vec<String> {
    [
        "--bulk-bytes",
        &BULK_BYTES.to_string(),
        "--handshake-timeout",
        &handshake_timeout.to_string(),
        "--idle-timeout",
        &idle_timeout.to_string(),
        "--max-open",
        "1010",
    ]
    .map(String::from)
    .to_vec()
}

/// Runs the load (and the soak, if asked) against every server in `opts`.
pub fn run_load(opts: &LoadOptions) -> Result<LoadResults> {
    let files = Files::new("load");
    let ca = std::fs::read(files.dir.join("ca"))?;
    let config = client_config(&ca)?;
    let mut results = LoadResults {
        columns: opts.servers.iter().map(|s| s.name()).collect(),
        failed: vec![0; opts.servers.len()],
        s_time_reused: vec![(0, 0); opts.servers.len()],
        ..LoadResults::default()
    };
    for (column, &server) in opts.servers.iter().enumerate() {
        eprintln!("load: {}", server.name());
        let running = Running::start(&opts.exe, server, &files, &server_args(10, 30))?;
        measure(opts, &running, &config, &mut results, column)?;
        let counters = running.stop()?;
        let failed = results.failed[column] as f64;
        results.set(
            column,
            "requests failed, all runs".into(),
            "count",
            false,
            failed,
        );
        let (handshakes, resumed) = (
            counters.number("handshakes").unwrap_or(0.0),
            counters.number("resumed").unwrap_or(0.0),
        );
        results.set(
            column,
            "handshakes resumed, of all".into(),
            "%",
            true,
            100.0 * resumed / handshakes.max(1.0),
        );
    }
    if let Some(soak) = &opts.soak {
        results.soak = Some(run_soak(opts, soak, &files, &config)?);
    }
    Ok(results)
}

/// The figures of one server.
fn measure(
    opts: &LoadOptions,
    running: &Running,
    config: &Arc<ClientConfig>,
    results: &mut LoadResults,
    column: usize,
) -> Result<()> {
    let port = running.port;
    let quick = opts.quick;
    // Warm-up: the first connections fill caches (and a guest's memory).
    h2load(
        port,
        "/",
        4,
        Amount::Requests(if quick { 8 } else { 400 }),
        false,
        false,
    )?;
    // Memory per open connection, first (linear memory, once grown, is not
    // given back: measured after the load it would show no growth): idle
    // connections held, each handshaken and one request served.
    let n = opts.concurrency.iter().copied().max().unwrap_or(1).max(10);
    std::thread::sleep(Duration::from_millis(300));
    let before = running.rss();
    let held = hold(port, n, config)?;
    std::thread::sleep(Duration::from_millis(500));
    let after = running.rss();
    drop(held);
    results.set(
        column,
        format!("memory per open connection ({n} held)"),
        "KiB",
        false,
        after.saturating_sub(before) as f64 / n as f64 / 1024.0,
    );
    for &c in &opts.concurrency {
        let keep_alive = h2load(
            port,
            "/",
            c,
            Amount::Requests(if quick { c * 4 } else { (c * 20).max(20_000) }),
            false,
            true,
        )?;
        let full = h2load(
            port,
            "/",
            c,
            Amount::Requests(if quick { c * 2 } else { (c * 2).max(2_000) }),
            true,
            false,
        )?;
        let bulk = h2load(
            port,
            "/bulk",
            c,
            Amount::Requests(if quick { c } else { c.max(400) }),
            false,
            false,
        )?;
        results.failed[column] += keep_alive.failed + full.failed + bulk.failed;
        results.set(
            column,
            format!("full handshakes, {c} conn."),
            "/s",
            true,
            full.rate(),
        );
        results.set(
            column,
            format!("keep-alive requests, {c} conn."),
            "/s",
            true,
            keep_alive.rate(),
        );
        results.set(
            column,
            format!("bulk 256 KiB responses, {c} conn."),
            "MB/s",
            true,
            bulk.mb_per_s(),
        );
        results.set(
            column,
            format!("latency p50, {c} conn."),
            "ms",
            false,
            keep_alive.percentile(50.0),
        );
        results.set(
            column,
            format!("latency p99, {c} conn."),
            "ms",
            false,
            keep_alive.percentile(99.0),
        );
    }
    let seconds = if quick { 1 } else { 5 };
    results.set(
        column,
        "s_time full handshakes, 1 conn.".into(),
        "/s",
        true,
        s_time(port, seconds, false, 1)?.per_second,
    );
    let mut reused = STime::default();
    for &c in &opts.concurrency {
        // Quick: the path with several processes, not hundreds of them.
        let c = if quick { c.min(16) } else { c };
        let run = s_time(port, seconds, true, c)?;
        results.set(
            column,
            format!("s_time resumed handshakes, {c} conn."),
            "/s",
            true,
            run.per_second,
        );
        reused.connections += run.connections;
        reused.resumed += run.resumed;
    }
    results.set(
        column,
        "s_time connections resumed, client's count".into(),
        "%",
        true,
        100.0 * reused.resumed as f64 / reused.connections.max(1) as f64,
    );
    results.s_time_reused[column] = (reused.resumed, reused.connections);
    results.set(
        column,
        "peak RSS".into(),
        "MiB",
        false,
        running.peak() as f64 / f64::from(1 << 20),
    );
    Ok(())
}

/// What the soak found.
#[derive(Debug, Default)]
pub struct SoakResults {
    /// The summary lines (the figures with what they mean).
    pub lines: Vec<String>,
    /// Well-behaved requests that did not succeed.
    pub failed: u64,
    /// Well-behaved requests that succeeded.
    pub succeeded: u64,
    /// Stalled connections the server closed on its own.
    pub stalled_freed: u64,
    /// Connections the server still held after the faults stopped and its
    /// timeouts passed (the one asking included).
    pub open_after: f64,
    /// Garbage connections, and how many of them received a TLS alert.
    pub garbage: (u64, u64),
    /// RSS samples: (seconds into the soak, bytes).
    pub rss: Vec<(f64, usize)>,
}

#[derive(Default)]
struct FaultCounts {
    mid_handshake: AtomicU64,
    garbage: AtomicU64,
    garbage_alerted: AtomicU64,
    resets: AtomicU64,
    stalled: AtomicU64,
    stalled_freed: AtomicU64,
    /// Seconds from a stalled connection's last byte to the server closing it.
    freed_after: Mutex<Vec<f64>>,
}

/// Runs the soak: well-behaved load (h2load) with faults injected, RSS sampled.
fn run_soak(
    opts: &LoadOptions,
    soak: &Soak,
    files: &Files,
    config: &Arc<ClientConfig>,
) -> Result<SoakResults> {
    let (handshake_timeout, idle_timeout) = (2, 5);
    eprintln!("load: soak, {} for {} s", soak.server.name(), soak.seconds);
    let running = Running::start(
        &opts.exe,
        soak.server,
        files,
        &server_args(handshake_timeout, idle_timeout),
    )?;
    let port = running.port;
    let warm = if opts.quick { 1 } else { 10 };
    h2load(port, "/", soak.clients, Amount::Seconds(warm), false, false)?;
    let unloaded = h2load(
        port,
        "/",
        soak.clients,
        Amount::Seconds(warm * 2),
        false,
        false,
    )?;
    let counts = Arc::new(FaultCounts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let stalled_held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let mut threads = Vec::new();
    {
        let (counts, stop, config) = (counts.clone(), stop.clone(), config.clone());
        threads.push(std::thread::spawn(move || {
            mid_handshake(port, &config, &counts, &stop)
        }));
    }
    {
        let (counts, stop) = (counts.clone(), stop.clone());
        threads.push(std::thread::spawn(move || garbage(port, &counts, &stop)));
    }
    {
        let (counts, stop, config) = (counts.clone(), stop.clone(), config.clone());
        threads.push(std::thread::spawn(move || {
            resets(port, &config, &counts, &stop)
        }));
    }
    {
        let (counts, stop, held, n) = (
            counts.clone(),
            stop.clone(),
            stalled_held.clone(),
            soak.slowloris,
        );
        threads.push(std::thread::spawn(move || {
            slowloris(port, n, &counts, &stop, &held)
        }));
    }
    let start = Instant::now();
    let mut rss = vec![(0.0, running.rss())];
    let (mut succeeded, mut failed, mut seconds) = (0u64, 0u64, 0.0f64);
    let round = if opts.quick { 2 } else { 20 };
    while start.elapsed().as_secs() < soak.seconds {
        let left = soak.seconds - start.elapsed().as_secs();
        let run = h2load(
            port,
            "/",
            soak.clients,
            Amount::Seconds(round.min(left).max(1)),
            false,
            false,
        )?;
        succeeded += run.succeeded;
        failed += run.failed;
        seconds += run.seconds;
        rss.push((start.elapsed().as_secs_f64(), running.rss()));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .map_err(|_| format_err!("a fault thread panicked"))?;
    }
    // The stalled connections are still held by us: the server must free them.
    std::thread::sleep(Duration::from_secs(handshake_timeout + 2));
    let after = stats(port, config)?;
    drop(std::mem::take(&mut *stalled_held.lock().unwrap()));
    let counters = running.stop()?;
    let under_faults = succeeded as f64 / seconds.max(1e-9);
    let freed = counts.freed_after.lock().unwrap().clone();
    let max_freed = freed.iter().copied().fold(0.0, f64::max);
    let steady: Vec<usize> = rss
        .iter()
        .filter(|(t, _)| *t >= soak.seconds as f64 / 10.0)
        .map(|(_, r)| *r)
        .collect();
    let mib = |b: usize| b as f64 / f64::from(1 << 20);
    let (first, last) = (
        steady.first().copied().unwrap_or(0),
        steady.last().copied().unwrap_or(0),
    );
    let max_rss = steady.iter().copied().max().unwrap_or(0);
    let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let lines = vec![
        format!(
            "soak {} s, {}, {} well-behaved connections: {succeeded} requests, {failed} failed; {under_faults:.0}/s under faults = {:.2} of unloaded {:.0}/s",
            soak.seconds,
            soak.server.name(),
            soak.clients,
            under_faults / unloaded.rate().max(1e-9),
            unloaded.rate()
        ),
        format!(
            "soak RSS (from {:.0} s on, {} samples): first {:.1} MiB, last {:.1} MiB, max {:.1} MiB",
            soak.seconds as f64 / 10.0,
            steady.len(),
            mib(first),
            mib(last),
            mib(max_rss)
        ),
        format!(
            "fault slowloris: {} stalled connections ({} held at once), {} freed by the server, the last at most {max_freed:.1} s after its last byte (handshake timeout {handshake_timeout} s)",
            ld(&counts.stalled),
            soak.slowloris,
            ld(&counts.stalled_freed),
        ),
        format!(
            "fault mid-handshake close: {} connections closed after the ServerHello",
            ld(&counts.mid_handshake)
        ),
        format!(
            "fault garbage: {} connections sent non-TLS bytes, {} received a TLS alert",
            ld(&counts.garbage),
            ld(&counts.garbage_alerted)
        ),
        format!(
            "fault reset: {} connections reset (RST) in the middle of a bulk response",
            ld(&counts.resets)
        ),
        format!(
            "after the faults and {} s: {} connections open (the one asking included); the server counted {} handshake timeouts, {} idle timeouts, {} TLS errors, {} transport errors",
            handshake_timeout + 2,
            after.text("open").unwrap_or_default(),
            counters.text("handshake_timeouts").unwrap_or_default(),
            counters.text("idle_timeouts").unwrap_or_default(),
            counters.text("tls_errors").unwrap_or_default(),
            counters.text("transport_errors").unwrap_or_default(),
        ),
    ];
    Ok(SoakResults {
        lines,
        failed,
        succeeded,
        stalled_freed: ld(&counts.stalled_freed),
        open_after: after.number("open").unwrap_or(f64::NAN),
        garbage: (ld(&counts.garbage), ld(&counts.garbage_alerted)),
        rss,
    })
}

/// Clients that send their ClientHello, read the server's first flight and
/// close: handshakes abandoned halfway.
fn mid_handshake(port: u16, config: &Arc<ClientConfig>, counts: &FaultCounts, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut tls) = connect(port, config) {
            let _ = tls.conn.write_tls(&mut tls.sock);
            let mut first = [0u8; 512];
            let _ = tls.sock.read(&mut first);
            counts.mid_handshake.fetch_add(1, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Clients that send bytes that are not TLS (an HTTP request in the clear,
/// then noise) and read what comes back: the server's alert.
fn garbage(port: u16, counts: &FaultCounts, stop: &AtomicBool) {
    let mut round = 0u32;
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            let bytes: Vec<u8> = if round.is_multiple_of(2) {
                b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()
            } else {
                (0..600u32)
                    .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                    .collect()
            };
            round += 1;
            let _ = tcp.write_all(&bytes);
            let mut reply = Vec::new();
            let _ = tcp.read_to_end(&mut reply);
            counts.garbage.fetch_add(1, Ordering::Relaxed);
            // An alert record: content type 21.
            if reply.first() == Some(&21) {
                counts.garbage_alerted.fetch_add(1, Ordering::Relaxed);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Clients that ask for the bulk response, read a little of it and reset
/// the connection (RST, not FIN).
fn resets(port: u16, config: &Arc<ClientConfig>, counts: &FaultCounts, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut tls) = connect(port, config) {
            let sent = write!(tls, "GET /bulk HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .and_then(|()| tls.flush());
            let mut some = [0u8; 16 * 1024];
            if sent.is_ok() && tls.read(&mut some).is_ok() {
                reset(&tls.sock);
                counts.resets.fetch_add(1, Ordering::Relaxed);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Makes closing `tcp` send a reset (SO_LINGER with a zero timeout).
fn reset(tcp: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor is open for as long as `tcp` is borrowed, and
    // `linger` is a valid SO_LINGER value of the size passed.
    unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// The start of a TLS ClientHello: a handshake record header promising 512
/// bytes, and only a few of them.
const PARTIAL_CLIENT_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
];

/// Holds `n` connections that send the first bytes of a ClientHello and
/// stall; each one the server closes is counted (with how long after its
/// last byte) and replaced while the soak lasts. At the end the connections
/// still open are left in `held` for the caller.
fn slowloris(
    port: u16,
    n: usize,
    counts: &FaultCounts,
    stop: &AtomicBool,
    held: &Mutex<Vec<TcpStream>>,
) {
    let open = || -> Option<(TcpStream, Instant)> {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
        tcp.write_all(PARTIAL_CLIENT_HELLO).ok()?;
        tcp.set_nonblocking(true).ok()?;
        counts.stalled.fetch_add(1, Ordering::Relaxed);
        Some((tcp, Instant::now()))
    };
    let mut conns: Vec<(TcpStream, Instant)> = (0..n).filter_map(|_| open()).collect();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        let mut i = 0;
        while i < conns.len() {
            let mut byte = [0u8; 64];
            let closed = match conns[i].0.read(&mut byte) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
            };
            if closed {
                let (_, since) = conns.swap_remove(i);
                counts.stalled_freed.fetch_add(1, Ordering::Relaxed);
                counts
                    .freed_after
                    .lock()
                    .unwrap()
                    .push(since.elapsed().as_secs_f64());
                if let Some(c) = open() {
                    conns.push(c);
                }
            } else {
                i += 1;
            }
        }
    }
    held.lock()
        .unwrap()
        .extend(conns.into_iter().map(|(tcp, _)| tcp));
}

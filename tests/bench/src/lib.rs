//! The benchmark suite: the same workloads on rustls used directly (the
//! baseline and the limit), on the native provider and on the guest provider (both
//! driven by the scenario component through `memtls:tls`), side by side in one run,
//! each figure the median of repeated runs, with its ratio to the baseline.
//!
//! `cargo run -p memtls-bench --bin bench` prints the table and writes the chart;
//! the `bench_smoke` test runs every code path once with tiny counts.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use memtls_host::{Policy, Provider};
use memtls_loopback::{Certs, start_https_server};
use memtls_test_harness::{Host, Loaded, RunOptions, examples, load, run};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use wasmtime::component::{ComponentType, Lift, Lower, TypedFunc};
use wasmtime::{Result, Store, bail, format_err};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use memtls_test_harness::{Fixtures, Scenarios};

mod libssl;
use libssl::Libssl;

pub mod load;

/// The columns of the table, in order.
pub const COLUMNS: [&str; 6] = [
    "rustls directly",
    "native provider",
    "guest provider",
    "wasmtime-wasi-tls",
    "libssl directly",
    "openssl provider",
];

/// The column each column's ratio is to: the openssl provider's to libssl
/// used directly (what the interface costs on OpenSSL), every other one's to
/// rustls directly.
pub const BASELINE: [usize; 6] = [0, 0, 0, 0, 0, 4];

/// The providers the scenario component runs the workloads on, by column.
const PROVIDER_COLUMNS: [(Provider, usize); 3] = [
    (Provider::Native, 1),
    (Provider::Guest, 2),
    (Provider::OpenSsl, 5),
];

/// The columns the in-memory workloads measure, each round in this order.
const MEASURED: [usize; 5] = [0, 1, 2, 4, 5];

/// The cipher suites measured for bulk transfer (the fixtures' server key is P-256,
/// so the TLS 1.2 suites are the ECDSA ones).
pub const BULK_SUITES: [(u16, &str); 6] = [
    (0x1301, "TLS13_AES_128_GCM_SHA256"),
    (0x1302, "TLS13_AES_256_GCM_SHA384"),
    (0x1303, "TLS13_CHACHA20_POLY1305_SHA256"),
    (0xc02b, "ECDHE_ECDSA_AES_128_GCM_SHA256"),
    (0xc02c, "ECDHE_ECDSA_AES_256_GCM_SHA384"),
    (0xcca9, "ECDHE_ECDSA_CHACHA20_POLY1305_SHA256"),
];

/// Bytes per application write in the bulk workload (as in the component).
const RECORD: usize = 16 * 1024;

/// Runs the wasi:tls client component with (args, CA PEM); returns its stdout.
pub type WasiTlsRunner = fn(&[&str], &str) -> Result<String>;

/// The scenario component's `bench` export.
type BenchFunc =
    TypedFunc<(Vec<(String, Vec<u8>)>, Workload), (std::result::Result<Figures, String>,)>;

/// The runner's `workload` (tests/scenarios/wit/runner.wit).
#[derive(ComponentType, Lower, Clone, Debug)]
#[component(variant)]
pub enum Workload {
    /// Full handshakes, a new client context each time.
    #[component(name = "full")]
    Full(FullHandshakes),
    /// Resumed handshakes from one client context.
    #[component(name = "resumed")]
    Resumed(u32),
    /// 16 KiB writes with one cipher suite.
    #[component(name = "bulk")]
    Bulk(BulkTransfer),
    /// Opens connection pairs and keeps them.
    #[component(name = "idle-hold")]
    IdleHold(u32),
    /// Drops the pairs kept.
    #[component(name = "idle-release")]
    IdleRelease,
}

/// The runner's `full-handshakes`.
#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub struct FullHandshakes {
    /// The fixture prefix of the server's signing chain.
    pub chain: String,
    /// How many handshakes.
    pub count: u32,
    /// The fixture name of the CA the client trusts.
    pub ca: String,
    /// The key-exchange groups the client offers; none: the defaults.
    pub groups: Option<Vec<u16>>,
}

/// The runner's `bulk-transfer`.
#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub struct BulkTransfer {
    /// The IANA id of the cipher suite.
    pub suite: u16,
    /// How many 16 KiB writes.
    pub records: u32,
}

/// The runner's `figures`.
#[derive(ComponentType, Lift, Clone, Debug)]
#[component(variant)]
pub enum Figures {
    /// Of `full` and `resumed`.
    #[component(name = "handshakes")]
    Handshakes(HandshakeFigures),
    /// Of `bulk`.
    #[component(name = "bulk")]
    Bulk(BulkFigures),
    /// Connection pairs held now.
    #[component(name = "held")]
    Held(u32),
}

/// The runner's `handshake-figures`.
#[derive(ComponentType, Lift, Clone, Debug)]
#[component(record)]
pub struct HandshakeFigures {
    /// Wall time of all the handshakes, in nanoseconds.
    #[component(name = "elapsed-ns")]
    pub elapsed_ns: u64,
    /// How many resumed.
    pub resumed: u32,
}

/// The runner's `bulk-figures`.
#[derive(ComponentType, Lift, Clone, Debug)]
#[component(record)]
pub struct BulkFigures {
    /// Time spent encrypting, in nanoseconds.
    #[component(name = "encrypt-ns")]
    pub encrypt_ns: u64,
    /// Time spent decrypting, in nanoseconds.
    #[component(name = "decrypt-ns")]
    pub decrypt_ns: u64,
    /// Plaintext bytes sent.
    pub bytes: u64,
    /// Bytes that crossed the interface.
    pub boundary: u64,
    /// Writes made.
    pub records: u32,
}

/// [`WasiTlsRunner`] on [`memtls_test_harness::wasi_tls::run_client`].
pub fn wasi_tls_runner(args: &[&str], ca_pem: &str) -> Result<String> {
    let (code, out, err) = memtls_test_harness::wasi_tls::run_client(args, ca_pem)?;
    if code != 0 {
        bail!("the wasi:tls client failed ({code}): {err}");
    }
    Ok(out)
}

/// [`WasiTlsRunner`] for the wasi:tls 0.3 program on wasmtime-wasi-tls's p3
/// host ([`memtls_test_harness::wasi_tls::run_p3`]).
pub fn wasi_tls_p3_runner(args: &[&str], ca_pem: &str) -> Result<String> {
    let (code, out, err) = memtls_test_harness::wasi_tls::run_p3(
        memtls_test_harness::wasi_tls::wasi_tls_p3_client_component(),
        args,
        memtls_test_harness::wasi_tls::P3Tls::Wasmtime(ca_pem),
    )?;
    if code != 0 {
        bail!("the wasi:tls 0.3 program failed on wasmtime-wasi-tls ({code}): {err}");
    }
    Ok(out)
}

/// How much to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Tiny counts and one repetition: exercises every path (the CI smoke run).
    pub quick: bool,
    /// Live heap bytes of this process, if the binary counts them (for memory per
    /// idle connection on the native side).
    pub heap_bytes: Option<fn() -> usize>,
    /// This program, to start children measuring load-to-first-handshake with a
    /// cold and a warm compilation cache (skipped when `None`).
    pub child_exe: Option<PathBuf>,
    /// Run only this section: handshakes, resumed, bulk, memory, load or tcp.
    pub only: Option<String>,
    /// The wasmtime-wasi-tls client run, if wanted.
    pub wasi_tls: Option<WasiTlsRunner>,
    /// The wasi:tls 0.3 program on wasmtime-wasi-tls's p3 host, if wanted.
    pub wasi_tls_p3: Option<WasiTlsRunner>,
}

/// One row: a figure per column (None: not applicable or not measured).
#[derive(Clone, Debug)]
pub struct Figure {
    /// What is measured.
    pub name: String,
    /// Its unit.
    pub unit: &'static str,
    /// Whether a larger value is better (throughput) or worse (time, memory).
    pub higher_is_better: bool,
    /// One value per column ([`COLUMNS`] in this suite's figures).
    pub values: Vec<Option<f64>>,
}

impl Figure {
    fn new(name: impl Into<String>, unit: &'static str, higher_is_better: bool) -> Self {
        Self::with_columns(name, unit, higher_is_better, COLUMNS.len())
    }

    /// A row with `columns` empty values.
    pub fn with_columns(
        name: impl Into<String>,
        unit: &'static str,
        higher_is_better: bool,
        columns: usize,
    ) -> Self {
        Self {
            name: name.into(),
            unit,
            higher_is_better,
            values: vec![None; columns],
        }
    }

    /// Fills the columns with `medians` (column, values), the first of each.
    fn with<const N: usize>(mut self, medians: &[(usize, [f64; N])]) -> Self {
        for (column, m) in medians {
            self.values[*column] = Some(m[0]);
        }
        self
    }

    /// The value of column `i` relative to its [`BASELINE`], if both exist.
    pub fn ratio(&self, i: usize) -> Option<f64> {
        self.ratio_to(i, BASELINE[i])
    }

    /// The value of column `i` relative to column `base`, if both exist.
    pub fn ratio_to(&self, i: usize, base: usize) -> Option<f64> {
        let base = (*self.values.get(base)?)?;
        let v = (*self.values.get(i)?)?;
        (base > 0.0).then(|| v / base)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the whole suite.
pub fn run_suite(opts: &Options) -> Result<Vec<Figure>> {
    let reps = if opts.quick { 1 } else { 5 };
    let n_full = if opts.quick { 3 } else { 400 };
    let n_resumed = if opts.quick { 3 } else { 400 };
    let records: u32 = if opts.quick { 8 } else { 2048 };
    let n_idle: u32 = if opts.quick { 4 } else { 500 };
    let fixtures = Fixtures::generate()?;
    let direct = DirectRustls::new(&fixtures)?;
    let libssl = Libssl::new(&fixtures)?;
    let providers: Vec<Scenarios> = PROVIDER_COLUMNS
        .iter()
        .map(|&(p, _)| {
            Scenarios::load(
                p,
                Policy {
                    max_connections: 4096,
                    ..Policy::default()
                },
            )
        })
        .collect::<Result<_>>()?;
    let mut figures = Vec::new();
    let want = |section: &str| opts.only.as_deref().is_none_or(|only| only == section);

    // Full handshakes per second, per certificate type.
    if want("handshakes") {
        // Chain and its CA: the Ed25519 figure uses an all-Ed25519 chain (with the
        // P-256 CA it would mostly measure a P-256 signature check).
        // The memtls rows with the providers' default groups (X25519MLKEM768
        // on the rustls providers; x25519 on OpenSSL 3.0, rustls direct and
        // libssl), and the P-256 row again with the client offering x25519
        // only: the hybrid's cost is the ratio of the two P-256 rows.
        for (chain, ca, label, groups) in [
            ("server", "ca", "P-256", None),
            ("server", "ca", "P-256, x25519 only", Some(vec![0x001d])),
            ("ed25519-all", "ed-ca", "Ed25519", None),
            ("rsa", "ca", "RSA-2048", None),
        ] {
            let fig = Figure::new(format!("full handshakes, {label}"), "/s", true);
            let per_s = |ns: f64| f64::from(n_full) / (ns / 1e9);
            let mut sessions = sessions(&providers, &fixtures)?;
            let medians = interleaved(reps, |column| {
                let ns = match column {
                    0 => direct.full(chain, ca, n_full)?,
                    4 => libssl.full(chain, ca, n_full)?,
                    i => {
                        session(&mut sessions, i)
                            .handshakes(Workload::Full(FullHandshakes {
                                chain: chain.into(),
                                count: n_full,
                                ca: ca.into(),
                                groups: groups.clone(),
                            }))?
                            .elapsed_ns as f64
                    }
                };
                Ok([per_s(ns)])
            })?;
            figures.push(fig.with(&medians));
        }
        for (label, groups) in [
            ("default groups", None),
            ("x25519 only", Some(vec![0x001d])),
        ] {
            figures.push(client_hello_bytes(&fixtures, label, groups)?);
        }
    }

    // Resumed handshakes per second (TLS 1.3 tickets).
    if want("resumed") {
        let fig = Figure::new("resumed handshakes (TLS 1.3)", "/s", true);
        let per_s = |ns: f64| f64::from(n_resumed) / (ns / 1e9);
        let mut sessions = sessions(&providers, &fixtures)?;
        let medians = interleaved(reps, |column| {
            let ns = match column {
                0 => direct.resumed(n_resumed)?,
                4 => libssl.resumed(n_resumed)?,
                i => {
                    let r = session(&mut sessions, i).handshakes(Workload::Resumed(n_resumed))?;
                    if r.resumed != n_resumed {
                        bail!("only {} of {n_resumed} resumed", r.resumed);
                    }
                    r.elapsed_ns as f64
                }
            };
            Ok([per_s(ns)])
        })?;
        figures.push(fig.with(&medians));
    }

    // Bulk transfer per suite, each direction; boundary bytes per record.
    if want("bulk") {
        let mut boundary = Figure::new("bytes across the boundary per 16 KiB record", "B", false);
        for (suite, name) in BULK_SUITES {
            let mb_s = |ns: f64| (RECORD as f64 * f64::from(records)) / 1e6 / (ns / 1e9);
            let mut enc = Figure::new(format!("encrypt {name}"), "MB/s", true);
            let mut dec = Figure::new(format!("decrypt {name}"), "MB/s", true);
            let mut sessions = sessions(&providers, &fixtures)?;
            let medians = interleaved(reps, |column| match column {
                0 => {
                    let (e, d) = direct.bulk(suite, records)?;
                    Ok([mb_s(e), mb_s(d), 0.0])
                }
                4 => {
                    let (e, d) = libssl.bulk(suite, records)?;
                    Ok([mb_s(e), mb_s(d), 0.0])
                }
                i => {
                    let Figures::Bulk(r) = session(&mut sessions, i)
                        .call(Workload::Bulk(BulkTransfer { suite, records }))?
                    else {
                        bail!("bulk answered with other figures");
                    };
                    Ok([
                        mb_s(r.encrypt_ns as f64),
                        mb_s(r.decrypt_ns as f64),
                        r.boundary as f64 / f64::from(r.records),
                    ])
                }
            })?;
            for (i, m) in &medians {
                enc.values[*i] = Some(m[0]);
                dec.values[*i] = Some(m[1]);
                // Only the providers' bytes cross the interface.
                boundary.values[*i] = (*i != 0 && *i != 4).then_some(m[2]);
            }
            figures.push(enc);
            figures.push(dec);
        }
        figures.push(boundary);
    }

    // Memory per idle connection (client and server connections both count).
    if want("memory") {
        let mut fig = Figure::new("memory per idle connection", "KiB", false);
        let heap = opts.heap_bytes.unwrap_or(|| 0);
        if opts.heap_bytes.is_some() {
            fig.values[0] = Some(direct.idle(n_idle, heap)? / 1024.0);
        }
        for (s, (_, column)) in providers.iter().zip(PROVIDER_COLUMNS) {
            let mut session = bench_session(s, &fixtures)?;
            session.call(Workload::IdleHold(1))?;
            session.call(Workload::IdleRelease)?;
            let (heap0, lin0) = (heap(), session.linear_memory());
            session.call(Workload::IdleHold(n_idle))?;
            let grown = (heap().saturating_sub(heap0) + session.linear_memory() - lin0) as f64;
            session.call(Workload::IdleRelease)?;
            // The openssl provider's connections live in libssl's own heap,
            // which the counting allocator does not see.
            if s.provider() == Provider::Guest
                || (opts.heap_bytes.is_some() && s.provider() == Provider::Native)
            {
                fig.values[column] = Some(grown / f64::from(2 * n_idle) / 1024.0);
            }
        }
        figures.push(fig);
    }

    // Time from loading the component to the first completed handshake.
    if let (true, Some(exe)) = (want("load"), &opts.child_exe) {
        let runs = if opts.quick { 1 } else { 3 };
        let mut cold = Figure::new("load to first handshake, cold (compiles)", "ms", false);
        let mut warm = Figure::new("load to first handshake, cached", "ms", false);
        cold.values[0] = Some(direct.first_handshake_ms()?);
        warm.values[0] = cold.values[0];
        for (p, column) in &PROVIDER_COLUMNS {
            let cache =
                std::env::temp_dir().join(format!("memtls-bench-cache-{}-{p}", std::process::id()));
            let child = || -> Result<f64> {
                let out = Command::new(exe)
                    .args(["--child-first-handshake", &p.to_string()])
                    .env("XDG_CACHE_HOME", &cache)
                    .output()?;
                if !out.status.success() {
                    bail!("child: {}", String::from_utf8_lossy(&out.stderr));
                }
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .map_err(|e| format_err!("child output: {e}"))
            };
            cold.values[*column] = Some(child()?);
            warm.values[*column] = Some(median((0..runs).map(|_| child()).collect::<Result<_>>()?));
            let _ = std::fs::remove_dir_all(&cache);
        }
        figures.push(cold);
        figures.push(warm);
    }

    // The shared client workload over loopback TCP: GET from a native server.
    if want("tcp") {
        figures.extend(tcp_workload(opts)?);
    }

    Ok(figures)
}

/// One bench instance per provider.
fn sessions(providers: &[Scenarios], fixtures: &Fixtures) -> Result<Vec<BenchSession>> {
    providers
        .iter()
        .map(|s| bench_session(s, fixtures))
        .collect()
}

/// The bench instance of the provider in `column`.
fn session(sessions: &mut [BenchSession], column: usize) -> &mut BenchSession {
    let i = PROVIDER_COLUMNS
        .iter()
        .position(|&(_, c)| c == column)
        .expect("a provider column");
    &mut sessions[i]
}

/// Measures the [`MEASURED`] columns in turn, `reps` rounds, so a change in the
/// machine's speed during the run affects every column alike; returns each
/// column's medians.
fn interleaved<const K: usize>(
    reps: usize,
    mut measure: impl FnMut(usize) -> Result<[f64; K]>,
) -> Result<Vec<(usize, [f64; K])>> {
    let mut samples = vec![Vec::new(); MEASURED.len()];
    for _ in 0..reps {
        for (column, s) in MEASURED.iter().zip(samples.iter_mut()) {
            s.push(measure(*column)?);
        }
    }
    Ok(MEASURED
        .iter()
        .zip(samples)
        .map(|(c, s)| {
            let m = std::array::from_fn(|k| median(s.iter().map(|v| v[k]).collect()));
            (*c, m)
        })
        .collect())
}

/// The child side of load-to-first-handshake: milliseconds from loading the
/// component (compiling it, or fetching it from the cache in `XDG_CACHE_HOME`) to
/// the end of its first handshake through `provider`.
pub fn first_handshake_child(provider: Provider) -> Result<f64> {
    let certs = Certs::generate()?;
    let fixtures = Fixtures(
        [
            ("ca", certs.ca_pem),
            ("server.chain", certs.chain_pem),
            ("server.key", certs.key_pem),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_bytes()))
        .collect(),
    );
    let start = Instant::now();
    let scenarios = Scenarios::load(provider, Policy::default())?;
    let mut session = bench_session(&scenarios, &fixtures)?;
    session.call(Workload::Full(FullHandshakes {
        chain: "server".into(),
        count: 1,
        ca: "ca".into(),
        groups: None,
    }))?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

/// The size of a client's first flight (its ClientHello record) offering the
/// providers' default groups or `groups`, per provider column: the engine the
/// native and guest providers run (with the guest's suite order), and the
/// openssl provider, each made in the host here (the bytes are the same
/// inside Wasm).
fn client_hello_bytes(
    fixtures: &Fixtures,
    label: &str,
    groups: Option<Vec<u16>>,
) -> Result<Figure> {
    use memtls_engine::{
        Admission, ClientConfig, Engine, EngineOptions, RustlsProvider, TlsProvider, TrustStore,
        Verification,
    };
    let mut fig = Figure::new(format!("ClientHello bytes, {label}"), "B", false);
    let config = ClientConfig {
        trust: TrustStore {
            system: false,
            anchors: vec![fixtures.0["ca"].clone()],
            pinned: Vec::new(),
        },
        key_exchange_groups: groups,
        send_sni: true,
        ..ClientConfig::default()
    };
    let rustls = |options: EngineOptions| -> Box<dyn TlsProvider> {
        Box::new(RustlsProvider::new(
            Arc::new(Engine::new(options)),
            Admission::new(Policy::default()),
        ))
    };
    let providers: [(usize, Box<dyn TlsProvider>); 3] = [
        (1, rustls(EngineOptions::ring("native"))),
        (
            2,
            rustls(EngineOptions {
                prefer_chacha20: true,
                ..EngineOptions::ring("guest")
            }),
        ),
        (5, Box::new(memtls_openssl::OpenSsl::new(Policy::default()))),
    ];
    for (column, provider) in providers {
        let hello = provider
            .client_context(&config, Verification::Full)
            .and_then(|context| context.connect("localhost"))
            .map_err(|e| format_err!("ClientHello ({label}): {e}"))?
            .take(u32::MAX);
        fig.values[column] = Some(hello.len() as f64);
    }
    Ok(fig)
}

/// https-get (each provider), the wasi-tls client and rustls directly, each fetching
/// the same body from the same loopback server (rustls directly) a few times; then
/// https-get and rustls each POST a body of the same size. For https-get, the
/// calls its stream made to the provider per MiB received and sent.
fn tcp_workload(opts: &Options) -> Result<Vec<Figure>> {
    let body = if opts.quick { 1 << 20 } else { 64 << 20 };
    let mib = (body >> 20) as f64;
    let repeat = if opts.quick { 2 } else { 5 };
    let certs = Certs::generate()?;
    let port = start_https_server(&certs, body)?;
    // Answers POSTs with an empty body.
    let post_port = start_https_server(&certs, 0)?;
    // Each client makes `repeat` connections with one configuration: the first is a
    // full handshake, the others resume; medians.
    let mut hs = Figure::new("TCP client: handshake latency", "ms", false);
    let mut tp = Figure::new(format!("TCP client: GET {} MiB", body >> 20), "MB/s", true);
    let mut get_calls = Figure::new("TCP client: provider calls, receiving", "/MiB", false);
    let mut post = Figure::new(format!("TCP client: POST {} MiB", body >> 20), "MB/s", true);
    let mut post_calls = Figure::new("TCP client: provider calls, sending", "/MiB", false);
    let (h, t) = rustls_tcp(&certs, port, repeat, 0)?;
    hs.values[0] = Some(h);
    tp.values[0] = Some(t);
    post.values[0] = Some(rustls_tcp(&certs, post_port, repeat, body)?.1);
    let dir = std::env::temp_dir().join(format!("memtls-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("ca.pem"), &certs.ca_pem)?;
    for (provider, column) in &PROVIDER_COLUMNS {
        let loaded = load(
            examples::https_get(),
            *provider,
            &Policy::default(),
            "https-get",
        )?;
        let rounds = https_get_rounds(&loaded, *provider, &dir, port, repeat, 0)?;
        hs.values[*column] = Some(median(rounds.iter().map(|f| f["handshake_ms"]).collect()));
        tp.values[*column] = Some(median(rounds.iter().map(mb_per_s).collect()));
        get_calls.values[*column] = Some(median(
            rounds.iter().map(|f| f["transfer_calls"] / mib).collect(),
        ));
        let rounds = https_get_rounds(&loaded, *provider, &dir, post_port, repeat, body)?;
        post.values[*column] = Some(median(
            rounds
                .iter()
                .map(|f| f["upload_bytes"] / 1e6 / (f["upload_ms"] / 1e3))
                .collect(),
        ));
        post_calls.values[*column] = Some(median(
            rounds.iter().map(|f| f["upload_calls"] / mib).collect(),
        ));
    }
    if let Some(wasi_tls) = opts.wasi_tls {
        let port_s = port.to_string();
        let repeat_s = repeat.to_string();
        let out = wasi_tls(
            &["127.0.0.1", &port_s, "localhost", &repeat_s],
            &certs.ca_pem,
        )?;
        let f = result_lines(&out)
            .pop()
            .ok_or_else(|| format_err!("no memtls-result line from the wasi:tls client"))?;
        hs.values[3] = Some(f["handshake_ms"]);
        tp.values[3] = Some(mb_per_s(&f));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (hs3, tp3) = wasi_tls_p3_workload(opts, (&certs, port, body >> 20), repeat, (h, t))?;
    Ok(vec![hs, tp, get_calls, post, post_calls, hs3, tp3])
}

/// The `memtls-result` reports of `repeat` rounds of https-get (`loaded`, on
/// `provider`) against the loopback server on `port`, whose CA is `ca.pem` in
/// `dir`: GETs, or POSTs of `upload` bytes when it is not 0.
fn https_get_rounds(
    loaded: &Loaded,
    provider: Provider,
    dir: &Path,
    port: u16,
    repeat: usize,
    upload: usize,
) -> Result<Vec<HashMap<String, f64>>> {
    let out = MemoryOutputPipe::new(1 << 16);
    // By address, verifying the name "localhost", as the other clients do: no name
    // lookup in the measured time.
    let mut args = [
        "https-get",
        "--ca-file",
        "/b/ca.pem",
        "--sni",
        "localhost",
        "--repeat",
    ]
    .map(String::from)
    .to_vec();
    args.push(repeat.to_string());
    if upload > 0 {
        args.extend(["--upload".to_string(), upload.to_string()]);
    }
    args.push(format!("https://127.0.0.1:{port}/"));
    let code = run(
        loaded,
        &RunOptions {
            args,
            dirs: vec![(dir.to_path_buf(), "/b".into())],
            inherit_network: true,
            allow_ip_name_lookup: true,
            capture_stdout: Some(out.clone()),
            ..RunOptions::default()
        },
    )?;
    let text = String::from_utf8_lossy(&out.contents()).into_owned();
    if code != 0 {
        bail!("https-get --tls {provider} failed: {text}");
    }
    let rounds = result_lines(&text);
    if rounds.len() != repeat {
        bail!(
            "https-get --tls {provider}: {} of {repeat} rounds",
            rounds.len()
        );
    }
    Ok(rounds)
}

/// The wasi:tls 0.3 program (`tests/wasi-tls-p3-client`) fetching the same
/// body (`body_mib` from the server on `port`, whose CA is in `certs`): through memtls's adapter on each provider (`system` trust plus the
/// CA, as `memtls run --ca-file` gives it) and on wasmtime-wasi-tls's p3 host,
/// next to rustls used directly (`direct`: its handshake ms and MB/s). Each
/// run makes `repeat` connections and reports medians.
fn wasi_tls_p3_workload(
    opts: &Options,
    (certs, port, body_mib): (&Certs, u16, usize),
    repeat: usize,
    direct: (f64, f64),
) -> Result<(Figure, Figure)> {
    let mut hs = Figure::new("wasi:tls 0.3 program: handshake latency", "ms", false);
    let mut tp = Figure::new(
        format!("wasi:tls 0.3 program: GET {body_mib} MiB"),
        "MB/s",
        true,
    );
    hs.values[0] = Some(direct.0);
    tp.values[0] = Some(direct.1);
    let args = [
        "127.0.0.1".to_string(),
        port.to_string(),
        "localhost".into(),
        repeat.to_string(),
    ];
    let policy = Policy {
        extra_system_anchors: vec![certs.ca_pem.clone().into_bytes()],
        ..Policy::default()
    };
    let summary = |out: &str, who: &str| {
        result_lines(out)
            .pop()
            .ok_or_else(|| format_err!("no memtls-result line from the wasi:tls 0.3 program {who}"))
    };
    for (provider, column) in &PROVIDER_COLUMNS {
        let loaded = load(
            memtls_test_harness::wasi_tls::wasi_tls_p3_client_component(),
            *provider,
            &policy,
            "wasi-tls-p3-client",
        )?;
        let out = MemoryOutputPipe::new(1 << 16);
        let err = MemoryOutputPipe::new(1 << 16);
        let code = run(
            &loaded,
            &RunOptions {
                args: std::iter::once("wasi-tls-p3-client".to_string())
                    .chain(args.iter().cloned())
                    .collect(),
                inherit_network: true,
                capture_stdout: Some(out.clone()),
                capture_stderr: Some(err.clone()),
                ..RunOptions::default()
            },
        )?;
        let text = String::from_utf8_lossy(&out.contents()).into_owned();
        if code != 0 {
            bail!(
                "the wasi:tls 0.3 program on --tls {provider} failed: {text}{}",
                String::from_utf8_lossy(&err.contents())
            );
        }
        let f = summary(&text, &format!("on --tls {provider}"))?;
        hs.values[*column] = Some(f["handshake_ms"]);
        tp.values[*column] = Some(mb_per_s(&f));
    }
    if let Some(p3) = opts.wasi_tls_p3 {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let f = summary(&p3(&args, &certs.ca_pem)?, "on wasmtime-wasi-tls")?;
        hs.values[3] = Some(f["handshake_ms"]);
        tp.values[3] = Some(mb_per_s(&f));
    }
    Ok((hs, tp))
}

/// Body MB/s from a result line's `body_bytes` and `transfer_ms`.
fn mb_per_s(f: &HashMap<String, f64>) -> f64 {
    f["body_bytes"] / 1e6 / (f["transfer_ms"] / 1e3)
}

/// The numeric fields of every `memtls-result` report (one per round).
fn result_lines(stdout: &str) -> Vec<HashMap<String, f64>> {
    memtls_report::all(memtls_report::Tag::Result, stdout)
        .iter()
        .map(|r| {
            r.0.keys()
                .filter_map(|k| Some((k.clone(), r.number(k)?)))
                .collect()
        })
        .collect()
}

/// A rustls client (ring, the safe default versions) trusting the
/// certificates in `ca_pem`, no client certificate.
pub fn client_trusting(ca_pem: &[u8]) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(c?)?;
    }
    Ok(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// rustls directly: (median handshake ms, median MB/s) of `repeat` GETs, or of
/// POSTs of `upload` bytes when it is not 0 (MB/s of the upload, timed as
/// https-get times it: from the body's first byte to the response's first).
fn rustls_tcp(certs: &Certs, port: u16, repeat: usize, upload: usize) -> Result<(f64, f64)> {
    let config = Arc::new(client_trusting(certs.ca_pem.as_bytes())?);
    let (mut hv, mut tv) = (Vec::new(), Vec::new());
    for _ in 0..repeat {
        let tcp = TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_nodelay(true)?;
        let conn = ClientConnection::new(config.clone(), ServerName::try_from("localhost")?)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let start = Instant::now();
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        hv.push(start.elapsed().as_secs_f64() * 1e3);
        let mut buf = vec![0; 64 * 1024];
        if upload == 0 {
            tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        } else {
            write!(
                tls,
                "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: {upload}\r\nConnection: close\r\n\r\n"
            )?;
        }
        let start = Instant::now();
        let mut left = upload;
        buf.fill(b'u');
        while left > 0 {
            let n = left.min(buf.len());
            tls.write_all(&buf[..n])?;
            left -= n;
        }
        let (mut total, mut first_byte) = (0, None);
        loop {
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    first_byte.get_or_insert_with(|| start.elapsed());
                    total += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e.into()),
            }
        }
        tv.push(if upload == 0 {
            total as f64 / 1e6 / start.elapsed().as_secs_f64()
        } else {
            let secs = first_byte.ok_or_else(|| format_err!("no response to the POST"))?;
            upload as f64 / 1e6 / secs.as_secs_f64()
        });
    }
    Ok((median(hv), median(tv)))
}

/// A scenario-component instance kept across bench calls.
pub struct BenchSession {
    store: Store<Host>,
    func: BenchFunc,
    fixtures: Vec<(String, Vec<u8>)>,
}

impl BenchSession {
    /// Runs one workload; returns its figures.
    pub fn call(&mut self, workload: Workload) -> Result<Figures> {
        let what = format!("{workload:?}");
        self.func
            .call(&mut self.store, (self.fixtures.clone(), workload))?
            .0
            .map_err(|e| format_err!("bench {what}: {e}"))
    }

    /// Runs a handshake workload; returns its figures.
    pub fn handshakes(&mut self, workload: Workload) -> Result<HandshakeFigures> {
        match self.call(workload)? {
            Figures::Handshakes(f) => Ok(f),
            other => bail!("a handshake workload answered {other:?}"),
        }
    }

    /// The store's linear memory now (application and guest), in bytes.
    pub fn linear_memory(&self) -> usize {
        self.store.data().linear_memory().0
    }
}

/// An instance of the scenario component for [`BenchSession::call`].
pub fn bench_session(scenarios: &Scenarios, fixtures: &Fixtures) -> Result<BenchSession> {
    let (mut store, instance) = scenarios.instantiate()?;
    let func = Scenarios::func(&mut store, &instance, "bench")?;
    Ok(BenchSession {
        store,
        func,
        fixtures: fixtures.0.clone().into_iter().collect(),
    })
}

/// The baseline: the same workloads on rustls, in this process.
struct DirectRustls {
    roots: HashMap<String, Arc<RootCertStore>>,
    chains: HashMap<String, (Vec<CertificateDer<'static>>, Vec<u8>)>,
}

impl DirectRustls {
    fn new(f: &Fixtures) -> Result<Self> {
        let mut roots = HashMap::new();
        for ca in ["ca", "ed-ca"] {
            let mut store = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&f.0[ca]) {
                store.add(c?)?;
            }
            roots.insert(ca.to_string(), Arc::new(store));
        }
        let mut chains = HashMap::new();
        for name in ["server", "ed25519-all", "rsa"] {
            let certs = CertificateDer::pem_slice_iter(&f.0[&format!("{name}.chain")])
                .collect::<std::result::Result<Vec<_>, _>>()?;
            chains.insert(
                name.to_string(),
                (certs, f.0[&format!("{name}.key")].clone()),
            );
        }
        Ok(Self { roots, chains })
    }

    fn provider(suite: Option<u16>) -> Arc<rustls::crypto::CryptoProvider> {
        let mut p = rustls::crypto::ring::default_provider();
        if let Some(id) = suite {
            p.cipher_suites.retain(|s| u16::from(s.suite()) == id);
        }
        Arc::new(p)
    }

    fn client(&self, suite: Option<u16>) -> Result<Arc<ClientConfig>> {
        self.client_trusting("ca", suite)
    }

    fn client_trusting(&self, ca: &str, suite: Option<u16>) -> Result<Arc<ClientConfig>> {
        let versions: &[&rustls::SupportedProtocolVersion] = match suite {
            Some(id) if id >> 8 != 0x13 => &[&rustls::version::TLS12],
            _ => rustls::DEFAULT_VERSIONS,
        };
        Ok(Arc::new(
            ClientConfig::builder_with_provider(Self::provider(suite))
                .with_protocol_versions(versions)?
                .with_root_certificates(self.roots[ca].clone())
                .with_no_client_auth(),
        ))
    }

    fn server(&self, chain: &str, suite: Option<u16>) -> Result<Arc<ServerConfig>> {
        let (certs, key) = &self.chains[chain];
        let mut config = ServerConfig::builder_with_provider(Self::provider(suite))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs.clone(), PrivateKeyDer::from_pem_slice(key)?)?;
        config.ticketer = rustls::crypto::ring::Ticketer::new()?;
        Ok(Arc::new(config))
    }

    fn pair(
        client: &Arc<ClientConfig>,
        server: &Arc<ServerConfig>,
    ) -> Result<(ClientConnection, ServerConnection)> {
        let mut c = ClientConnection::new(client.clone(), ServerName::try_from("localhost")?)?;
        let mut s = ServerConnection::new(server.clone())?;
        let mut buf = Vec::new();
        for _ in 0..100 {
            let moved = pump(&mut c, &mut s, &mut buf)? + pump(&mut s, &mut c, &mut buf)?;
            if moved == 0 && !c.is_handshaking() && !s.is_handshaking() {
                return Ok((c, s));
            }
        }
        bail!("native handshake did not finish")
    }

    fn full(&self, chain: &str, ca: &str, n: u32) -> Result<f64> {
        let server = self.server(chain, None)?;
        let start = Instant::now();
        for _ in 0..n {
            // A new client configuration each time, as the component makes a new
            // client context: nothing to resume.
            let client = self.client_trusting(ca, None)?;
            Self::pair(&client, &server)?;
        }
        Ok(start.elapsed().as_nanos() as f64)
    }

    fn resumed(&self, n: u32) -> Result<f64> {
        let (client, server) = (self.client(None)?, self.server("server", None)?);
        Self::warm(&client, &server)?;
        let start = Instant::now();
        for _ in 0..n {
            let (c, _) = Self::warm(&client, &server)?;
            if c.handshake_kind() != Some(rustls::HandshakeKind::Resumed) {
                bail!("native: not resumed");
            }
        }
        Ok(start.elapsed().as_nanos() as f64)
    }

    /// A handshake followed by one server byte (which carries the tickets).
    fn warm(
        client: &Arc<ClientConfig>,
        server: &Arc<ServerConfig>,
    ) -> Result<(ClientConnection, ServerConnection)> {
        let (mut c, mut s) = Self::pair(client, server)?;
        s.writer().write_all(b"t")?;
        let mut buf = Vec::new();
        pump(&mut s, &mut c, &mut buf)?;
        let mut one = [0];
        c.reader().read_exact(&mut one)?;
        Ok((c, s))
    }

    fn bulk(&self, suite: u16, records: u32) -> Result<(f64, f64)> {
        let (client, server) = (
            self.client(Some(suite))?,
            self.server("server", Some(suite))?,
        );
        let (mut c, mut s) = Self::warm(&client, &server)?;
        let plaintext = vec![0x5a_u8; RECORD];
        let (mut encrypt, mut decrypt) = (0.0, 0.0);
        let mut buf = vec![0; RECORD];
        let mut received = 0;
        let mut ciphertext = Vec::with_capacity(RECORD + 64);
        for _ in 0..records {
            let start = Instant::now();
            ciphertext.clear();
            c.writer().write_all(&plaintext)?;
            while c.wants_write() {
                c.write_tls(&mut ciphertext)?;
            }
            encrypt += start.elapsed().as_nanos() as f64;
            let start = Instant::now();
            let mut slice = &ciphertext[..];
            while !slice.is_empty() {
                s.read_tls(&mut slice)?;
                s.process_new_packets()?;
                loop {
                    match s.reader().read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => received += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            decrypt += start.elapsed().as_nanos() as f64;
        }
        if received != RECORD * records as usize {
            bail!("native bulk: received {received}");
        }
        Ok((encrypt, decrypt))
    }

    /// Heap bytes per idle connection (client and server each count as one).
    fn idle(&self, n: u32, heap: fn() -> usize) -> Result<f64> {
        let (client, server) = (self.client(None)?, self.server("server", None)?);
        drop(Self::warm(&client, &server)?);
        let before = heap();
        let held = (0..n)
            .map(|_| Self::warm(&client, &server))
            .collect::<Result<Vec<_>>>()?;
        let grown = heap().saturating_sub(before) as f64;
        drop(held);
        Ok(grown / f64::from(2 * n))
    }

    fn first_handshake_ms(&self) -> Result<f64> {
        let start = Instant::now();
        let (client, server) = (self.client(None)?, self.server("server", None)?);
        Self::pair(&client, &server)?;
        Ok(start.elapsed().as_secs_f64() * 1e3)
    }
}

/// Moves all waiting TLS bytes from one rustls connection to the other.
fn pump(
    from: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl rustls::SideData>>,
    to: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl rustls::SideData>>,
    buf: &mut Vec<u8>,
) -> Result<usize> {
    buf.clear();
    while from.wants_write() {
        from.write_tls(buf)?;
    }
    let mut slice = &buf[..];
    while !slice.is_empty() {
        to.read_tls(&mut slice)?;
        to.process_new_packets()?;
    }
    Ok(buf.len())
}

/// The CPU model and core count, for reports.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    // memtls's host crates keep debug assertions only in the dev profile.
    let profile = match cfg!(debug_assertions) {
        true => "host code: dev profile",
        false => "host code: release profile",
    };
    format!("{cpu}, {cores} cores; {profile}")
}

/// The table: one row per figure, ratios to the baseline next to each value.
pub fn table(figures: &[Figure]) -> String {
    table_of(
        &COLUMNS,
        &BASELINE,
        figures,
        "ratios: to rustls directly; the openssl provider's to libssl directly\n",
    )
}

/// A table of `figures` over `columns`, each value followed by its ratio to
/// column `baseline[i]` (none in the baseline's own column), then `note`.
pub fn table_of(columns: &[&str], baseline: &[usize], figures: &[Figure], note: &str) -> String {
    let mut out = format!("{:<46}", "figure");
    for c in columns {
        out += &format!("{c:>22}");
    }
    out.push('\n');
    for f in figures {
        out += &format!("{:<46}", format!("{} ({})", f.name, f.unit));
        for (i, v) in f.values.iter().enumerate() {
            let cell = match (v, f.ratio_to(i, baseline[i])) {
                (None, _) => "-".to_string(),
                (Some(v), Some(r)) if i != baseline[i] => format!("{} ({r:.2}x)", number(*v)),
                (Some(v), _) => number(*v),
            };
            out += &format!("{cell:>22}");
        }
        out.push('\n');
    }
    out += note;
    out
}

fn number(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A bar chart (SVG) of every throughput figure as a ratio to rustls directly.
pub fn svg(figures: &[Figure], title: &str) -> String {
    svg_of(&COLUMNS, 0, figures, title)
}

/// A bar chart (SVG) of every throughput figure over `columns`, each as a
/// ratio to column `base`.
pub fn svg_of(columns: &[&str], base: usize, figures: &[Figure], title: &str) -> String {
    let rows: Vec<&Figure> = figures.iter().filter(|f| f.higher_is_better).collect();
    let colors = [
        "#555555", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
    ];
    let (left, bar, gap, width) = (330.0, 9.0, 10.0, 420.0);
    let row_h = bar * columns.len() as f64 + gap;
    let height = 60.0 + row_h * rows.len() as f64 + 30.0;
    let max = rows
        .iter()
        .flat_map(|f| (0..columns.len()).filter_map(|i| f.ratio_to(i, base)))
        .fold(1.0_f64, f64::max)
        .max(1.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" \
         fill=\"white\"/>\n<text x=\"10\" y=\"18\" font-size=\"13\">{title}</text>\n",
        w = left + width + 80.0
    );
    for (i, c) in columns.iter().enumerate() {
        let x = 10.0 + 125.0 * i as f64;
        s += &format!(
            "<rect x=\"{x}\" y=\"28\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"37\">{c}</text>\n",
            colors[i],
            x + 14.0
        );
    }
    let one = left + width / max;
    s += &format!(
        "<line x1=\"{one}\" y1=\"45\" x2=\"{one}\" y2=\"{}\" stroke=\"#999\" \
         stroke-dasharray=\"3,3\"/>\n<text x=\"{one}\" y=\"{}\" text-anchor=\"middle\">1.0x \
         ({})</text>\n",
        height - 25.0,
        height - 12.0,
        columns[base]
    );
    for (r, f) in rows.iter().enumerate() {
        let y0 = 50.0 + row_h * r as f64;
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} ({})</text>\n",
            left - 8.0,
            y0 + bar * 2.0 + 3.0,
            f.name,
            f.unit
        );
        for (i, color) in colors.iter().enumerate() {
            if let Some(ratio) = f.ratio_to(i, base) {
                let y = y0 + bar * i as f64;
                s += &format!(
                    "<rect x=\"{left}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\"/>\
                     <text x=\"{:.1}\" y=\"{}\" font-size=\"9\">{ratio:.2}x</text>\n",
                    width * ratio / max,
                    bar - 1.0,
                    color,
                    left + width * ratio / max + 3.0,
                    y + bar - 2.0
                );
            }
        }
    }
    s += "</svg>\n";
    s
}

//! The point of comparison for the benchmarks: the `https-get` workload through
//! wasmtime's own `wasi:tls/types@0.2.0-draft` (wasmtime-wasi-tls 48, p2, on
//! rustls with ring) instead of memtls.
//!
//! The client component (`tests/wasi-tls-client`, built by this crate's build
//! script) connects over wasi:sockets, hands the TCP streams to wasi:tls, sends
//! a GET and reads the response to its end, REPEAT times, and prints one
//! `memtls-result` line with the keys `https-get` uses.
//!
//! wasmtime-wasi-tls's own rustls provider trusts only the webpki roots;
//! [`CaProvider`] does what it does (a `tokio_rustls::TlsConnector` over the
//! transport, one shared client configuration) with a given CA instead, so that
//! it can talk to the loopback demo server.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Result, Store, bail};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_tls::{
    TlsProvider, TlsStream, TlsTransport, WasiTlsCtx, WasiTlsCtxBuilder, WasiTlsCtxView,
    WasiTlsView,
};

/// The wasi:tls client component (built by `memtls-artifacts`;
/// `memtls-wasi-tls-client HOST PORT SERVER_NAME REPEAT`).
pub fn wasi_tls_client_component() -> &'static [u8] {
    memtls_test_artifacts::wasi_tls_client()
}

/// A `wasmtime_wasi_tls::TlsProvider` like the crate's `RustlsProvider` (rustls
/// with ring, TLS 1.2 and 1.3, one client configuration for every connection,
/// so later connections may resume), trusting the given CA certificates instead
/// of the webpki roots.
pub struct CaProvider {
    config: Arc<rustls::ClientConfig>,
}

impl CaProvider {
    /// A provider trusting the certificates in `ca_pem` (one or more, PEM).
    pub fn new(ca_pem: &str) -> Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| wasmtime::format_err!("CA PEM: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| wasmtime::format_err!("CA certificate: {e}"))?;
        }
        if roots.is_empty() {
            bail!("the CA PEM holds no certificate");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| wasmtime::format_err!("rustls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
        })
    }
}

type Connecting =
    Pin<Box<dyn Future<Output = Result<Box<dyn TlsStream>, wasmtime_wasi_tls::Error>> + Send>>;

impl TlsProvider for CaProvider {
    fn connect(&self, server_name: String, transport: Box<dyn TlsTransport>) -> Connecting {
        let connector = TlsConnector::from(Arc::clone(&self.config));
        Box::pin(async move {
            let name = ServerName::try_from(server_name)
                .map_err(|_| wasmtime_wasi_tls::Error::msg("invalid server name"))?;
            let stream = connector.connect(name, transport).await.map_err(|e| {
                // Like the crate's provider: rustls's own error when there is one.
                match e.downcast::<rustls::Error>() {
                    Ok(e) => wasmtime_wasi_tls::Error::msg(e),
                    Err(e) => wasmtime_wasi_tls::Error::msg(e),
                }
            })?;
            Ok(Box::new(stream) as Box<dyn TlsStream>)
        })
    }
}

/// Store data for the client: WASI, wasi:tls, their resource table.
pub struct ClientHost {
    wasi: WasiCtx,
    table: ResourceTable,
    tls: WasiTlsCtx,
}

impl WasiView for ClientHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiTlsView for ClientHost {
    fn tls(&mut self) -> WasiTlsCtxView<'_> {
        WasiTlsCtxView {
            ctx: &mut self.tls,
            table: &mut self.table,
        }
    }
}

/// A finished client run: its exit code and what it wrote; a trap is an
/// error carrying its stderr.
fn finished(
    result: Result<std::result::Result<(), ()>>,
    stdout: &MemoryOutputPipe,
    stderr: &MemoryOutputPipe,
) -> Result<(i32, String, String)> {
    let text = |pipe: &MemoryOutputPipe| String::from_utf8_lossy(&pipe.contents()).into_owned();
    let code = memtls_host::runtime::exit_code(result).map_err(|e| {
        e.context(format!(
            "the component trapped; its stderr:\n{}",
            text(stderr)
        ))
    })?;
    Ok((code, text(stdout), text(stderr)))
}

/// A client's WASI: `program` and `args`, the host's network and name
/// lookups, stdout and stderr captured (returned with it).
fn client_wasi(
    program: &str,
    args: &[&str],
) -> (WasiCtxBuilder, MemoryOutputPipe, MemoryOutputPipe) {
    let stdout = MemoryOutputPipe::new(1 << 20);
    let stderr = MemoryOutputPipe::new(1 << 20);
    let mut wasi = WasiCtx::builder();
    wasi.arg(program)
        .args(args)
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .inherit_network()
        .allow_ip_name_lookup(true)
        .allow_tcp(true);
    (wasi, stdout, stderr)
}

/// The client compiled (with the shared engine's cache) and linked against
/// WASI 0.2 and wasi:tls, once per process.
fn prepared() -> Result<&'static InstancePre<ClientHost>> {
    static PRE: OnceLock<InstancePre<ClientHost>> = OnceLock::new();
    if let Some(pre) = PRE.get() {
        return Ok(pre);
    }
    let engine = memtls_host::runtime::engine();
    let component = Component::new(engine, wasi_tls_client_component())
        .context("compiling the wasi:tls client")?;
    let mut linker = Linker::<ClientHost>::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let mut options = wasmtime_wasi_tls::p2::LinkOptions::default();
    options.tls(true);
    wasmtime_wasi_tls::p2::add_to_linker(&mut linker, &options)?;
    let pre = linker
        .instantiate_pre(&component)
        .context("linking the wasi:tls client")?;
    Ok(PRE.get_or_init(|| pre))
}

/// wasmtime-wasi-tls's context builder. Its default provider asks rustls for
/// the process's default crypto provider, which rustls cannot choose when a
/// test crate also enables aws-lc-rs (tests/external's post-quantum peer):
/// ring, memtls's, is installed first.
fn wasi_tls_builder() -> WasiTlsCtxBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    WasiTlsCtxBuilder::new()
}

/// Runs the wasi:tls client component with `args` (`HOST PORT SERVER_NAME
/// REPEAT`, without the program name), trusting the CA certificates in
/// `ca_pem`, with the host's network. Returns its exit code, stdout and stderr.
///
/// The store is synchronous: wasmtime-wasi runs the pollables (and the TLS
/// handshake and record I/O that wasi:tls spawns) on its internal tokio runtime.
pub fn run_client(args: &[&str], ca_pem: &str) -> Result<(i32, String, String)> {
    let pre = prepared()?;
    let (mut wasi, stdout, stderr) = client_wasi("memtls-wasi-tls-client", args);
    let tls = wasi_tls_builder()
        .provider(Box::new(CaProvider::new(ca_pem)?))
        .build();
    let mut store = Store::new(
        memtls_host::runtime::engine(),
        ClientHost {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            tls,
        },
    );
    let instance = pre.instantiate(&mut store)?;
    let command = Command::new(&mut store, &instance)?;
    let result = command.wasi_cli_run().call_run(&mut store);
    finished(result, &stdout, &stderr)
}

/// The wasi:tls 0.3 program (`memtls-wasi-tls-p3-client HOST PORT SERVER_NAME
/// REPEAT`, built by `memtls-artifacts`), which memtls serves through its
/// adapter and wasmtime-wasi-tls through its p3 host.
pub fn wasi_tls_p3_client_component() -> &'static [u8] {
    memtls_test_artifacts::wasi_tls_p3_client()
}

/// Who serves a WASI 0.3 program's wasi:tls in [`run_p3`].
pub enum P3Tls<'a> {
    /// wasmtime-wasi-tls's p3 host, trusting the CA certificates in the PEM.
    Wasmtime(&'a str),
    /// Nobody: a plain wasmtime host with WASI 0.2 and 0.3 only, for a
    /// component that carries its TLS inside (`memtls compose`).
    None,
}

/// Runs a WASI 0.3 command component (`wasi:cli/run@0.3`) with `args`
/// (without the program name) and the host's network, on wasmtime's async
/// API: WASI 0.2 and 0.3 linked, and wasi:tls 0.3 as `tls` says. Returns its
/// exit code, stdout and stderr.
pub fn run_p3(component: &[u8], args: &[&str], tls: P3Tls) -> Result<(i32, String, String)> {
    let engine = memtls_host::runtime::engine();
    let component = Component::new(engine, component).context("compiling the component")?;
    let mut linker = Linker::<ClientHost>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    let mut tls_ctx = wasi_tls_builder();
    if let P3Tls::Wasmtime(ca_pem) = tls {
        wasmtime_wasi_tls::p3::add_to_linker(&mut linker)?;
        tls_ctx = tls_ctx.provider(Box::new(CaProvider::new(ca_pem)?));
    }
    let (mut wasi, stdout, stderr) = client_wasi("wasi-p3-program", args);
    let mut store = Store::new(
        engine,
        ClientHost {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            tls: tls_ctx.build(),
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let command = wasmtime_wasi::p3::bindings::Command::instantiate_async(
            &mut store, &component, &linker,
        )
        .await?;
        store
            .run_concurrent(async move |store| command.wasi_cli_run().call_run(store).await)
            .await?
    });
    finished(result, &stdout, &stderr)
}

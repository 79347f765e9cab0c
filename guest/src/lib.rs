//! The guest provider: `memtls:tls` exported by a `wasm32-wasip2` component.
//!
//! rustls runs inside Wasm with crypto from ring and system trust from the
//! Mozilla roots (webpki-roots). This crate is thin glue: every semantic lives in
//! `memtls-engine`; here WIT types are converted to engine types and back.
//!
//! Building it for `wasm32-wasip2` needs `clang` (ring compiles C and assembly for
//! the target); the workspace builds it automatically (see `memtls-wasm-build`).
//!
//! Policy: the guest has no host to ask, so it reads the embedder's policy from
//! its WASI environment (see `memtls_host::Policy::guest_environment`):
//! `MEMTLS_ALLOW_INSECURE=1` enables the `insecure` interface,
//! `MEMTLS_MAX_CONNECTIONS` and `MEMTLS_MAX_BUFFERED_BYTES` set the limits, and
//! `MEMTLS_EXTRA_SYSTEM_ANCHORS` (PEM text) adds anchors to `system` trust.

#![warn(missing_docs)]

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use memtls_engine as engine;

// Generated from the documented WIT; some generated items carry no docs.
#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "provider",
        path: "../wit",
        default_bindings_module: "crate::bindings",
    });
}
use bindings::exports;

use exports::memtls::tls::insecure::Guest as InsecureGuest;
use exports::memtls::tls::tls::{
    self as wit, CipherSuite, ClientConfig, Error, Guest, GuestClientContext, GuestConnection,
    GuestServerContext, ImplementationInfo, ProtocolVersion, ReadOutcome, ServerConfig, TrustStore,
    WriteOutcome,
};

/// The exported component.
pub struct Provider;

/// The policy the embedder put in the environment.
struct Policy {
    allow_insecure: bool,
    max_connections: usize,
    max_buffered: usize,
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| Policy {
        allow_insecure: std::env::var("MEMTLS_ALLOW_INSECURE").as_deref() == Ok("1"),
        max_connections: env_number("MEMTLS_MAX_CONNECTIONS", 1024),
        max_buffered: env_number("MEMTLS_MAX_BUFFERED_BYTES", engine::DEFAULT_MAX_BUFFERED),
    })
}

/// `system` trust inside the guest: the Mozilla roots plus the embedder's extra
/// anchors (or the reason those did not parse).
struct GuestTrust(Result<engine::StaticRoots, String>);

impl engine::SystemTrust for GuestTrust {
    fn server_verifier(
        &self,
        extra_anchors: Vec<engine::rustls::pki_types::CertificateDer<'static>>,
        provider: Arc<engine::rustls::crypto::CryptoProvider>,
    ) -> Result<Arc<dyn engine::rustls::client::danger::ServerCertVerifier>, engine::rustls::Error>
    {
        match &self.0 {
            Ok(roots) => roots.server_verifier(extra_anchors, provider),
            Err(why) => Err(engine::rustls::Error::General(why.clone())),
        }
    }
}

fn system_roots() -> Result<engine::StaticRoots, String> {
    let mut roots = engine::rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Ok(pem) = std::env::var("MEMTLS_EXTRA_SYSTEM_ANCHORS") {
        let certs = engine::parse_certificates(&[pem.into_bytes()], "MEMTLS_EXTRA_SYSTEM_ANCHORS")
            .map_err(|e| e.message)?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("MEMTLS_EXTRA_SYSTEM_ANCHORS: unusable anchor: {e}"))?;
        }
    }
    Ok(engine::StaticRoots(Arc::new(roots)))
}

fn engine() -> &'static engine::Engine {
    static ENGINE: OnceLock<engine::Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        engine::Engine::new(engine::EngineOptions {
            name: "memtls-guest (rustls, ring, webpki-roots; inside Wasm)".into(),
            version: format!("{} (rustls 0.23)", env!("CARGO_PKG_VERSION")),
            crypto: engine::rustls::crypto::ring::default_provider(),
            system_trust: Arc::new(GuestTrust(system_roots())),
            prefer_chacha20: true,
            max_buffered: policy().max_buffered,
        })
    })
}

/// Live connections of this instance (the component is single-threaded).
static LIVE: AtomicUsize = AtomicUsize::new(0);

fn new_connection(c: engine::Result<engine::Connection>) -> R<wit::Connection> {
    let max = policy().max_connections;
    if LIVE.load(Ordering::Relaxed) >= max {
        return Err(from_engine_error(engine::Error::limit(format!(
            "the host allows at most {max} live connections per instance"
        ))));
    }
    let c = lift(c)?;
    LIVE.fetch_add(1, Ordering::Relaxed);
    Ok(wit::Connection::new(Connection(RefCell::new(c))))
}

impl Drop for Connection {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

memtls_engine::wit_conversions!(crate::exports::memtls::tls::tls);
use convert::{from_engine_error, to_client_config, to_server_config, to_trust};

type R<T> = Result<T, Error>;

fn lift<T>(r: engine::Result<T>) -> R<T> {
    r.map_err(from_engine_error)
}

/// A client context resource.
pub struct ClientContext(engine::ClientContext);
/// A server context resource.
pub struct ServerContext(engine::ServerContext);
/// A connection resource.
pub struct Connection(RefCell<engine::Connection>);

impl Guest for Provider {
    type ClientContext = ClientContext;
    type ServerContext = ServerContext;
    type Connection = Connection;

    fn implementation() -> ImplementationInfo {
        let (name, version) = engine().implementation();
        ImplementationInfo { name, version }
    }

    fn supported_versions() -> Vec<ProtocolVersion> {
        engine()
            .supported_versions()
            .into_iter()
            .map(convert::from_version)
            .collect()
    }

    fn supported_cipher_suites() -> Vec<CipherSuite> {
        engine()
            .supported_cipher_suites()
            .into_iter()
            .map(convert::from_suite)
            .collect()
    }

    fn verify_server_chain(
        trust: TrustStore,
        chain: Vec<Vec<u8>>,
        server_name: String,
        at_time: Option<u64>,
    ) -> R<()> {
        lift(engine().verify_server_chain(&to_trust(trust), &chain, &server_name, at_time))
    }
}

fn client_context(config: ClientConfig, v: engine::Verification) -> R<wit::ClientContext> {
    let ctx = lift(engine().client_context(&to_client_config(config), v))?;
    Ok(wit::ClientContext::new(ClientContext(ctx)))
}

impl GuestClientContext for ClientContext {
    fn create(config: ClientConfig) -> R<wit::ClientContext> {
        client_context(config, engine::Verification::Full)
    }

    fn connect(&self, server_name: String) -> R<wit::Connection> {
        new_connection(self.0.connect(&server_name))
    }
}

impl GuestServerContext for ServerContext {
    fn create(config: ServerConfig) -> R<wit::ServerContext> {
        let ctx = lift(engine().server_context(&to_server_config(config)))?;
        Ok(wit::ServerContext::new(ServerContext(ctx)))
    }

    fn accept(&self) -> R<wit::Connection> {
        new_connection(self.0.accept())
    }
}

impl GuestConnection for Connection {
    fn feed(&self, data: Vec<u8>) -> R<u32> {
        lift(self.0.borrow_mut().feed(&data))
    }
    fn eof(&self) -> R<()> {
        lift(self.0.borrow_mut().eof())
    }
    fn take(&self, max: u32) -> Vec<u8> {
        self.0.borrow_mut().take(max)
    }
    fn pending_ciphertext(&self) -> u32 {
        self.0.borrow().pending_ciphertext()
    }
    fn handshake(&self) -> R<wit::Progress> {
        lift(self.0.borrow_mut().handshake()).map(convert::from_progress)
    }
    fn is_handshake_complete(&self) -> bool {
        self.0.borrow().is_handshake_complete()
    }
    fn read(&self, max: u32) -> R<ReadOutcome> {
        lift(self.0.borrow_mut().read(max)).map(convert::from_read)
    }
    fn write(&self, data: Vec<u8>) -> R<WriteOutcome> {
        lift(self.0.borrow_mut().write(&data)).map(convert::from_write)
    }
    fn pending_plaintext(&self) -> u32 {
        self.0.borrow().pending_plaintext()
    }
    fn shutdown(&self) -> R<wit::Progress> {
        lift(self.0.borrow_mut().shutdown()).map(convert::from_progress)
    }
    fn peer_closed(&self) -> bool {
        self.0.borrow().peer_closed()
    }
    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0
            .borrow()
            .protocol_version()
            .map(convert::from_version)
    }
    fn cipher_suite(&self) -> Option<CipherSuite> {
        self.0.borrow().cipher_suite().map(convert::from_suite)
    }
    fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.0.borrow().alpn_protocol()
    }
    fn peer_certificates(&self) -> Vec<Vec<u8>> {
        self.0.borrow().peer_certificates()
    }
    fn server_name(&self) -> Option<String> {
        self.0.borrow().server_name()
    }
    fn resumed(&self) -> bool {
        self.0.borrow().resumed()
    }
    fn export_keying_material(
        &self,
        label: Vec<u8>,
        context: Option<Vec<u8>>,
        length: u32,
    ) -> R<Vec<u8>> {
        lift(
            self.0
                .borrow()
                .export_keying_material(&label, context.as_deref(), length),
        )
    }
    fn request_key_update(&self) -> R<()> {
        lift(self.0.borrow_mut().request_key_update())
    }
}

fn insecure_allowed() -> R<()> {
    if policy().allow_insecure {
        Ok(())
    } else {
        Err(from_engine_error(engine::Error::not_permitted(
            "the insecure interface is disabled: the embedder must set MEMTLS_ALLOW_INSECURE=1 \
             in the component's environment to allow it",
        )))
    }
}

impl InsecureGuest for Provider {
    fn client_context_without_hostname_check(config: ClientConfig) -> R<wit::ClientContext> {
        insecure_allowed()?;
        client_context(config, engine::Verification::WithoutHostname)
    }

    fn client_context_without_verification(config: ClientConfig) -> R<wit::ClientContext> {
        insecure_allowed()?;
        client_context(config, engine::Verification::None)
    }
}

bindings::export!(Provider);

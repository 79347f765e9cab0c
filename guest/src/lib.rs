//! The guest provider: `memtls:tls` exported by a `wasm32-wasip2` component.
//!
//! rustls runs inside Wasm with crypto from ring and system trust from the
//! Mozilla roots (webpki-root-certs, the engine's), or what the policy chooses. This crate is thin glue: every semantic lives in
//! `memtls-engine`; here WIT types are converted to engine types and back.
//!
//! Building it for `wasm32-wasip2` needs `clang` (ring compiles C and assembly for
//! the target); the workspace builds it automatically (see `memtls-artifacts`).
//!
//! Policy: the guest imports `memtls:tls/policy`, which the host satisfies with a
//! small component it generates when it composes the guest into an application,
//! the values baked in (`memtls_host::compose_with_guest`). The application cannot
//! reach that import, and the guest reads nothing from its environment.

#![warn(missing_docs)]

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use memtls_engine as engine;
use memtls_engine::{
    TlsAcceptor, TlsClientContext, TlsConnection, TlsProvider, TlsServerContext, TlsSession,
};

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
use bindings::memtls::tls::policy::BaseRoots;

use exports::memtls::tls::insecure::Guest as InsecureGuest;
use exports::memtls::tls::tls::{
    self as wit, CipherSuite, ClientConfig, Error, Guest, GuestAcceptor, GuestClientContext,
    GuestConnection, GuestServerContext, GuestSession, ImplementationInfo, ProtocolVersion,
    ReadOutcome, ServerConfig, SessionInfo, TrustStore, WriteOutcome,
};

/// The exported component.
pub struct Provider;

/// The embedder's policy, asked for once, applied to this instance.
fn admission() -> &'static engine::Admission {
    static ADMISSION: OnceLock<engine::Admission> = OnceLock::new();
    ADMISSION.get_or_init(|| {
        let p = bindings::memtls::tls::policy::current();
        let n = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
        engine::Admission::new(engine::Policy {
            allow_insecure: p.allow_insecure,
            max_connections: n(p.max_connections),
            max_contexts: n(p.max_contexts),
            max_buffered_bytes: n(p.max_buffered_bytes),
            max_config_bytes: n(p.max_config_bytes),
            max_chain_certificates: n(p.max_chain_certificates),
            max_chain_bytes: n(p.max_chain_bytes),
            base_roots: match p.base_roots {
                BaseRoots::Platform => engine::BaseRoots::Platform,
                BaseRoots::Mozilla => engine::BaseRoots::Mozilla,
                BaseRoots::None => engine::BaseRoots::None,
            },
            extra_system_anchors: p.extra_system_anchors,
            identities: p.identities.into_iter().filter_map(granted).collect(),
        })
    })
}

/// An identity the host holds, as the policy grants it: its chain here, its
/// key in the host, which signs through the `host-signer` import. (The host
/// made the record from an identity it checked; one that does not rebuild is
/// left out, and naming it is then `not-permitted`.)
fn granted(
    identity: bindings::memtls::tls::policy::GrantedIdentity,
) -> Option<Arc<engine::HostIdentity>> {
    use engine::rustls::SignatureScheme;
    let purposes: Vec<engine::Purpose> = [
        (identity.client, engine::Purpose::Client),
        (identity.server, engine::Purpose::Server),
    ]
    .into_iter()
    .filter_map(|(granted, purpose)| granted.then_some(purpose))
    .collect();
    if purposes.is_empty() {
        return None;
    }
    let chain = identity
        .certificates
        .into_iter()
        .map(engine::rustls::pki_types::CertificateDer::from)
        .collect();
    let schemes = identity
        .schemes
        .into_iter()
        .map(SignatureScheme::from)
        .collect();
    let name = identity.name.clone();
    let sign = move |scheme: SignatureScheme, message: &[u8]| {
        bindings::memtls::tls::host_signer::sign(&name, u16::from(scheme), message)
    };
    engine::HostIdentity::delegated(&identity.name, chain, &purposes, schemes, Arc::new(sign))
        .ok()
        .map(Arc::new)
}

/// This instance's provider: the engine on rustls under the policy. No
/// platform inside the sandbox (ring's default has none): `platform` trust
/// means the Mozilla roots.
fn provider() -> &'static engine::RustlsProvider {
    static PROVIDER: OnceLock<engine::RustlsProvider> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let policy = admission().policy();
        let engine = engine::Engine::new(engine::EngineOptions {
            version: format!("{} (rustls 0.23)", env!("CARGO_PKG_VERSION")),
            base_roots: policy.base_roots,
            extra_system_anchors: policy.extra_system_anchors.clone(),
            prefer_chacha20: true,
            ..engine::EngineOptions::ring("memtls-guest (rustls, ring, Mozilla roots; inside Wasm)")
        });
        engine::RustlsProvider::new(Arc::new(engine), admission().clone())
    })
}

fn new_connection(c: engine::Result<Box<dyn TlsConnection>>) -> R<wit::Connection> {
    Ok(wit::Connection::new(Connection(RefCell::new(lift(c)?))))
}

memtls_wit::wit_conversions!(crate::exports::memtls::tls::tls);
use convert::{from_engine_error, to_client_config, to_server_config, to_trust};

type R<T> = Result<T, Error>;

fn lift<T>(r: engine::Result<T>) -> R<T> {
    r.map_err(from_engine_error)
}

/// A client context resource.
pub struct ClientContext(Box<dyn TlsClientContext>);
/// A server context resource.
pub struct ServerContext(Arc<dyn TlsServerContext>);
/// A connection resource.
pub struct Connection(RefCell<Box<dyn TlsConnection>>);
/// A client session resource.
pub struct Session(Box<dyn TlsSession>);
/// An acceptor resource.
pub struct Acceptor(RefCell<Box<dyn TlsAcceptor>>);

impl Guest for Provider {
    type ClientContext = ClientContext;
    type ServerContext = ServerContext;
    type Connection = Connection;
    type Session = Session;
    type Acceptor = Acceptor;

    fn implementation() -> ImplementationInfo {
        let (name, version) = provider().implementation();
        ImplementationInfo { name, version }
    }

    fn supported_versions() -> Vec<ProtocolVersion> {
        let versions = provider().supported_versions();
        versions.into_iter().map(convert::from_version).collect()
    }

    fn supported_cipher_suites() -> Vec<CipherSuite> {
        let suites = provider().supported_cipher_suites();
        suites.into_iter().map(convert::from_suite).collect()
    }

    fn supported_key_exchange_groups() -> Vec<wit::KeyExchangeGroup> {
        let groups = provider().supported_key_exchange_groups();
        groups.into_iter().map(convert::from_group).collect()
    }

    fn verify_server_chain(
        trust: TrustStore,
        chain: Vec<Vec<u8>>,
        server_name: String,
        at_time: Option<u64>,
    ) -> R<()> {
        let trust = to_trust(trust);
        let call = engine::ChainCheck {
            trust: &trust,
            chain: &chain,
            server_name: &server_name,
            at_time,
        };
        lift(provider().verify_server_chain(&call))
    }

    fn decode_certificate(der: Vec<u8>) -> R<wit::CertificateInfo> {
        let info = admission()
            .transient(der.len())
            .and_then(|()| provider().decode_certificate(&der));
        lift(info).map(convert::from_certificate_info)
    }

    fn host_identity_certificates(name: String) -> R<Vec<Vec<u8>>> {
        lift(provider().host_identity_certificates(&name))
    }
}

fn client_context(config: ClientConfig, v: engine::Verification) -> R<wit::ClientContext> {
    let ctx = lift(provider().client_context(&to_client_config(config), v))?;
    Ok(wit::ClientContext::new(ClientContext(ctx)))
}

impl GuestClientContext for ClientContext {
    fn create(config: ClientConfig) -> R<wit::ClientContext> {
        client_context(config, engine::Verification::Full)
    }

    fn connect(&self, server_name: String) -> R<wit::Connection> {
        new_connection(self.0.connect(&server_name))
    }

    fn connect_with(
        &self,
        server_name: String,
        resume: Option<wit::SessionBorrow<'_>>,
    ) -> R<wit::Connection> {
        let resume = resume.map(|s| s.get::<Session>().0.as_ref());
        new_connection(self.0.connect_with(&server_name, resume))
    }
}

impl GuestAcceptor for Acceptor {
    fn create() -> R<wit::Acceptor> {
        let a = lift(provider().acceptor())?;
        Ok(wit::Acceptor::new(Acceptor(RefCell::new(a))))
    }
    fn feed(&self, data: Vec<u8>) -> R<u32> {
        lift(self.0.borrow_mut().feed(&data))
    }
    fn eof(&self) -> R<()> {
        lift(self.0.borrow_mut().eof())
    }
    fn client_hello(&self) -> Option<wit::ClientHello> {
        self.0
            .borrow()
            .client_hello()
            .as_ref()
            .map(convert::from_client_hello)
    }
    fn accept(&self, context: wit::ServerContextBorrow<'_>) -> R<wit::Connection> {
        let context = &context.get::<ServerContext>().0;
        new_connection(context.accept_from(self.0.borrow_mut().as_mut()))
    }
    fn refuse(&self, description: u8) -> R<()> {
        lift(self.0.borrow_mut().refuse(description))
    }
    fn take(&self, max: u32) -> Vec<u8> {
        self.0.borrow_mut().take(max)
    }
    fn pending_ciphertext(&self) -> u32 {
        self.0.borrow().pending_ciphertext()
    }
}

impl GuestSession for Session {
    fn info(&self) -> SessionInfo {
        convert::from_session_info(self.0.info())
    }
    fn is_usable(&self) -> bool {
        self.0.is_usable()
    }
}

impl GuestServerContext for ServerContext {
    fn create(config: ServerConfig) -> R<wit::ServerContext> {
        let ctx = lift(provider().server_context(&to_server_config(config)))?;
        Ok(wit::ServerContext::new(ServerContext(ctx)))
    }

    fn accept(&self) -> R<wit::Connection> {
        new_connection(self.0.accept())
    }
}

impl GuestConnection for Connection {
    fn take(&self, max: u32) -> Vec<u8> {
        self.0.borrow_mut().take(max)
    }
    fn pending_ciphertext(&self) -> u32 {
        self.0.borrow().pending_ciphertext()
    }
    fn is_handshake_complete(&self) -> bool {
        self.0.borrow().is_handshake_complete()
    }
    fn pending_plaintext(&self) -> u32 {
        self.0.borrow().pending_plaintext()
    }
    fn peer_closed(&self) -> bool {
        self.0.borrow().peer_closed()
    }
    fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.0.borrow().alpn_protocol()
    }
    fn peer_certificates(&self) -> Vec<Vec<u8>> {
        self.0.borrow().peer_certificates()
    }
    fn verified_chain(&self) -> Vec<Vec<u8>> {
        self.0.borrow().verified_chain()
    }
    fn server_name(&self) -> Option<String> {
        self.0.borrow().server_name()
    }
    fn resumed(&self) -> bool {
        self.0.borrow().resumed()
    }
    fn feed(&self, data: Vec<u8>) -> R<u32> {
        lift(self.0.borrow_mut().feed(&data))
    }
    fn eof(&self) -> R<()> {
        lift(self.0.borrow_mut().eof())
    }
    fn handshake(&self) -> R<wit::Progress> {
        lift(self.0.borrow_mut().handshake()).map(convert::from_progress)
    }
    fn read(&self, max: u32) -> R<ReadOutcome> {
        lift(self.0.borrow_mut().read(max)).map(convert::from_read)
    }
    fn write(&self, data: Vec<u8>) -> R<WriteOutcome> {
        lift(self.0.borrow_mut().write(&data)).map(convert::from_write)
    }
    fn shutdown(&self) -> R<wit::Progress> {
        lift(self.0.borrow_mut().shutdown()).map(convert::from_progress)
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
    fn key_exchange_group(&self) -> Option<wit::KeyExchangeGroup> {
        self.0
            .borrow()
            .key_exchange_group()
            .map(convert::from_group)
    }
    fn session(&self) -> R<Option<wit::Session>> {
        Ok(lift(self.0.borrow().session())?.map(|s| wit::Session::new(Session(s))))
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

impl InsecureGuest for Provider {
    fn client_context_without_hostname_check(config: ClientConfig) -> R<wit::ClientContext> {
        client_context(config, engine::Verification::WithoutHostname)
    }

    fn client_context_without_verification(config: ClientConfig) -> R<wit::ClientContext> {
        client_context(config, engine::Verification::None)
    }
}

bindings::export!(Provider);

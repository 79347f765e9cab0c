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
use std::sync::OnceLock;

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
        })
    })
}

fn engine() -> &'static engine::Engine {
    static ENGINE: OnceLock<engine::Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // No platform inside the sandbox (ring's default has none): `platform`
        // means the Mozilla roots.
        engine::Engine::new(engine::EngineOptions {
            version: format!("{} (rustls 0.23)", env!("CARGO_PKG_VERSION")),
            base_roots: admission().policy().base_roots,
            extra_system_anchors: admission().policy().extra_system_anchors.clone(),
            prefer_chacha20: true,
            ..engine::EngineOptions::ring("memtls-guest (rustls, ring, Mozilla roots; inside Wasm)")
        })
    })
}

fn new_connection(c: engine::Result<engine::Connection>) -> R<wit::Connection> {
    Ok(wit::Connection::new(Connection(RefCell::new(lift(c)?))))
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
/// A client session resource.
pub struct Session(engine::Session);
/// An acceptor resource.
pub struct Acceptor(RefCell<engine::Acceptor>);

impl Guest for Provider {
    type ClientContext = ClientContext;
    type ServerContext = ServerContext;
    type Connection = Connection;
    type Session = Session;
    type Acceptor = Acceptor;

    fn implementation() -> ImplementationInfo {
        let (name, version) = engine().implementation();
        ImplementationInfo { name, version }
    }

    fn supported_versions() -> Vec<ProtocolVersion> {
        let versions = engine().supported_versions();
        versions.into_iter().map(convert::from_version).collect()
    }

    fn supported_cipher_suites() -> Vec<CipherSuite> {
        let suites = engine().supported_cipher_suites();
        suites.into_iter().map(convert::from_suite).collect()
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
        lift(engine().verify_server_chain(&call, admission()))
    }
}

fn client_context(config: ClientConfig, v: engine::Verification) -> R<wit::ClientContext> {
    let ctx = lift(engine().client_context(&to_client_config(config), v, admission()))?;
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
        let resume = resume.map(|s| &s.get::<Session>().0);
        new_connection(self.0.connect_with(&server_name, resume))
    }
}

impl GuestAcceptor for Acceptor {
    fn create() -> R<wit::Acceptor> {
        let a = lift(engine::Acceptor::start(admission()))?;
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
            .map(convert::from_client_hello)
    }
    fn accept(&self, context: wit::ServerContextBorrow<'_>) -> R<wit::Connection> {
        let context = &context.get::<ServerContext>().0;
        new_connection(self.0.borrow_mut().accept(context))
    }
    fn refuse(&self, description: u8) -> R<()> {
        lift(self.0.borrow_mut().refuse(description))
    }
    memtls_engine::forward_to_cell! { borrow_mut: take(max: u32) -> Vec<u8>; }
    memtls_engine::forward_to_cell! { borrow: pending_ciphertext() -> u32; }
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
        let ctx = lift(engine().server_context(&to_server_config(config), admission()))?;
        Ok(wit::ServerContext::new(ServerContext(ctx)))
    }

    fn accept(&self) -> R<wit::Connection> {
        new_connection(self.0.accept())
    }
}

impl GuestConnection for Connection {
    memtls_engine::forward_to_cell! { borrow_mut:
        take(max: u32) -> Vec<u8>;
    }
    memtls_engine::forward_to_cell! { borrow:
        pending_ciphertext() -> u32;
        is_handshake_complete() -> bool;
        pending_plaintext() -> u32;
        peer_closed() -> bool;
        alpn_protocol() -> Option<Vec<u8>>;
        peer_certificates() -> Vec<Vec<u8>>;
        verified_chain() -> Vec<Vec<u8>>;
        server_name() -> Option<String>;
        resumed() -> bool;
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

//! The interface as the scenarios see it: the provider contract
//! (`memtls_engine::TlsProvider` and its resources), which the engine, the
//! openssl provider and, inside the scenario component, the WIT bindings
//! implement. The free functions are what the scenarios call, reaching the
//! provider [`crate::run`] installed.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

pub use memtls_engine::{
    CertificateInfo, CertificateReason, ChainCheck, CipherSuite, ClientAuth, ClientConfig,
    ClientHello, Error, ErrorKind, KeyExchangeGroup, Progress, ProtocolVersion, ReadOutcome,
    ServerConfig, SessionInfo, SigningChain, TlsAcceptor, TlsClientContext, TlsConnection,
    TlsProvider, TlsServerContext, TlsSession, TrustStore, Verification, WriteOutcome,
};

/// The interface's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Name and version of the implementation behind the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImplementationInfo {
    /// The implementation's name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// What the scenarios run against: any implementation of the provider
/// contract (`memtls_engine::TlsProvider`).
pub type Backend = dyn TlsProvider;

/// A client context of the installed provider.
pub struct ClientContext(Box<dyn TlsClientContext>);

impl ClientContext {
    /// `connect`.
    pub fn connect(&self, server_name: &str) -> Result<Connection> {
        self.0.connect(server_name).map(Connection::from)
    }

    /// `connect-with`.
    pub fn connect_with(&self, server_name: &str, resume: Option<&Session>) -> Result<Connection> {
        let resume = resume.map(|s| s.as_ref());
        self.0
            .connect_with(server_name, resume)
            .map(Connection::from)
    }
}

/// A server context of the installed provider.
pub struct ServerContext(Arc<dyn TlsServerContext>);

impl ServerContext {
    /// `accept`.
    pub fn accept(&self) -> Result<Connection> {
        self.0.accept().map(Connection::from)
    }
}

/// A session of the installed provider.
pub type Session = Box<dyn TlsSession>;

/// A connection of the installed provider. The scenarios share connections
/// between the two ends they pump, so calls take `&self`: the one place the
/// contract's `&mut self` meets them.
pub struct Connection(RefCell<Box<dyn TlsConnection>>);

impl From<Box<dyn TlsConnection>> for Connection {
    fn from(c: Box<dyn TlsConnection>) -> Self {
        Self(RefCell::new(c))
    }
}

impl Connection {
    /// `feed`.
    pub fn feed(&self, data: &[u8]) -> Result<u32> {
        self.0.borrow_mut().feed(data)
    }
    /// `eof`.
    pub fn eof(&self) -> Result<()> {
        self.0.borrow_mut().eof()
    }
    /// `take`.
    pub fn take(&self, max: u32) -> Vec<u8> {
        self.0.borrow_mut().take(max)
    }
    /// `pending-ciphertext`.
    pub fn pending_ciphertext(&self) -> u32 {
        self.0.borrow().pending_ciphertext()
    }
    /// `handshake`.
    pub fn handshake(&self) -> Result<Progress> {
        self.0.borrow_mut().handshake()
    }
    /// `is-handshake-complete`.
    pub fn is_handshake_complete(&self) -> bool {
        self.0.borrow().is_handshake_complete()
    }
    /// `read`.
    pub fn read(&self, max: u32) -> Result<ReadOutcome> {
        self.0.borrow_mut().read(max)
    }
    /// `write`.
    pub fn write(&self, data: &[u8]) -> Result<WriteOutcome> {
        self.0.borrow_mut().write(data)
    }
    /// `pending-plaintext`.
    pub fn pending_plaintext(&self) -> u32 {
        self.0.borrow().pending_plaintext()
    }
    /// `shutdown`.
    pub fn shutdown(&self) -> Result<Progress> {
        self.0.borrow_mut().shutdown()
    }
    /// `peer-closed`.
    pub fn peer_closed(&self) -> bool {
        self.0.borrow().peer_closed()
    }
    /// `protocol-version`.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.borrow().protocol_version()
    }
    /// `cipher-suite`.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.0.borrow().cipher_suite()
    }
    /// `key-exchange-group`.
    pub fn key_exchange_group(&self) -> Option<KeyExchangeGroup> {
        self.0.borrow().key_exchange_group()
    }
    /// `alpn-protocol`.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.0.borrow().alpn_protocol()
    }
    /// `peer-certificates`.
    pub fn peer_certificates(&self) -> Vec<Vec<u8>> {
        self.0.borrow().peer_certificates()
    }
    /// `verified-chain`.
    pub fn verified_chain(&self) -> Vec<Vec<u8>> {
        self.0.borrow().verified_chain()
    }
    /// `server-name`.
    pub fn server_name(&self) -> Option<String> {
        self.0.borrow().server_name()
    }
    /// `resumed`.
    pub fn resumed(&self) -> bool {
        self.0.borrow().resumed()
    }
    /// `session`.
    pub fn session(&self) -> Result<Option<Session>> {
        self.0.borrow().session()
    }
    /// `export-keying-material`.
    pub fn export_keying_material(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        length: u32,
    ) -> Result<Vec<u8>> {
        self.0
            .borrow()
            .export_keying_material(label, context, length)
    }
    /// `request-key-update`.
    pub fn request_key_update(&self) -> Result<()> {
        self.0.borrow_mut().request_key_update()
    }
}

/// An acceptor of the installed provider.
pub struct Acceptor(RefCell<Box<dyn TlsAcceptor>>);

impl Acceptor {
    /// `feed`.
    pub fn feed(&self, data: &[u8]) -> Result<u32> {
        self.0.borrow_mut().feed(data)
    }
    /// `eof`.
    pub fn eof(&self) -> Result<()> {
        self.0.borrow_mut().eof()
    }
    /// `client-hello`.
    pub fn client_hello(&self) -> Option<ClientHello> {
        self.0.borrow().client_hello()
    }
    /// `accept`.
    pub fn accept(&self, context: &ServerContext) -> Result<Connection> {
        context
            .0
            .accept_from(self.0.borrow_mut().as_mut())
            .map(Connection::from)
    }
    /// `refuse`.
    pub fn refuse(&self, description: u8) -> Result<()> {
        self.0.borrow_mut().refuse(description)
    }
    /// `take`.
    pub fn take(&self, max: u32) -> Vec<u8> {
        self.0.borrow_mut().take(max)
    }
    /// `pending-ciphertext`.
    pub fn pending_ciphertext(&self) -> u32 {
        self.0.borrow().pending_ciphertext()
    }
}

thread_local! {
    static BACKEND: RefCell<Option<Rc<Backend>>> = const { RefCell::new(None) };
}

/// Uninstalls the backend when dropped.
pub(crate) struct Installed(Option<Rc<Backend>>);

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.0.take();
        BACKEND.with(|b| *b.borrow_mut() = previous);
    }
}

pub(crate) fn install(backend: Rc<Backend>) -> Installed {
    Installed(BACKEND.with(|b| b.borrow_mut().replace(backend)))
}

fn backend() -> Rc<Backend> {
    BACKEND
        .with(|b| b.borrow().clone())
        .expect("no backend installed: run scenarios through memtls_scenario_suite::run")
}

/// `implementation`.
pub fn implementation() -> ImplementationInfo {
    let (name, version) = backend().implementation();
    ImplementationInfo { name, version }
}

/// `supported-versions`.
pub fn supported_versions() -> Vec<ProtocolVersion> {
    backend().supported_versions()
}

/// `supported-cipher-suites`.
pub fn supported_cipher_suites() -> Vec<CipherSuite> {
    backend().supported_cipher_suites()
}

/// `supported-key-exchange-groups`.
pub fn supported_key_exchange_groups() -> Vec<KeyExchangeGroup> {
    backend().supported_key_exchange_groups()
}

/// `verify-server-chain`.
pub fn verify_server_chain(
    trust: &TrustStore,
    chain: &[Vec<u8>],
    server_name: &str,
    at_time: Option<u64>,
) -> Result<()> {
    backend().verify_server_chain(&ChainCheck {
        trust,
        chain,
        server_name,
        at_time,
    })
}

/// `host-identity-certificates`.
pub fn host_identity_certificates(name: &str) -> Result<Vec<Vec<u8>>> {
    backend().host_identity_certificates(name)
}

/// `decode-certificate`.
pub fn decode_certificate(der: &[u8]) -> Result<CertificateInfo> {
    backend().decode_certificate(der)
}

/// `client-context.create`.
pub fn client_context(config: &ClientConfig) -> Result<ClientContext> {
    backend()
        .client_context(config, Verification::Full)
        .map(ClientContext)
}

/// `server-context.create`.
pub fn server_context(config: &ServerConfig) -> Result<ServerContext> {
    backend().server_context(config).map(ServerContext)
}

/// `acceptor.create`.
pub fn acceptor() -> Result<Acceptor> {
    Ok(Acceptor(RefCell::new(backend().acceptor()?)))
}

/// The `insecure` interface.
pub mod insecure {
    use super::{ClientConfig, ClientContext, Result, Verification, backend};

    /// `client-context-without-hostname-check`.
    pub fn client_context_without_hostname_check(config: &ClientConfig) -> Result<ClientContext> {
        backend()
            .client_context(config, Verification::WithoutHostname)
            .map(ClientContext)
    }

    /// `client-context-without-verification`.
    pub fn client_context_without_verification(config: &ClientConfig) -> Result<ClientContext> {
        backend()
            .client_context(config, Verification::None)
            .map(ClientContext)
    }
}

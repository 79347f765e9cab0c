//! The interface as the scenarios see it: `memtls:tls` with the engine's types.
//!
//! [`Backend`] and the traits beside it are what a provider implements for the
//! scenarios (once natively on the engine, once on the WIT bindings); the free
//! functions are what the scenarios call, reaching the backend [`crate::run`]
//! installed.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

pub use memtls_engine::{
    CertificateReason, ChainCheck, CipherSuite, ClientAuth, ClientConfig, ClientHello, Error,
    ErrorKind, Progress, ProtocolVersion, ReadOutcome, ServerConfig, SessionInfo, SigningChain,
    TrustStore, Verification, WriteOutcome,
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

/// A provider of the interface: the functions and the constructors of its
/// resources.
pub trait Backend {
    /// `implementation`.
    fn implementation(&self) -> ImplementationInfo;
    /// `supported-versions`.
    fn supported_versions(&self) -> Vec<ProtocolVersion>;
    /// `supported-cipher-suites`.
    fn supported_cipher_suites(&self) -> Vec<CipherSuite>;
    /// `verify-server-chain`.
    fn verify_server_chain(&self, call: &ChainCheck<'_>) -> Result<()>;
    /// `client-context.create`, or with less verification the `insecure`
    /// interface's constructors.
    fn client_context(
        &self,
        config: &ClientConfig,
        verification: Verification,
    ) -> Result<ClientContext>;
    /// `server-context.create`.
    fn server_context(&self, config: &ServerConfig) -> Result<ServerContext>;
    /// `acceptor.create`.
    fn acceptor(&self) -> Result<Acceptor>;
}

/// A client context.
pub trait ClientContextApi {
    /// `connect`.
    fn connect(&self, server_name: &str) -> Result<Connection>;
    /// `connect-with`.
    fn connect_with(&self, server_name: &str, resume: Option<&Session>) -> Result<Connection>;
}

/// A server context.
pub trait ServerContextApi {
    /// `accept`.
    fn accept(&self) -> Result<Connection>;
    /// The backend's own object, for [`AcceptorApi::accept`].
    fn as_any(&self) -> &dyn Any;
}

/// A connection: the memory channel.
pub trait ConnectionApi {
    /// `feed`.
    fn feed(&self, data: &[u8]) -> Result<u32>;
    /// `eof`.
    fn eof(&self) -> Result<()>;
    /// `take`.
    fn take(&self, max: u32) -> Vec<u8>;
    /// `pending-ciphertext`.
    fn pending_ciphertext(&self) -> u32;
    /// `handshake`.
    fn handshake(&self) -> Result<Progress>;
    /// `is-handshake-complete`.
    fn is_handshake_complete(&self) -> bool;
    /// `read`.
    fn read(&self, max: u32) -> Result<ReadOutcome>;
    /// `write`.
    fn write(&self, data: &[u8]) -> Result<WriteOutcome>;
    /// `pending-plaintext`.
    fn pending_plaintext(&self) -> u32;
    /// `shutdown`.
    fn shutdown(&self) -> Result<Progress>;
    /// `peer-closed`.
    fn peer_closed(&self) -> bool;
    /// `protocol-version`.
    fn protocol_version(&self) -> Option<ProtocolVersion>;
    /// `cipher-suite`.
    fn cipher_suite(&self) -> Option<CipherSuite>;
    /// `alpn-protocol`.
    fn alpn_protocol(&self) -> Option<Vec<u8>>;
    /// `peer-certificates`.
    fn peer_certificates(&self) -> Vec<Vec<u8>>;
    /// `verified-chain`.
    fn verified_chain(&self) -> Vec<Vec<u8>>;
    /// `server-name`.
    fn server_name(&self) -> Option<String>;
    /// `resumed`.
    fn resumed(&self) -> bool;
    /// `session`.
    fn session(&self) -> Result<Option<Session>>;
    /// `export-keying-material`.
    fn export_keying_material(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        length: u32,
    ) -> Result<Vec<u8>>;
    /// `request-key-update`.
    fn request_key_update(&self) -> Result<()>;
}

/// The [`ConnectionApi`] methods (all but `session`) of a backend whose
/// connection type wraps its provider's connection in a `RefCell` (`self.0`)
/// with the same methods: the native engine, the openssl provider.
#[macro_export]
macro_rules! connection_forwarders {
    () => {
        $crate::tls::forward_to_cell! { borrow_mut:
            feed(data: &[u8]) -> $crate::tls::Result<u32>;
            eof() -> $crate::tls::Result<()>;
            take(max: u32) -> Vec<u8>;
            handshake() -> $crate::tls::Result<$crate::tls::Progress>;
            read(max: u32) -> $crate::tls::Result<$crate::tls::ReadOutcome>;
            write(data: &[u8]) -> $crate::tls::Result<$crate::tls::WriteOutcome>;
            shutdown() -> $crate::tls::Result<$crate::tls::Progress>;
            request_key_update() -> $crate::tls::Result<()>;
        }
        $crate::tls::forward_to_cell! { borrow:
            pending_ciphertext() -> u32;
            is_handshake_complete() -> bool;
            pending_plaintext() -> u32;
            peer_closed() -> bool;
            protocol_version() -> Option<$crate::tls::ProtocolVersion>;
            cipher_suite() -> Option<$crate::tls::CipherSuite>;
            alpn_protocol() -> Option<Vec<u8>>;
            peer_certificates() -> Vec<Vec<u8>>;
            verified_chain() -> Vec<Vec<u8>>;
            server_name() -> Option<String>;
            resumed() -> bool;
            export_keying_material(label: &[u8], context: Option<&[u8]>, length: u32) -> $crate::tls::Result<Vec<u8>>;
        }
    };
}

#[doc(hidden)]
pub use memtls_engine::forward_to_cell;

/// The [`SessionApi`] and [`AcceptorApi`] impls of a backend whose session
/// type wraps its provider's session (`self.0`), whose acceptor type wraps
/// its provider's acceptor in a `RefCell`, and whose server context type
/// wraps its provider's server context, all with the engine's method names:
/// the native engine, the openssl provider. `$connection` makes the backend's
/// connection from its provider's; `accept` says how the acceptor continues as
/// a connection of a server context when that is not the engine's
/// `acceptor.accept(context)`.
#[macro_export]
macro_rules! session_and_acceptor_impls {
    (session: $session:ty, acceptor: $acceptor:ty, server: $server:ty, connection: $connection:path) => {
        $crate::session_and_acceptor_impls! {
            session: $session,
            acceptor: $acceptor,
            server: $server,
            connection: $connection,
            accept: |acceptor, context| acceptor.accept(context)
        }
    };
    (
        session: $session:ty,
        acceptor: $acceptor:ty,
        server: $server:ty,
        connection: $connection:path,
        accept: |$a:ident, $c:ident| $accept:expr
    ) => {
        impl $crate::tls::SessionApi for $session {
            fn info(&self) -> $crate::tls::SessionInfo {
                self.0.info().clone()
            }
            fn is_usable(&self) -> bool {
                self.0.is_usable()
            }
            fn as_any(&self) -> &dyn ::std::any::Any {
                self
            }
        }

        impl $crate::tls::AcceptorApi for $acceptor {
            $crate::tls::forward_to_cell! { borrow_mut:
                feed(data: &[u8]) -> $crate::tls::Result<u32>;
                eof() -> $crate::tls::Result<()>;
                refuse(description: u8) -> $crate::tls::Result<()>;
                take(max: u32) -> Vec<u8>;
            }
            $crate::tls::forward_to_cell! { borrow:
                pending_ciphertext() -> u32;
            }
            fn client_hello(&self) -> Option<$crate::tls::ClientHello> {
                self.0.borrow().client_hello().cloned()
            }
            fn accept(
                &self,
                context: &$crate::tls::ServerContext,
            ) -> $crate::tls::Result<$crate::tls::Connection> {
                let Some(context) = context.as_any().downcast_ref::<$server>() else {
                    return Err($crate::tls::Error::misuse(
                        "that server context belongs to another provider",
                    ));
                };
                let ($a, $c) = (&mut *self.0.borrow_mut(), &context.0);
                $connection($accept)
            }
        }
    };
}

/// A client session.
pub trait SessionApi {
    /// `info`.
    fn info(&self) -> SessionInfo;
    /// `is-usable`.
    fn is_usable(&self) -> bool;
    /// The backend's own object, for [`ClientContextApi::connect_with`].
    fn as_any(&self) -> &dyn Any;
}

/// An acceptor.
pub trait AcceptorApi {
    /// `feed`.
    fn feed(&self, data: &[u8]) -> Result<u32>;
    /// `eof`.
    fn eof(&self) -> Result<()>;
    /// `client-hello`.
    fn client_hello(&self) -> Option<ClientHello>;
    /// `accept`.
    fn accept(&self, context: &ServerContext) -> Result<Connection>;
    /// `refuse`.
    fn refuse(&self, description: u8) -> Result<()>;
    /// `take`.
    fn take(&self, max: u32) -> Vec<u8>;
    /// `pending-ciphertext`.
    fn pending_ciphertext(&self) -> u32;
}

/// A client context of the installed backend.
pub type ClientContext = Box<dyn ClientContextApi>;
/// A server context of the installed backend.
pub type ServerContext = Box<dyn ServerContextApi>;
/// A connection of the installed backend.
pub type Connection = Box<dyn ConnectionApi>;
/// A session of the installed backend.
pub type Session = Box<dyn SessionApi>;
/// An acceptor of the installed backend.
pub type Acceptor = Box<dyn AcceptorApi>;

thread_local! {
    static BACKEND: RefCell<Option<Rc<dyn Backend>>> = const { RefCell::new(None) };
}

/// Uninstalls the backend when dropped.
pub(crate) struct Installed(Option<Rc<dyn Backend>>);

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.0.take();
        BACKEND.with(|b| *b.borrow_mut() = previous);
    }
}

pub(crate) fn install(backend: Rc<dyn Backend>) -> Installed {
    Installed(BACKEND.with(|b| b.borrow_mut().replace(backend)))
}

fn backend() -> Rc<dyn Backend> {
    BACKEND
        .with(|b| b.borrow().clone())
        .expect("no backend installed: run scenarios through memtls_scenario_suite::run")
}

/// `implementation`.
pub fn implementation() -> ImplementationInfo {
    backend().implementation()
}

/// `supported-versions`.
pub fn supported_versions() -> Vec<ProtocolVersion> {
    backend().supported_versions()
}

/// `supported-cipher-suites`.
pub fn supported_cipher_suites() -> Vec<CipherSuite> {
    backend().supported_cipher_suites()
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

/// `client-context.create`.
pub fn client_context(config: &ClientConfig) -> Result<ClientContext> {
    backend().client_context(config, Verification::Full)
}

/// `server-context.create`.
pub fn server_context(config: &ServerConfig) -> Result<ServerContext> {
    backend().server_context(config)
}

/// `acceptor.create`.
pub fn acceptor() -> Result<Acceptor> {
    backend().acceptor()
}

/// The `insecure` interface.
pub mod insecure {
    use super::{ClientConfig, ClientContext, Result, Verification, backend};

    /// `client-context-without-hostname-check`.
    pub fn client_context_without_hostname_check(config: &ClientConfig) -> Result<ClientContext> {
        backend().client_context(config, Verification::WithoutHostname)
    }

    /// `client-context-without-verification`.
    pub fn client_context_without_verification(config: &ClientConfig) -> Result<ClientContext> {
        backend().client_context(config, Verification::None)
    }
}

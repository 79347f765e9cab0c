//! The provider contract: what an implementation of `memtls:tls` provides,
//! once, as traits. The engine implements it on rustls ([`RustlsProvider`]:
//! the native and the guest providers serve it), `memtls-openssl` on the
//! system's libssl; the host's glue, the guest's glue and the parity
//! scenarios reach every provider through these traits and nothing else.
//!
//! The traits are object-safe: the host chooses a provider per store at run
//! time and keeps its objects in the store's resource table as trait objects.
//! Each method is the WIT function of the same name (`wit/tls.wit` documents
//! them); the engine's types carry the arguments and results. What every
//! provider must check the same way (configurations, limits, exporter bounds,
//! key updates, chains) is the engine's, and providers call it.

use std::any::Any;
use std::sync::Arc;

use crate::{
    Acceptor, Admission, CertificateInfo, ChainCheck, CipherSuite, ClientConfig, ClientHello,
    KeyExchangeGroup, Progress, ProtocolVersion, ReadOutcome, Result, ServerConfig, SessionInfo,
    Verification, WriteOutcome,
};

/// One instance's provider: its library, under the instance's [`Admission`]
/// (the embedder's policy and what the instance holds against it), which the
/// provider was made with.
pub trait TlsProvider: Send + Sync {
    /// `implementation`: name and version.
    fn implementation(&self) -> (String, String);
    /// `supported-versions`.
    fn supported_versions(&self) -> Vec<ProtocolVersion>;
    /// `supported-cipher-suites`, in the provider's default preference.
    fn supported_cipher_suites(&self) -> Vec<CipherSuite>;
    /// `supported-key-exchange-groups`, in the provider's default preference.
    fn supported_key_exchange_groups(&self) -> Vec<KeyExchangeGroup>;
    /// `verify-server-chain`.
    fn verify_server_chain(&self, call: &ChainCheck<'_>) -> Result<()>;
    /// `decode-certificate`: one reading for every provider, the engine's
    /// ([`crate::certificate_info`]), so that Python's `getpeercert()` shows
    /// the same on each. The glue at the boundary counts the bytes against
    /// the policy first ([`Admission::transient`]).
    fn decode_certificate(&self, der: &[u8]) -> Result<CertificateInfo> {
        crate::certificate_info(der)
    }
    /// `host-identity-certificates`: the public chain of a host identity the
    /// policy grants (every provider answers from its admission's policy,
    /// [`crate::Policy::identity_certificates`]).
    fn host_identity_certificates(&self, name: &str) -> Result<Vec<Vec<u8>>>;
    /// `client-context.create` (`Verification::Full`), or the `insecure`
    /// interface's constructors (which the policy must allow).
    fn client_context(
        &self,
        config: &ClientConfig,
        verification: Verification,
    ) -> Result<Box<dyn TlsClientContext>>;
    /// `server-context.create`. Shared: an acceptor continues as a connection
    /// of a server context while both are the caller's.
    fn server_context(&self, config: &ServerConfig) -> Result<Arc<dyn TlsServerContext>>;
    /// `acceptor.create`.
    fn acceptor(&self) -> Result<Box<dyn TlsAcceptor>>;
}

/// A client context.
pub trait TlsClientContext: Send + Sync {
    /// `connect`: resumes through the context's own session cache.
    fn connect(&self, server_name: &str) -> Result<Box<dyn TlsConnection>>;
    /// `connect-with`: offers only `resume` (nothing when it is none, another
    /// provider's, or for another server or context) and keeps the sessions
    /// its server issues for [`TlsConnection::session`].
    fn connect_with(
        &self,
        server_name: &str,
        resume: Option<&dyn TlsSession>,
    ) -> Result<Box<dyn TlsConnection>>;
}

/// A server context.
pub trait TlsServerContext: Send + Sync {
    /// `accept`.
    fn accept(&self) -> Result<Box<dyn TlsConnection>>;
    /// `acceptor.accept`: continues the connection whose ClientHello
    /// `acceptor` read as a connection of this context (a misuse error when
    /// the acceptor is another provider's).
    fn accept_from(&self, acceptor: &mut dyn TlsAcceptor) -> Result<Box<dyn TlsConnection>>;
}

/// An acceptor: reads a ClientHello before a server context is chosen.
pub trait TlsAcceptor: Send {
    /// `feed`: how much ciphertext was taken.
    fn feed(&mut self, data: &[u8]) -> Result<u32>;
    /// `eof`.
    fn eof(&mut self) -> Result<()>;
    /// `client-hello`, once complete.
    fn client_hello(&self) -> Option<ClientHello>;
    /// `refuse`: sends the fatal alert `description`.
    fn refuse(&mut self, description: u8) -> Result<()>;
    /// `take`.
    fn take(&mut self, max: u32) -> Vec<u8>;
    /// `pending-ciphertext`.
    fn pending_ciphertext(&self) -> u32;
    /// The provider's own acceptor, for its [`TlsServerContext::accept_from`].
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// A connection: the memory channel.
pub trait TlsConnection: Send {
    /// `feed`: how much ciphertext was taken.
    fn feed(&mut self, data: &[u8]) -> Result<u32>;
    /// `eof`.
    fn eof(&mut self) -> Result<()>;
    /// `take`.
    fn take(&mut self, max: u32) -> Vec<u8>;
    /// `pending-ciphertext`.
    fn pending_ciphertext(&self) -> u32;
    /// `handshake`.
    fn handshake(&mut self) -> Result<Progress>;
    /// `is-handshake-complete`.
    fn is_handshake_complete(&self) -> bool;
    /// `read`.
    fn read(&mut self, max: u32) -> Result<ReadOutcome>;
    /// `write`.
    fn write(&mut self, data: &[u8]) -> Result<WriteOutcome>;
    /// `pending-plaintext`.
    fn pending_plaintext(&self) -> u32;
    /// `shutdown`.
    fn shutdown(&mut self) -> Result<Progress>;
    /// `peer-closed`.
    fn peer_closed(&self) -> bool;
    /// `protocol-version`.
    fn protocol_version(&self) -> Option<ProtocolVersion>;
    /// `cipher-suite`.
    fn cipher_suite(&self) -> Option<CipherSuite>;
    /// `key-exchange-group`.
    fn key_exchange_group(&self) -> Option<KeyExchangeGroup>;
    /// `alpn-protocol`.
    fn alpn_protocol(&self) -> Option<Vec<u8>>;
    /// `peer-certificates` (DER, end entity first).
    fn peer_certificates(&self) -> Vec<Vec<u8>>;
    /// `verified-chain` (DER, end entity first).
    fn verified_chain(&self) -> Vec<Vec<u8>>;
    /// `server-name`.
    fn server_name(&self) -> Option<String>;
    /// `resumed`.
    fn resumed(&self) -> bool;
    /// `session`.
    fn session(&self) -> Result<Option<Box<dyn TlsSession>>>;
    /// `export-keying-material`.
    fn export_keying_material(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        length: u32,
    ) -> Result<Vec<u8>>;
    /// `request-key-update`.
    fn request_key_update(&mut self) -> Result<()>;
}

/// A client session a caller holds.
pub trait TlsSession: Send + Sync {
    /// `info`.
    fn info(&self) -> &SessionInfo;
    /// `is-usable`.
    fn is_usable(&self) -> bool;
    /// The provider's own session, for its [`TlsClientContext::connect_with`].
    fn as_any(&self) -> &dyn Any;
}

/// The provider contract on rustls (the engine) for one instance: what the
/// native provider serves from the host and the guest provider from inside
/// Wasm.
pub struct RustlsProvider {
    engine: Arc<crate::Engine>,
    admission: Admission,
}

impl RustlsProvider {
    /// `engine` serving an instance under `admission`. One engine may serve
    /// many instances (its `system` verifier is shared); limits count per
    /// admission.
    pub fn new(engine: Arc<crate::Engine>, admission: Admission) -> Self {
        Self { engine, admission }
    }
}

impl TlsProvider for RustlsProvider {
    fn implementation(&self) -> (String, String) {
        self.engine.implementation()
    }

    fn supported_versions(&self) -> Vec<ProtocolVersion> {
        self.engine.supported_versions()
    }

    fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        self.engine.supported_cipher_suites()
    }

    fn supported_key_exchange_groups(&self) -> Vec<KeyExchangeGroup> {
        self.engine.supported_key_exchange_groups()
    }

    fn verify_server_chain(&self, call: &ChainCheck<'_>) -> Result<()> {
        self.engine.verify_server_chain(call, &self.admission)
    }

    fn host_identity_certificates(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        self.admission.policy().identity_certificates(name)
    }

    fn client_context(
        &self,
        config: &ClientConfig,
        verification: Verification,
    ) -> Result<Box<dyn TlsClientContext>> {
        let context = self
            .engine
            .client_context(config, verification, &self.admission)?;
        Ok(Box::new(context))
    }

    fn server_context(&self, config: &ServerConfig) -> Result<Arc<dyn TlsServerContext>> {
        Ok(Arc::new(
            self.engine.server_context(config, &self.admission)?,
        ))
    }

    fn acceptor(&self) -> Result<Box<dyn TlsAcceptor>> {
        Ok(Box::new(Acceptor::start(&self.admission)?))
    }
}

impl TlsClientContext for crate::ClientContext {
    fn connect(&self, server_name: &str) -> Result<Box<dyn TlsConnection>> {
        Ok(Box::new(crate::ClientContext::connect(self, server_name)?))
    }

    fn connect_with(
        &self,
        server_name: &str,
        resume: Option<&dyn TlsSession>,
    ) -> Result<Box<dyn TlsConnection>> {
        let resume = resume.and_then(|s| s.as_any().downcast_ref::<crate::Session>());
        Ok(Box::new(crate::ClientContext::connect_with(
            self,
            server_name,
            resume,
        )?))
    }
}

impl TlsServerContext for crate::ServerContext {
    fn accept(&self) -> Result<Box<dyn TlsConnection>> {
        Ok(Box::new(crate::ServerContext::accept(self)?))
    }

    fn accept_from(&self, acceptor: &mut dyn TlsAcceptor) -> Result<Box<dyn TlsConnection>> {
        Ok(Box::new(engine_acceptor(acceptor)?.accept(self)?))
    }
}

/// The engine's acceptor behind `acceptor`, or a misuse error naming the
/// mix-up (an acceptor of another provider).
pub fn engine_acceptor(acceptor: &mut dyn TlsAcceptor) -> Result<&mut Acceptor> {
    acceptor
        .as_any_mut()
        .downcast_mut::<Acceptor>()
        .ok_or_else(|| crate::Error::misuse("that acceptor belongs to another provider"))
}

impl TlsAcceptor for Acceptor {
    fn feed(&mut self, data: &[u8]) -> Result<u32> {
        Acceptor::feed(self, data)
    }

    fn eof(&mut self) -> Result<()> {
        Acceptor::eof(self)
    }

    fn client_hello(&self) -> Option<ClientHello> {
        Acceptor::client_hello(self).cloned()
    }

    fn refuse(&mut self, description: u8) -> Result<()> {
        Acceptor::refuse(self, description)
    }

    fn take(&mut self, max: u32) -> Vec<u8> {
        Acceptor::take(self, max)
    }

    fn pending_ciphertext(&self) -> u32 {
        Acceptor::pending_ciphertext(self)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl TlsSession for crate::Session {
    fn info(&self) -> &SessionInfo {
        crate::Session::info(self)
    }

    fn is_usable(&self) -> bool {
        crate::Session::is_usable(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

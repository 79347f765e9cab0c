//! The system's OpenSSL behind `memtls:tls`: the openssl provider's sans-IO
//! half.
//!
//! OpenSSL was designed for memory channels as much as for sockets (memory
//! BIOs); here each connection's `SslStream` runs over [`Channel`], a pair of
//! byte buffers, and the interface's calls (`feed`, `take`, `handshake`,
//! `read`, `write`, `shutdown`, …) drive it. Configurations are the engine's
//! types, validated with the engine's rules where the rule is the interface's
//! (ALPN, versions, exporter bounds, PEM/DER parsing, the embedder's
//! [`Policy`] and its admission); OpenSSL's errors and X.509 verify codes map
//! to the interface's error kinds in one place ([`error`]).
//!
//! Trust: `system` is OpenSSL's default store (its `openssl.cnf`,
//! `SSL_CERT_FILE` / `SSL_CERT_DIR`, distribution crypto-policies) plus the
//! policy's extra anchors; anchors and pins mean what they mean on the other
//! providers (a pin accepts exactly that end-entity certificate, whatever its
//! issuer, once its name and validity check out).

#![warn(missing_docs)]

mod channel;
mod config;
mod connection;
mod context;
mod ems;
mod error;
mod ffi;
mod held;
mod notes;
mod session;
mod trust;
mod verify;

use std::sync::Arc;

use memtls_engine::{
    Acceptor, Admission, ChainCheck, CipherSuite, ClientConfig, KeyExchangeGroup, Policy,
    ProtocolVersion, Result, ServerConfig, SessionInfo, TlsAcceptor, TlsClientContext,
    TlsConnection, TlsServerContext, TlsSession, Verification,
};

use config::SUITES;
use trust::SystemTrust;

pub use channel::Channel;
pub use config::{private_key, suite_name};
pub use connection::Connection;
pub use context::{ClientContext, ServerContext};
pub use error::{from_ssl_error, from_stack};
pub use session::Session;

/// The provider for one instance: OpenSSL under the embedder's policy (its
/// `system` trust, its limits through the instance's [`Admission`]).
pub struct OpenSsl {
    admission: Admission,
    system: SystemTrust,
}

impl OpenSsl {
    /// The provider for an instance under `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            admission: Admission::new(policy),
            system: SystemTrust::default(),
        }
    }

    /// The instance's admission (what it holds under the policy's limits).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }
}

/// The provider contract on OpenSSL (`wit/tls.wit` documents each call).
impl memtls_engine::TlsProvider for OpenSsl {
    fn implementation(&self) -> (String, String) {
        (
            "memtls-openssl (the system's OpenSSL)".into(),
            openssl::version::version().into(),
        )
    }

    fn supported_versions(&self) -> Vec<ProtocolVersion> {
        ProtocolVersion::ALL.to_vec()
    }

    fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        SUITES
            .iter()
            .map(|(id, name, _)| CipherSuite {
                id: *id,
                name: (*name).into(),
            })
            .collect()
    }

    fn supported_key_exchange_groups(&self) -> Vec<KeyExchangeGroup> {
        config::default_groups()
            .iter()
            .map(|id| KeyExchangeGroup::from_id(*id))
            .collect()
    }

    fn verify_server_chain(&self, call: &ChainCheck<'_>) -> Result<()> {
        OpenSsl::verify_server_chain(self, call)
    }

    fn host_identity_certificates(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        self.admission.policy().identity_certificates(name)
    }

    fn client_context(
        &self,
        config: &ClientConfig,
        verification: Verification,
    ) -> Result<Box<dyn TlsClientContext>> {
        Ok(Box::new(OpenSsl::client_context(
            self,
            config,
            verification,
        )?))
    }

    fn server_context(&self, config: &ServerConfig) -> Result<Arc<dyn TlsServerContext>> {
        Ok(Arc::new(OpenSsl::server_context(self, config)?))
    }

    fn acceptor(&self) -> Result<Box<dyn TlsAcceptor>> {
        // The engine reads the ClientHello; the server context then takes
        // the ciphertext it read (`accept_from`).
        Ok(Box::new(Acceptor::start_for_hand_over(&self.admission)?))
    }
}

impl TlsClientContext for ClientContext {
    fn connect(&self, server_name: &str) -> Result<Box<dyn TlsConnection>> {
        Ok(Box::new(ClientContext::connect(self, server_name)?))
    }

    fn connect_with(
        &self,
        server_name: &str,
        resume: Option<&dyn TlsSession>,
    ) -> Result<Box<dyn TlsConnection>> {
        // Another provider's session cannot be for this context: nothing is offered.
        let resume = resume.and_then(|s| s.as_any().downcast_ref::<Session>());
        Ok(Box::new(ClientContext::connect_with(
            self,
            server_name,
            resume,
        )?))
    }
}

impl TlsServerContext for ServerContext {
    fn accept(&self) -> Result<Box<dyn TlsConnection>> {
        Ok(Box::new(ServerContext::accept(self)?))
    }

    fn accept_from(&self, acceptor: &mut dyn TlsAcceptor) -> Result<Box<dyn TlsConnection>> {
        let acceptor = memtls_engine::engine_acceptor(acceptor)?;
        Ok(Box::new(self.accept_handed_over(acceptor)?))
    }
}

impl TlsSession for Session {
    fn info(&self) -> &SessionInfo {
        Session::info(self)
    }

    fn is_usable(&self) -> bool {
        Session::is_usable(self)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

//! The scenarios' backend on the engine directly, natively: what both providers
//! wrap, without Wasm in between.

use std::any::Any;
use std::cell::RefCell;

use memtls_engine as engine;

use crate::tls::{
    Acceptor, Backend, CipherSuite, ClientConfig, ClientContext, ClientContextApi, Connection,
    ConnectionApi, ImplementationInfo, ProtocolVersion, Result, ServerConfig, ServerContext,
    ServerContextApi, Session, Verification,
};

/// The engine with ring, the Mozilla roots and an instance's admission under a
/// policy: what the native provider builds for one store.
pub struct Native {
    engine: engine::Engine,
    admission: engine::Admission,
}

impl Native {
    /// An engine admitting under `policy`.
    pub fn new(policy: engine::Policy) -> Self {
        let engine = engine::Engine::new(engine::EngineOptions {
            extra_system_anchors: policy.extra_system_anchors.clone(),
            ..engine::EngineOptions::ring(
                "memtls-engine (rustls, ring; natively, for the scenarios)",
            )
        });
        Self {
            engine,
            admission: engine::Admission::new(policy),
        }
    }
}

impl Backend for Native {
    fn implementation(&self) -> ImplementationInfo {
        let (name, version) = self.engine.implementation();
        ImplementationInfo { name, version }
    }

    fn supported_versions(&self) -> Vec<ProtocolVersion> {
        self.engine.supported_versions()
    }

    fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        self.engine.supported_cipher_suites()
    }

    fn verify_server_chain(&self, call: &crate::tls::ChainCheck<'_>) -> Result<()> {
        self.engine.verify_server_chain(call, &self.admission)
    }

    fn client_context(
        &self,
        config: &ClientConfig,
        verification: Verification,
    ) -> Result<ClientContext> {
        let ctx = self
            .engine
            .client_context(config, verification, &self.admission)?;
        Ok(Box::new(NativeClient(ctx)))
    }

    fn server_context(&self, config: &ServerConfig) -> Result<ServerContext> {
        let ctx = self.engine.server_context(config, &self.admission)?;
        Ok(Box::new(NativeServer(ctx)))
    }

    fn acceptor(&self) -> Result<Acceptor> {
        let a = engine::Acceptor::start(&self.admission)?;
        Ok(Box::new(NativeAcceptor(RefCell::new(a))))
    }
}

struct NativeClient(engine::ClientContext);
struct NativeServer(engine::ServerContext);
struct NativeConnection(RefCell<engine::Connection>);
struct NativeSession(engine::Session);
struct NativeAcceptor(RefCell<engine::Acceptor>);

fn connection(c: Result<engine::Connection>) -> Result<Connection> {
    Ok(Box::new(NativeConnection(RefCell::new(c?))))
}

impl ClientContextApi for NativeClient {
    fn connect(&self, server_name: &str) -> Result<Connection> {
        connection(self.0.connect(server_name))
    }

    fn connect_with(&self, server_name: &str, resume: Option<&Session>) -> Result<Connection> {
        let resume = resume
            .and_then(|s| s.as_any().downcast_ref::<NativeSession>())
            .map(|s| &s.0);
        connection(self.0.connect_with(server_name, resume))
    }
}

impl ServerContextApi for NativeServer {
    fn accept(&self) -> Result<Connection> {
        connection(self.0.accept())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl ConnectionApi for NativeConnection {
    crate::connection_forwarders!();
    fn session(&self) -> Result<Option<Session>> {
        Ok(self
            .0
            .borrow()
            .session()?
            .map(|s| Box::new(NativeSession(s)) as Session))
    }
}

crate::session_and_acceptor_impls! {
    session: NativeSession,
    acceptor: NativeAcceptor,
    server: NativeServer,
    connection: connection
}

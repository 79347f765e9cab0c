//! Every parity scenario on the openssl provider, one test each, natively
//! (`cargo test -p memtls-openssl --test scenarios`): both ends of each
//! scenario are OpenSSL, driven through the same small trait the engine and
//! the WIT bindings implement. The list is `tests/scenario-suite/src/list.rs`.
//!
//! A scenario whose outcome differs from the rustls providers' for a reason
//! that is OpenSSL's, not a defect, is listed in [`EXPECTED`] with that reason
//! and the outcome asserted instead; everything else must pass as it does on
//! the other providers.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use memtls_engine::Policy;
use memtls_openssl::OpenSsl;
use memtls_scenario_suite::tls::{
    Acceptor, Backend, ChainCheck, CipherSuite, ClientConfig, ClientContext, ClientContextApi,
    Connection, ConnectionApi, ImplementationInfo, ProtocolVersion, Result, ServerConfig,
    ServerContext, ServerContextApi, Session, Verification,
};
use memtls_scenario_suite::{Native, fixtures, foreach_scenario};

/// Runs `name` on OpenSSL and on the engine, under the parity suite's policy
/// (the `insecure` interface allowed, the rest the defaults), and compares the
/// summaries.
fn run(name: &str) {
    let policy = Policy {
        allow_insecure: true,
        ..Policy::default()
    };
    let backend = Rc::new(OpenSslBackend(OpenSsl::new(policy.clone())));
    let ours = memtls_scenario_suite::run(backend, name, fixtures::shared())
        .unwrap_or_else(|why| panic!("{name}: {why}"));
    let theirs = memtls_scenario_suite::run(Rc::new(Native::new(policy)), name, fixtures::shared())
        .unwrap_or_else(|why| panic!("{name} on the engine: {why}"));
    match memtls_openssl::parity(name, &ours, &theirs) {
        Ok(None) => {}
        Ok(Some(why)) => println!("{name}: differs as listed ({why})"),
        Err(why) => panic!("{why}"),
    }
    println!("{name}: {ours}");
}

macro_rules! openssl_tests {
    ($($function:ident: $name:literal,)*) => {
        $(
            #[test]
            fn $function() {
                run($name);
            }
        )*
    };
}
foreach_scenario!(openssl_tests);

struct OpenSslBackend(OpenSsl);

struct Client(memtls_openssl::ClientContext);
struct Server(memtls_openssl::ServerContext);
struct Conn(RefCell<memtls_openssl::Connection>);
struct OsSession(memtls_openssl::Session);
struct OsAcceptor(RefCell<memtls_engine::Acceptor>);

fn connection(c: Result<memtls_openssl::Connection>) -> Result<Connection> {
    Ok(Box::new(Conn(RefCell::new(c?))))
}

impl Backend for OpenSslBackend {
    fn implementation(&self) -> ImplementationInfo {
        let (name, version) = self.0.implementation();
        ImplementationInfo { name, version }
    }

    fn supported_versions(&self) -> Vec<ProtocolVersion> {
        self.0.supported_versions()
    }

    fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        self.0.supported_cipher_suites()
    }

    fn verify_server_chain(&self, call: &ChainCheck<'_>) -> Result<()> {
        self.0.verify_server_chain(call)
    }

    fn client_context(
        &self,
        config: &ClientConfig,
        verification: Verification,
    ) -> Result<ClientContext> {
        Ok(Box::new(Client(
            self.0.client_context(config, verification)?,
        )))
    }

    fn server_context(&self, config: &ServerConfig) -> Result<ServerContext> {
        Ok(Box::new(Server(self.0.server_context(config)?)))
    }

    fn acceptor(&self) -> Result<Acceptor> {
        let a = memtls_engine::Acceptor::start_for_hand_over(self.0.admission())?;
        Ok(Box::new(OsAcceptor(RefCell::new(a))))
    }
}

impl ClientContextApi for Client {
    fn connect(&self, server_name: &str) -> Result<Connection> {
        connection(self.0.connect(server_name))
    }

    fn connect_with(&self, server_name: &str, resume: Option<&Session>) -> Result<Connection> {
        let resume = resume
            .and_then(|s| s.as_any().downcast_ref::<OsSession>())
            .map(|s| &s.0);
        connection(self.0.connect_with(server_name, resume))
    }
}

impl ServerContextApi for Server {
    fn accept(&self) -> Result<Connection> {
        connection(self.0.accept())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl ConnectionApi for Conn {
    memtls_scenario_suite::connection_forwarders!();
    fn session(&self) -> Result<Option<Session>> {
        Ok(self
            .0
            .borrow()
            .session()?
            .map(|s| Box::new(OsSession(s)) as Session))
    }
}

memtls_scenario_suite::session_and_acceptor_impls! {
    session: OsSession,
    acceptor: OsAcceptor,
    server: Server,
    connection: connection,
    accept: |acceptor, context| context.accept_handed_over(acceptor)
}

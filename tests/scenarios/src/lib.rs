//! The parity suite's test component.
//!
//! It imports `memtls:tls` (whichever provider the harness links) and runs the
//! scenarios of `memtls-scenario-suite` through it: [`Wit`] is the provider
//! contract on the WIT bindings. The harness requires the summaries of both
//! providers to be equal. The hostile-guest attacks (`hostile`) are here too:
//! they attack the boundary, so they only make sense across it.

use std::any::Any;
use std::rc::Rc;
use std::sync::Arc;

use memtls_scenario_suite::tls::{
    self as suite, Backend, ClientConfig, ClientHello, ServerConfig, SessionInfo, TlsAcceptor,
    TlsClientContext, TlsConnection, TlsProvider, TlsServerContext, TlsSession, Verification,
};
use memtls_scenario_suite::{Fixtures, Outcome};
use memtls_stream::{insecure, tls};

mod hostile;

wit_bindgen::generate!({
    world: "memtls:test/scenarios",
    path: ["../../wit", "wit"],
    with: {
        "memtls:tls/tls@0.1.0": memtls_stream::tls,
        "memtls:tls/insecure@0.1.0": memtls_stream::insecure,
    },
});

memtls_wit::wit_conversions!(memtls_stream::tls);
use convert::{
    from_client_config, from_server_config, from_trust, to_certificate_info, to_client_hello,
    to_engine_error, to_group, to_progress, to_read, to_session_info, to_suite, to_version,
    to_write,
};

use exports::memtls::test::runner::{self, Guest};
use memtls_scenario_suite::bench;

struct Runner;

fn lift<T>(r: Result<T, tls::Error>) -> suite::Result<T> {
    r.map_err(to_engine_error)
}

/// The provider contract on the imported interface: whichever provider the
/// harness links, as the scenarios see every provider.
struct Wit;

struct WitClient(tls::ClientContext);
struct WitServer(tls::ServerContext);
struct WitConnection(tls::Connection);
/// A session with its info (which never changes) read once.
struct WitSession(tls::Session, SessionInfo);
struct WitAcceptor(tls::Acceptor);

fn connection(c: Result<tls::Connection, tls::Error>) -> suite::Result<Box<dyn TlsConnection>> {
    Ok(Box::new(WitConnection(lift(c)?)))
}

impl TlsProvider for Wit {
    fn implementation(&self) -> (String, String) {
        let info = tls::implementation();
        (info.name, info.version)
    }

    fn supported_versions(&self) -> Vec<suite::ProtocolVersion> {
        tls::supported_versions()
            .into_iter()
            .map(to_version)
            .collect()
    }

    fn supported_cipher_suites(&self) -> Vec<suite::CipherSuite> {
        tls::supported_cipher_suites()
            .into_iter()
            .map(to_suite)
            .collect()
    }

    fn supported_key_exchange_groups(&self) -> Vec<suite::KeyExchangeGroup> {
        tls::supported_key_exchange_groups()
            .into_iter()
            .map(to_group)
            .collect()
    }

    fn verify_server_chain(&self, c: &suite::ChainCheck<'_>) -> suite::Result<()> {
        lift(tls::verify_server_chain(
            &from_trust(c.trust.clone()),
            c.chain,
            c.server_name,
            c.at_time,
        ))
    }

    fn decode_certificate(&self, der: &[u8]) -> suite::Result<suite::CertificateInfo> {
        lift(tls::decode_certificate(der)).map(to_certificate_info)
    }

    fn host_identity_certificates(&self, name: &str) -> suite::Result<Vec<Vec<u8>>> {
        lift(tls::host_identity_certificates(name))
    }

    fn client_context(
        &self,
        config: &ClientConfig,
        verification: Verification,
    ) -> suite::Result<Box<dyn TlsClientContext>> {
        let config = from_client_config(config.clone());
        let ctx = match verification {
            Verification::Full => tls::ClientContext::create(&config),
            Verification::WithoutHostname => {
                insecure::client_context_without_hostname_check(&config)
            }
            Verification::None => insecure::client_context_without_verification(&config),
        };
        Ok(Box::new(WitClient(lift(ctx)?)))
    }

    fn server_context(&self, config: &ServerConfig) -> suite::Result<Arc<dyn TlsServerContext>> {
        let ctx = tls::ServerContext::create(&from_server_config(config.clone()));
        Ok(Arc::new(WitServer(lift(ctx)?)))
    }

    fn acceptor(&self) -> suite::Result<Box<dyn TlsAcceptor>> {
        Ok(Box::new(WitAcceptor(lift(tls::Acceptor::create())?)))
    }
}

impl TlsClientContext for WitClient {
    fn connect(&self, server_name: &str) -> suite::Result<Box<dyn TlsConnection>> {
        connection(self.0.connect(server_name))
    }

    fn connect_with(
        &self,
        server_name: &str,
        resume: Option<&dyn TlsSession>,
    ) -> suite::Result<Box<dyn TlsConnection>> {
        let resume = resume
            .and_then(|s| s.as_any().downcast_ref::<WitSession>())
            .map(|s| &s.0);
        connection(self.0.connect_with(server_name, resume))
    }
}

impl TlsServerContext for WitServer {
    fn accept(&self) -> suite::Result<Box<dyn TlsConnection>> {
        connection(self.0.accept())
    }

    fn accept_from(&self, acceptor: &mut dyn TlsAcceptor) -> suite::Result<Box<dyn TlsConnection>> {
        let Some(acceptor) = acceptor.as_any_mut().downcast_mut::<WitAcceptor>() else {
            return Err(suite::Error::misuse(
                "that acceptor belongs to another provider",
            ));
        };
        connection(acceptor.0.accept(&self.0))
    }
}

impl TlsConnection for WitConnection {
    fn feed(&mut self, data: &[u8]) -> suite::Result<u32> {
        lift(self.0.feed(data))
    }
    fn eof(&mut self) -> suite::Result<()> {
        lift(self.0.eof())
    }
    fn take(&mut self, max: u32) -> Vec<u8> {
        self.0.take(max)
    }
    fn pending_ciphertext(&self) -> u32 {
        self.0.pending_ciphertext()
    }
    fn handshake(&mut self) -> suite::Result<suite::Progress> {
        lift(self.0.handshake()).map(to_progress)
    }
    fn is_handshake_complete(&self) -> bool {
        self.0.is_handshake_complete()
    }
    fn read(&mut self, max: u32) -> suite::Result<suite::ReadOutcome> {
        lift(self.0.read(max)).map(to_read)
    }
    fn write(&mut self, data: &[u8]) -> suite::Result<suite::WriteOutcome> {
        lift(self.0.write(data)).map(to_write)
    }
    fn pending_plaintext(&self) -> u32 {
        self.0.pending_plaintext()
    }
    fn shutdown(&mut self) -> suite::Result<suite::Progress> {
        lift(self.0.shutdown()).map(to_progress)
    }
    fn peer_closed(&self) -> bool {
        self.0.peer_closed()
    }
    fn protocol_version(&self) -> Option<suite::ProtocolVersion> {
        self.0.protocol_version().map(to_version)
    }
    fn cipher_suite(&self) -> Option<suite::CipherSuite> {
        self.0.cipher_suite().map(to_suite)
    }
    fn key_exchange_group(&self) -> Option<suite::KeyExchangeGroup> {
        self.0.key_exchange_group().map(to_group)
    }
    fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.0.alpn_protocol()
    }
    fn peer_certificates(&self) -> Vec<Vec<u8>> {
        self.0.peer_certificates()
    }
    fn verified_chain(&self) -> Vec<Vec<u8>> {
        self.0.verified_chain()
    }
    fn server_name(&self) -> Option<String> {
        self.0.server_name()
    }
    fn resumed(&self) -> bool {
        self.0.resumed()
    }
    fn session(&self) -> suite::Result<Option<Box<dyn TlsSession>>> {
        Ok(lift(self.0.session())?.map(|s| {
            let info = to_session_info(s.info());
            Box::new(WitSession(s, info)) as Box<dyn TlsSession>
        }))
    }
    fn export_keying_material(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        length: u32,
    ) -> suite::Result<Vec<u8>> {
        lift(self.0.export_keying_material(label, context, length))
    }
    fn request_key_update(&mut self) -> suite::Result<()> {
        lift(self.0.request_key_update())
    }
}

impl TlsSession for WitSession {
    fn info(&self) -> &SessionInfo {
        &self.1
    }
    fn is_usable(&self) -> bool {
        self.0.is_usable()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl TlsAcceptor for WitAcceptor {
    fn feed(&mut self, data: &[u8]) -> suite::Result<u32> {
        lift(self.0.feed(data))
    }
    fn eof(&mut self) -> suite::Result<()> {
        lift(self.0.eof())
    }
    fn client_hello(&self) -> Option<ClientHello> {
        self.0.client_hello().map(to_client_hello)
    }
    fn refuse(&mut self, description: u8) -> suite::Result<()> {
        lift(self.0.refuse(description))
    }
    fn take(&mut self, max: u32) -> Vec<u8> {
        self.0.take(max)
    }
    fn pending_ciphertext(&self) -> u32 {
        self.0.pending_ciphertext()
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

fn backend() -> Rc<Backend> {
    Rc::new(Wit)
}

impl Guest for Runner {
    fn list_scenarios() -> Vec<String> {
        memtls_scenario_suite::SCENARIOS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect()
    }

    fn list_attacks() -> Vec<String> {
        hostile::ATTACKS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect()
    }

    fn run(name: String, fixtures: Vec<(String, Vec<u8>)>) -> Outcome {
        let fixtures: Fixtures = fixtures.into_iter().collect();
        match hostile::ATTACKS.iter().find(|(n, _)| *n == name) {
            Some((_, attack)) => {
                memtls_scenario_suite::with_backend(backend(), || attack(&fixtures))
            }
            None => memtls_scenario_suite::run(backend(), &name, &fixtures),
        }
    }

    fn cycles(fixtures: Vec<(String, Vec<u8>)>, count: u32) -> Result<u32, String> {
        memtls_scenario_suite::cycles(backend(), &fixtures.into_iter().collect(), count)
    }

    fn bench(
        fixtures: Vec<(String, Vec<u8>)>,
        workload: runner::Workload,
    ) -> Result<runner::Figures, String> {
        let workload = match workload {
            runner::Workload::Full(w) => bench::Workload::Full {
                chain: w.chain,
                count: w.count,
                ca: w.ca,
                groups: w.groups,
            },
            runner::Workload::Resumed(n) => bench::Workload::Resumed(n),
            runner::Workload::Bulk(w) => bench::Workload::Bulk {
                suite: w.suite,
                records: w.records,
            },
            runner::Workload::IdleHold(n) => bench::Workload::IdleHold(n),
            runner::Workload::IdleRelease => bench::Workload::IdleRelease,
        };
        let figures =
            memtls_scenario_suite::bench(backend(), &fixtures.into_iter().collect(), &workload)?;
        Ok(match figures {
            bench::Figures::Handshakes {
                elapsed_ns,
                resumed,
            } => runner::Figures::Handshakes(runner::HandshakeFigures {
                elapsed_ns,
                resumed,
            }),
            bench::Figures::Bulk {
                encrypt_ns,
                decrypt_ns,
                bytes,
                boundary,
                records,
            } => runner::Figures::Bulk(runner::BulkFigures {
                encrypt_ns,
                decrypt_ns,
                bytes,
                boundary,
                records,
            }),
            bench::Figures::Held(n) => runner::Figures::Held(n),
        })
    }

    fn verify(
        anchors: Vec<Vec<u8>>,
        pinned: Vec<Vec<u8>>,
        chain: Vec<Vec<u8>>,
        server_name: String,
        at_time: Option<u64>,
    ) -> Result<(), tls::Error> {
        let trust = tls::TrustStore {
            system: false,
            anchors,
            pinned,
        };
        tls::verify_server_chain(&trust, &chain, &server_name, at_time)
    }
}

export!(Runner);

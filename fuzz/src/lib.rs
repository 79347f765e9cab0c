//! Shared set-up for the fuzz targets: an engine, certificates, and a driver that
//! brings a real connection to a handshake stage before the fuzzer's bytes.

use std::sync::OnceLock;

use memtls_engine::{
    Admission, ClientConfig, ClientContext, Connection, Engine, EngineOptions, Policy, Progress,
    ServerConfig, ServerContext, SigningChain, TlsConnection as _, TrustStore, Verification,
};

/// Certificates generated once per fuzzing process.
pub struct Certs {
    /// CA certificate (PEM).
    pub ca: Vec<u8>,
    /// Server chain (PEM).
    pub chain: Vec<u8>,
    /// Server key (PKCS#8 PEM).
    pub key: Vec<u8>,
}

/// The process-wide certificates (the scenario fixtures' CA and `localhost`
/// server chain).
pub fn certs() -> &'static Certs {
    static C: OnceLock<Certs> = OnceLock::new();
    C.get_or_init(|| {
        let (ca, chain, key) = memtls_scenario_suite::fixtures::server().expect("fixtures");
        Certs { ca, chain, key }
    })
}

/// The process-wide engine.
pub fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(EngineOptions::ring("fuzz")))
}

/// The process-wide admission: no caps that would stop a fuzz run early, and
/// the server certificate granted as host identity `fuzz` for both purposes
/// (an input naming it reaches the identity's use).
pub fn admission() -> &'static Admission {
    static A: OnceLock<Admission> = OnceLock::new();
    A.get_or_init(|| {
        let c = certs();
        let chain = memtls_engine::parse_certificates(std::slice::from_ref(&c.chain), "chain")
            .expect("the fixture chain");
        let key = memtls_engine::rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(memtls_engine::parse_private_key(&c.key).expect("the key"))
            .expect("a ring key");
        let identity = memtls_engine::HostIdentity::new("fuzz", chain, key, &[], "fuzz fixture")
            .expect("the identity");
        Admission::new(Policy {
            max_connections: usize::MAX,
            max_contexts: usize::MAX,
            max_config_bytes: usize::MAX,
            identities: vec![std::sync::Arc::new(identity)],
            ..Policy::default()
        })
    })
}

/// Client and server contexts over the certificates.
pub fn contexts() -> &'static (ClientContext, ServerContext) {
    static C: OnceLock<(ClientContext, ServerContext)> = OnceLock::new();
    C.get_or_init(|| {
        let c = certs();
        let client = engine()
            .client_context(
                &ClientConfig {
                    trust: TrustStore {
                        system: false,
                        anchors: vec![c.ca.clone()],
                        pinned: vec![],
                    },
                    send_sni: true,
                    alpn_protocols: vec![b"h2".to_vec()],
                    ..Default::default()
                },
                Verification::Full,
                admission(),
            )
            .unwrap();
        let server = engine()
            .server_context(
                &ServerConfig {
                    certificate_chains: vec![SigningChain {
                        certificates: vec![c.chain.clone()],
                        private_key: c.key.clone(),
                        private_key_password: None,
                        host_identity: None,
                    }],
                    alpn_protocols: vec![b"h2".to_vec()],
                    session_tickets: true,
                    ..Default::default()
                },
                admission(),
            )
            .unwrap();
        (client, server)
    })
}

fn pump(from: &mut Connection, to: &mut Connection) {
    let data = from.take(u32::MAX);
    let mut off = 0;
    while off < data.len() {
        match to.feed(&data[off..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => off += n as usize,
        }
    }
}

/// A real client/server pair advanced by `steps` exchanges (0: nothing yet).
pub fn pair_at_stage(steps: u8) -> (Connection, Connection) {
    let (cc, sc) = contexts();
    let mut client = cc.connect("localhost").unwrap();
    let mut server = sc.accept().unwrap();
    for i in 0..steps {
        if i % 2 == 0 {
            pump(&mut client, &mut server);
        } else {
            pump(&mut server, &mut client);
        }
        let _ = client.handshake();
        let _ = server.handshake();
    }
    (client, server)
}

/// Feeds `data` to `conn` in pieces whose sizes come from the data itself, and
/// exercises every call in between. Must never panic.
pub fn drive(conn: &mut Connection, data: &[u8]) {
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = (n as usize % 64 + 1).min(tail.len());
        let (piece, tail) = tail.split_at(n);
        rest = tail;
        let _ = conn.feed(piece);
        let _ = conn.handshake();
        let _ = conn.read(4096);
        let _ = conn.write(b"fuzz");
        let _ = conn.take(u32::MAX);
        let _ = conn.pending_plaintext();
        let _ = conn.protocol_version();
        let _ = conn.cipher_suite();
        let _ = conn.peer_certificates();
        let _ = conn.verified_chain();
        let _ = conn.export_keying_material(b"EXPORTER", None, 32);
        if matches!(conn.handshake(), Ok(Progress::Done)) {
            let _ = conn.request_key_update();
        }
    }
    let _ = conn.shutdown();
    let _ = conn.eof();
    let _ = conn.read(4096);
}

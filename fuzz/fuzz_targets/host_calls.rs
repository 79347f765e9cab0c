//! Random sequences of interface calls with random arguments against a host
//! provider (the first byte picks native or openssl), exactly as a guest's
//! calls arrive (handles included): bad
//! handles, use after drop, wrong resource types, zero and huge lengths, TLS 1.2
//! and 1.3 connections, exporter and key-update arguments at their limits,
//! context floods, sessions offered and handed out, acceptors fed anything. The host must answer with errors, never panic (libFuzzer's
//! panic hook aborts before the host's catch_unwind could hide one).
#![no_main]

use memtls_host::bindings::memtls::tls::insecure::Host as _;
use memtls_host::bindings::memtls::tls::tls::{
    self as wit, Host as _, HostAcceptor, HostClientContext, HostConnection, HostServerContext,
    HostSession,
};
use memtls_host::{
    Acceptor, ClientContext, Connection, MemtlsCtx, MemtlsCtxView, Policy, ServerContext, Session,
};
use wasmtime::component::{Resource, ResourceTable};

fn configs() -> (wit::ClientConfig, wit::ServerConfig) {
    let c = memtls_fuzz::certs();
    let client = wit::ClientConfig {
        trust: wit::TrustStore {
            system: false,
            anchors: vec![c.ca.clone()],
            pinned: vec![],
        },
        certificate_chain: None,
        alpn_protocols: vec![b"h2".to_vec()],
        min_version: None,
        max_version: None,
        cipher_suites: None,
        key_exchange_groups: None,
        send_sni: true,
    };
    let server = wit::ServerConfig {
        certificate_chains: vec![wit::SigningChain {
            certificates: vec![c.chain.clone()],
            private_key: c.key.clone(),
            private_key_password: None,
            host_identity: None,
        }],
        client_auth: wit::ClientAuth::None,
        alpn_protocols: vec![b"h2".to_vec()],
        min_version: None,
        max_version: None,
        cipher_suites: None,
        key_exchange_groups: None,
        session_tickets: true,
    };
    (client, server)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (client_cfg, server_cfg) = configs();
    let policy = Policy {
        max_connections: 8,
        allow_insecure: true,
        ..Policy::default()
    };
    let Some((&provider, data)) = data.split_first() else {
        return;
    };
    let mut ctx = if provider & 1 == 0 {
        MemtlsCtx::native(policy).expect("policy")
    } else {
        MemtlsCtx::openssl(policy)
    };
    let mut table = ResourceTable::new();
    let mut v = MemtlsCtxView {
        ctx: &mut ctx,
        table: &mut table,
    };
    // Representations of everything created; picks may also name bad ones.
    let mut reps: Vec<u32> = Vec::new();
    let mut it = data.iter().copied();
    while let Some(op) = it.next() {
        let pick = it.next().unwrap_or(0);
        let rep = if reps.is_empty() || pick >= 240 {
            u32::from(pick)
        } else {
            reps[usize::from(pick) % reps.len()]
        };
        let conn = || Resource::<Connection>::new_borrow(rep);
        let bytes = |it: &mut std::iter::Copied<std::slice::Iter<'_, u8>>| -> Vec<u8> {
            let n = usize::from(it.next().unwrap_or(0)) * 4;
            it.take(n).collect()
        };
        match op % 34 {
            0 => {
                if let Ok(Ok(r)) = HostClientContext::create(&mut v, client_cfg.clone()) {
                    reps.push(r.rep());
                }
            }
            1 => {
                if let Ok(Ok(r)) = HostServerContext::create(&mut v, server_cfg.clone()) {
                    reps.push(r.rep());
                }
            }
            2 => {
                let name = if pick % 3 == 0 { "" } else { "localhost" };
                if let Ok(Ok(r)) =
                    v.connect(Resource::<ClientContext>::new_borrow(rep), name.into())
                {
                    reps.push(r.rep());
                }
            }
            3 => {
                if let Ok(Ok(r)) =
                    HostServerContext::accept(&mut v, Resource::<ServerContext>::new_borrow(rep))
                {
                    reps.push(r.rep());
                }
            }
            4 => {
                let b = bytes(&mut it);
                let _ = HostConnection::feed(&mut v, conn(), b);
            }
            5 => {
                let _ = HostConnection::take(&mut v, conn(), u32::from(pick) * 257);
            }
            6 => {
                let _ = v.handshake(conn());
            }
            7 => {
                let _ = v.read(
                    conn(),
                    if pick % 2 == 0 {
                        u32::MAX
                    } else {
                        u32::from(pick)
                    },
                );
            }
            8 => {
                let b = bytes(&mut it);
                let _ = v.write(conn(), b);
            }
            9 => {
                let _ = v.shutdown(conn());
            }
            10 => {
                let _ = HostConnection::eof(&mut v, conn());
            }
            11 => {
                let label = bytes(&mut it);
                let _ = v.export_keying_material(conn(), label, None, u32::from(pick) * 97);
            }
            12 => {
                let _ = v.request_key_update(conn());
            }
            13 => {
                let _ = HostConnection::drop(&mut v, Resource::new_own(rep));
            }
            14 => {
                let _ = HostClientContext::drop(&mut v, Resource::new_own(rep));
            }
            15 => {
                let _ = HostServerContext::drop(&mut v, Resource::new_own(rep));
            }
            16 => {
                // Move ciphertext between two connections so real handshakes happen.
                let to = reps
                    .get(usize::from(it.next().unwrap_or(0)) % reps.len().max(1))
                    .copied()
                    .unwrap_or(0);
                if let Ok(data) = HostConnection::take(&mut v, conn(), u32::MAX) {
                    let _ = HostConnection::feed(&mut v, Resource::new_borrow(to), data);
                }
            }
            17 => {
                let _ = HostConnection::pending_ciphertext(&mut v, conn());
                let _ = v.pending_plaintext(conn());
                let _ = v.is_handshake_complete(conn());
                let _ = v.peer_closed(conn());
                let _ = v.protocol_version(conn());
                let _ = v.cipher_suite(conn());
                let _ = v.alpn_protocol(conn());
                let _ = v.peer_certificates(conn());
                let _ = v.verified_chain(conn());
                let _ = v.server_name(conn());
                let _ = v.resumed(conn());
            }
            18 => {
                let b = bytes(&mut it);
                let trust = wit::TrustStore {
                    system: false,
                    anchors: vec![b.clone()],
                    pinned: vec![],
                };
                let _ = v.verify_server_chain(
                    trust,
                    vec![b.clone()],
                    "localhost".into(),
                    Some(u64::from(pick) << 30),
                );
                let _ = v.decode_certificate(b);
            }
            19 => {
                if let Ok(Ok(r)) = v.client_context_without_verification(client_cfg.clone()) {
                    reps.push(r.rep());
                }
            }
            20 => {
                let mut cfg = client_cfg.clone();
                cfg.trust.anchors = vec![bytes(&mut it)];
                cfg.alpn_protocols = vec![bytes(&mut it)];
                let _ = HostClientContext::create(&mut v, cfg);
            }
            21 => {
                let mut cfg = server_cfg.clone();
                cfg.certificate_chains[0].private_key = bytes(&mut it);
                let _ = HostServerContext::create(&mut v, cfg);
            }
            22 => {
                let _ = v.implementation();
                let _ = v.supported_versions();
                let _ = v.supported_cipher_suites();
            }
            24 => {
                // TLS 1.2 only, so exporters and key updates meet TLS 1.2 too.
                let mut cfg = client_cfg.clone();
                cfg.max_version = Some(wit::ProtocolVersion::Tls12);
                if let Ok(Ok(r)) = HostClientContext::create(&mut v, cfg) {
                    reps.push(r.rep());
                }
            }
            25 => {
                // Exporter arguments around their limits: contexts up to 76,500
                // bytes, labels up to 255, lengths up to 16,320.
                let label = vec![b'l'; usize::from(it.next().unwrap_or(0))];
                let context = (pick % 4 != 0).then(|| vec![b'c'; usize::from(pick) * 300]);
                let length = u32::from(it.next().unwrap_or(0)) * 64;
                let _ = v.export_keying_material(conn(), label, context, length);
            }
            26 => {
                // A flood of contexts with system trust, past the cap.
                for _ in 0..300 {
                    let mut cfg = client_cfg.clone();
                    cfg.trust.system = true;
                    match HostClientContext::create(&mut v, cfg) {
                        Ok(Ok(r)) => reps.push(r.rep()),
                        _ => break,
                    }
                }
            }
            27 => {
                // Key updates without taking the ciphertext.
                for _ in 0..usize::from(pick) * 8 {
                    if !matches!(v.request_key_update(conn()), Ok(Ok(()))) {
                        break;
                    }
                }
            }
            28 => {
                // A connection offering whatever handle was picked as a session.
                let resume = (pick % 2 == 0).then(|| Resource::<Session>::new_borrow(rep));
                let to = reps.first().copied().unwrap_or(0);
                if let Ok(Ok(r)) = v.connect_with(
                    Resource::<ClientContext>::new_borrow(to),
                    "localhost".into(),
                    resume,
                ) {
                    reps.push(r.rep());
                }
            }
            29 => {
                if let Ok(Ok(Some(r))) = v.session(conn()) {
                    reps.push(r.rep());
                }
            }
            30 => {
                let s = Resource::<Session>::new_borrow(rep);
                let _ = HostSession::info(&mut v, s);
                let _ = v.is_usable(Resource::new_borrow(rep));
                if pick % 3 == 0 {
                    let _ = HostSession::drop(&mut v, Resource::new_own(rep));
                }
            }
            31 => {
                if let Ok(Ok(r)) = HostAcceptor::create(&mut v) {
                    reps.push(r.rep());
                }
            }
            32 => {
                let a = || Resource::<Acceptor>::new_borrow(rep);
                let b = bytes(&mut it);
                let _ = HostAcceptor::feed(&mut v, a(), b);
                let _ = v.client_hello(a());
                let _ = HostAcceptor::pending_ciphertext(&mut v, a());
                let _ = HostAcceptor::take(&mut v, a(), u32::from(pick) * 3);
                if pick % 5 == 0 {
                    let _ = v.refuse(a(), pick);
                }
                if pick % 7 == 0 {
                    let _ = HostAcceptor::eof(&mut v, a());
                }
            }
            33 => {
                // Accept with whatever handle was picked as the context; a
                // connection's ClientHello moved to an acceptor first.
                let from = reps.first().copied().unwrap_or(0);
                if let Ok(hello) =
                    HostConnection::take(&mut v, Resource::new_borrow(from), u32::MAX)
                {
                    let _ = HostAcceptor::feed(&mut v, Resource::new_borrow(rep), hello);
                }
                let to = reps.last().copied().unwrap_or(0);
                if let Ok(Ok(r)) = HostAcceptor::accept(
                    &mut v,
                    Resource::new_borrow(rep),
                    Resource::<ServerContext>::new_borrow(to),
                ) {
                    reps.push(r.rep());
                }
                if pick % 4 == 0 {
                    let _ = HostAcceptor::drop(&mut v, Resource::new_own(rep));
                }
            }
            _ => {
                // A connection handle used as a context and the other way round.
                let _ = v.connect(
                    Resource::<ClientContext>::new_borrow(rep),
                    "localhost".into(),
                );
                let _ = HostConnection::feed(&mut v, conn(), vec![22, 3, 3, 0, 1, 1]);
            }
        }
    }
});

//! Native tests of the engine: a client and a server connection pumping bytes
//! to each other in memory, without any Wasm in between.

use memtls_engine::TlsConnection as _;
use memtls_engine::{
    Acceptor, Admission, BaseRoots, ClientConfig, ClientHello, Connection, Engine, EngineOptions,
    Error, ErrorKind, Policy, Progress, ReadOutcome, ServerConfig, SigningChain, TrustStore,
    Verification, WriteOutcome,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

struct Certs {
    ca: Vec<u8>,
    chain: Vec<u8>,
    key: Vec<u8>,
}

/// A fresh CA and a `localhost` leaf it issued, from the scenario fixtures.
fn certs() -> Certs {
    let (ca, chain, key) = memtls_scenario_suite::fixtures::server().expect("fixtures");
    Certs { ca, chain, key }
}

fn engine() -> Engine {
    Engine::new(EngineOptions::ring("test"))
}

fn admission() -> Admission {
    Admission::new(Policy::default())
}

fn pair(e: &Engine, c: &Certs) -> (Connection, Connection) {
    pair_with(e, c, None)
}

/// A client context trusting the test CA, at `version` (both when set).
fn client_context(
    e: &Engine,
    c: &Certs,
    version: Option<memtls_engine::ProtocolVersion>,
) -> memtls_engine::ClientContext {
    client_context_under(e, c, version, &admission())
}

/// [`client_context`] admitted by `admission`.
fn client_context_under(
    e: &Engine,
    c: &Certs,
    version: Option<memtls_engine::ProtocolVersion>,
    admission: &Admission,
) -> memtls_engine::ClientContext {
    client_context_with(e, c, admission, |config| {
        config.max_version = version;
        config.min_version = version;
    })
}

/// A client context trusting the test CA, sending SNI, configured further by
/// `adjust`.
fn client_context_with(
    e: &Engine,
    c: &Certs,
    admission: &Admission,
    adjust: impl FnOnce(&mut ClientConfig),
) -> memtls_engine::ClientContext {
    let mut config = ClientConfig {
        trust: TrustStore {
            system: false,
            anchors: vec![c.ca.clone()],
            pinned: vec![],
        },
        send_sni: true,
        ..Default::default()
    };
    adjust(&mut config);
    e.client_context(&config, Verification::Full, admission)
        .unwrap()
}

fn pair_with(
    e: &Engine,
    c: &Certs,
    version: Option<memtls_engine::ProtocolVersion>,
) -> (Connection, Connection) {
    let client = client_context(e, c, version);
    let server = e
        .server_context(
            &ServerConfig {
                certificate_chains: vec![SigningChain {
                    certificates: vec![c.chain.clone()],
                    private_key: c.key.clone(),
                    private_key_password: None,
                    host_identity: None,
                }],
                ..Default::default()
            },
            &admission(),
        )
        .unwrap();
    (
        client.connect("localhost").unwrap(),
        server.accept().unwrap(),
    )
}

fn move_all(from: &mut Connection, to: &mut Connection) -> Result<usize, Error> {
    let data = from.take(u32::MAX);
    let mut off = 0;
    while off < data.len() {
        off += to.feed(&data[off..])? as usize;
    }
    Ok(data.len())
}

fn handshake(c: &mut Connection, s: &mut Connection) {
    for _ in 0..10 {
        let _ = c.handshake().unwrap();
        let _ = s.handshake().unwrap();
        move_all(c, s).unwrap();
        move_all(s, c).unwrap();
    }
    assert_eq!(c.handshake().unwrap(), Progress::Done);
    assert_eq!(s.handshake().unwrap(), Progress::Done);
}

#[test]
fn transfer_is_exact_and_bounded() {
    let e = engine();
    let (mut c, mut s) = pair(&e, &certs());
    handshake(&mut c, &mut s);
    let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i * 7 + i / 251) as u8).collect();
    let start = std::time::Instant::now();
    let mut sent = 0;
    let mut got = Vec::new();
    while got.len() < data.len() {
        if sent < data.len() {
            match c
                .write(&data[sent..(sent + 65536).min(data.len())])
                .unwrap()
            {
                WriteOutcome::Written(n) => sent += n as usize,
                other => panic!("{other:?}"),
            }
        }
        assert!(c.pending_ciphertext() as usize <= memtls_engine::DEFAULT_MAX_BUFFERED + 4096);
        let cipher = c.take(u32::MAX);
        let mut off = 0;
        while off < cipher.len() {
            off += s.feed(&cipher[off..]).unwrap() as usize;
            while let ReadOutcome::Data(d) = s.read(1 << 16).unwrap() {
                got.extend_from_slice(&d);
            }
        }
    }
    eprintln!("4 MiB in {:?}", start.elapsed());
    assert!(got == data, "plaintext differs");
}

#[test]
fn garbage_is_a_sticky_protocol_error_with_an_alert() {
    let e = engine();
    let (_c, mut s) = pair(&e, &certs());
    let err = s.feed(b"\x00\x01garbage that is not TLS").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Protocol);
    assert!(!err.message.is_empty());
    assert_eq!(s.handshake().unwrap_err(), err);
    assert_eq!(s.take(100).first(), Some(&21), "alert record queued");
}

#[test]
fn ragged_eof_and_clean_close_are_distinct() {
    let e = engine();
    let c = certs();
    let (mut a, mut b) = pair(&e, &c);
    handshake(&mut a, &mut b);
    a.shutdown().unwrap();
    move_all(&mut a, &mut b).unwrap();
    assert_eq!(b.read(10).unwrap_err().kind, ErrorKind::Closed);
    let (mut a, mut b) = pair(&e, &c);
    handshake(&mut a, &mut b);
    b.eof().unwrap();
    assert_eq!(b.read(10).unwrap_err().kind, ErrorKind::RaggedEof);
    assert_eq!(a.feed(&[]).unwrap(), 0);
}

#[test]
fn every_byte_value_prefix_never_panics() {
    // Truncations and corruptions of a real ClientHello: never a panic.
    let e = engine();
    let (mut c, _) = pair(&e, &certs());
    let hello = c.take(u32::MAX);
    for cut in 0..hello.len() {
        for flip in [0x00u8, 0xff, 0x80] {
            let (_, mut s) = pair(&e, &certs_cached());
            let mut bytes = hello[..cut].to_vec();
            if let Some(b) = bytes.last_mut() {
                *b ^= flip;
            }
            let _ = s.feed(&bytes);
            let _ = s.handshake();
            let _ = s.read(16);
        }
    }
}

fn certs_cached() -> Certs {
    use std::sync::OnceLock;
    static C: OnceLock<(Vec<u8>, Vec<u8>, Vec<u8>)> = OnceLock::new();
    let (ca, chain, key) = C.get_or_init(|| {
        let c = certs();
        (c.ca, c.chain, c.key)
    });
    Certs {
        ca: ca.clone(),
        chain: chain.clone(),
        key: key.clone(),
    }
}

#[test]
fn exporter_arguments_are_checked_before_rustls_sees_them() {
    // rustls asserts (panics) on a TLS 1.2 context over 65,535 bytes and
    // truncates long TLS 1.3 labels: the engine refuses both with misuse.
    let e = engine();
    let c = certs();
    for version in [
        memtls_engine::ProtocolVersion::Tls12,
        memtls_engine::ProtocolVersion::Tls13,
    ] {
        let (mut a, mut b) = pair_with(&e, &c, Some(version));
        handshake(&mut a, &mut b);
        let huge = vec![7u8; 70_000];
        for (label, context, length, why) in [
            (
                &b"EXPORTER-test"[..],
                Some(&huge[..]),
                32,
                "context is 70000 bytes",
            ),
            (&[b'l'; 250][..], None, 32, "label is 250 bytes"),
            (&b""[..], None, 32, "label is 0 bytes"),
            (&b"EXPORTER-test"[..], None, 0, "length 0"),
        ] {
            let err = a
                .export_keying_material(label, context, length)
                .unwrap_err();
            assert_eq!(err.kind, ErrorKind::Misuse, "{version:?}: {}", err.message);
            assert!(err.message.contains(why), "{version:?}: {}", err.message);
        }
        // The edges that are allowed work, and both sides agree.
        let max_context = vec![1u8; 65_535];
        let label = [b'l'; 249];
        let ours = a
            .export_keying_material(&label, Some(&max_context), 32)
            .unwrap();
        let theirs = b
            .export_keying_material(&label, Some(&max_context), 32)
            .unwrap();
        assert_eq!(ours, theirs, "{version:?}");
    }
}

#[test]
fn garbage_after_our_close_notify_is_an_error() {
    // Found by the host_calls fuzz target (fuzz/regressions/host_calls): rustls
    // marks close_notify as a fatal alert sent, and a second fatal alert trips
    // its debug assertion. With the workspace's profile (rustls without debug
    // assertions, as released) this is an error and a second alert, never a panic.
    let e = engine();
    let c = certs();
    for complete in [false, true] {
        let (mut a, mut b) = pair(&e, &c);
        if complete {
            handshake(&mut a, &mut b);
        }
        let _ = a.shutdown().unwrap();
        let _ = a.take(u32::MAX);
        let err = a
            .feed(&[22, 3, 3, 0, 4, 0xff, 0xff, 0xff, 0xff])
            .unwrap_err();
        assert!(!err.message.is_empty());
        assert_eq!(a.feed(&[1]).unwrap_err(), err, "sticky");
    }
}

/// Pumps a handshake until the client fails; its error.
fn client_refusal(client: &mut Connection, server: &mut Connection) -> Error {
    for _ in 0..10 {
        if let Err(x) = move_all(client, server).and_then(|_| move_all(server, client)) {
            return x;
        }
        if let Err(x) = client.handshake() {
            return x;
        }
    }
    panic!("the handshake must fail");
}

#[test]
fn certificate_rejections_name_the_certificate_and_what_failed() {
    let e = engine();
    let c = certs();
    let client = client_context(&e, &c, None);
    let (_, mut server) = pair(&e, &c);
    let mut client = client.connect("other.example").unwrap();
    let err = client_refusal(&mut client, &mut server);
    assert!(
        matches!(err.kind, ErrorKind::CertificateRejected(_)),
        "{err:?}"
    );
    assert!(
        err.message.contains("\"localhost\"")
            && err.message.contains("not valid for other.example"),
        "{}",
        err.message
    );
}

#[test]
fn pins_check_validity_and_name_and_vouch_for_nothing_else() {
    use memtls_engine::CertificateReason as R;
    let e = engine();
    let mut params = CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained); // as `openssl req -x509` makes it
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2030, 1, 1);
    let key = KeyPair::generate().unwrap();
    let pin = params.self_signed(&key).unwrap().der().to_vec();
    let trust = TrustStore {
        system: false,
        anchors: vec![],
        pinned: vec![pin.clone()],
    };
    let alone = std::slice::from_ref(&pin);
    let verify = |chain: &[Vec<u8>], name: &str, at: u64| {
        e.verify_server_chain(&check(&trust, chain, name, Some(at)), &admission())
    };
    let in_2025 = 1_735_689_600;
    assert_eq!(verify(alone, "localhost", in_2025), Ok(()));
    let kind = |r: Result<(), Error>| r.unwrap_err().kind;
    assert_eq!(
        kind(verify(alone, "localhost", 1_900_000_000)),
        ErrorKind::CertificateRejected(R::Expired)
    );
    assert_eq!(
        kind(verify(alone, "localhost", 1_500_000_000)),
        ErrorKind::CertificateRejected(R::NotYetValid)
    );
    assert_eq!(
        kind(verify(alone, "example.org", in_2025)),
        ErrorKind::CertificateRejected(R::NameMismatch)
    );
    // A pin still has to be fit for a server: its extended key usage.
    let mut client_only = CertificateParams::new(vec!["localhost".into()]).unwrap();
    client_only.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_only = client_only
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap()
        .der()
        .to_vec();
    let err = e
        .verify_server_chain(
            &check(
                &TrustStore {
                    pinned: vec![client_only.clone()],
                    ..trust.clone()
                },
                &[client_only],
                "localhost",
                None,
            ),
            &admission(),
        )
        .unwrap_err();
    assert!(
        err.message.contains("extended key usage"),
        "{}",
        err.message
    );
    // What the pinned CA signed is not trusted through the pin.
    let leaf_key = KeyPair::generate().unwrap();
    let issuer = CertifiedIssuer::self_signed(params, key).unwrap();
    let leaf = CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let err = verify(&[leaf.der().to_vec(), pin.clone()], "localhost", in_2025).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::CertificateRejected(R::Other),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("none of the pinned"),
        "{}",
        err.message
    );
}

/// A three-level chain: root, intermediate, leaf for `localhost` (DER each).
struct Hierarchy {
    root: Vec<u8>,
    intermediate: Vec<u8>,
    leaf: Vec<u8>,
    key: Vec<u8>,
}

fn hierarchy() -> Hierarchy {
    let ca = |params: &mut CertificateParams| {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    };
    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca(&mut root);
    let root = CertifiedIssuer::self_signed(root, KeyPair::generate().unwrap()).unwrap();
    let mut intermediate = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca(&mut intermediate);
    let intermediate =
        CertifiedIssuer::signed_by(intermediate, KeyPair::generate().unwrap(), &root).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &intermediate)
        .unwrap();
    Hierarchy {
        root: root.der().to_vec(),
        intermediate: intermediate.der().to_vec(),
        leaf: leaf.der().to_vec(),
        key: key.serialize_der(),
    }
}

/// A certificate chain (DER or PEM each) and its key.
type Signing<'a> = (&'a [Vec<u8>], &'a [u8]);

/// Handshakes a client with `trust` (and `verification`) against a server
/// presenting `chain`, which asks for `client_chain`'s certificate when given.
fn connect_with(
    e: &Engine,
    trust: TrustStore,
    verification: Verification,
    chain: Signing<'_>,
    client_chain: Option<(Signing<'_>, TrustStore)>,
) -> (Connection, Connection) {
    let signing = |(certificates, key): Signing<'_>| SigningChain {
        certificates: certificates.to_vec(),
        private_key: key.to_vec(),
        private_key_password: None,
        host_identity: None,
    };
    let client = e
        .client_context(
            &ClientConfig {
                trust,
                send_sni: true,
                certificate_chain: client_chain.as_ref().map(|(c, _)| signing(*c)),
                ..Default::default()
            },
            verification,
            &Admission::new(Policy {
                allow_insecure: true,
                ..Policy::default()
            }),
        )
        .unwrap();
    let server = e
        .server_context(
            &ServerConfig {
                certificate_chains: vec![signing(chain)],
                client_auth: match client_chain {
                    Some((_, trust)) => memtls_engine::ClientAuth::Required(trust),
                    None => memtls_engine::ClientAuth::None,
                },
                ..Default::default()
            },
            &admission(),
        )
        .unwrap();
    let mut c = client.connect("localhost").unwrap();
    let mut s = server.accept().unwrap();
    handshake(&mut c, &mut s);
    (c, s)
}

fn anchors(anchors: Vec<Vec<u8>>) -> TrustStore {
    TrustStore {
        system: false,
        anchors,
        pinned: vec![],
    }
}

#[test]
fn the_verified_chain_is_the_path_the_verifier_built() {
    let e = engine();
    let h = hierarchy();
    // The server sends an unrelated certificate too; the path skips it and
    // ends with the anchor, which the server did not send.
    let stray = hierarchy().root;
    let sent = vec![h.leaf.clone(), stray, h.intermediate.clone()];
    let (c, s) = connect_with(
        &e,
        anchors(vec![h.root.clone()]),
        Verification::Full,
        (&sent, &h.key),
        None,
    );
    assert_eq!(
        c.verified_chain(),
        vec![h.leaf.clone(), h.intermediate.clone(), h.root.clone()]
    );
    assert_eq!(c.peer_certificates(), sent);
    assert!(s.verified_chain().is_empty(), "no client certificate");

    // The path the client reports when it trusts `trust` and verifies as `mode`.
    let path = |trust, mode| {
        connect_with(&e, trust, mode, (&sent, &h.key), None)
            .0
            .verified_chain()
    };

    // The intermediate as the anchor: a shorter path.
    let to_intermediate = anchors(vec![h.intermediate.clone()]);
    assert_eq!(
        path(to_intermediate, Verification::Full),
        vec![h.leaf.clone(), h.intermediate.clone()]
    );

    // A pin is a path of one.
    let pinned = TrustStore {
        pinned: vec![h.leaf.clone()],
        ..anchors(vec![])
    };
    assert_eq!(path(pinned, Verification::Full), vec![h.leaf.clone()]);

    // Without hostname checks the chain is still verified and reported.
    let other = anchors(vec![h.root.clone()]);
    assert_eq!(path(other, Verification::WithoutHostname).len(), 3);

    // Nothing verified, nothing reported; the peer's chain is still there.
    let (c, _) = connect_with(
        &e,
        anchors(vec![]),
        Verification::None,
        (&sent, &h.key),
        None,
    );
    assert!(c.verified_chain().is_empty());
    assert_eq!(c.peer_certificates(), sent);
}

#[test]
fn servers_report_the_clients_verified_chain() {
    let e = engine();
    let server = certs_cached();
    let client = hierarchy();
    let client_chain = [client.leaf.clone(), client.intermediate.clone()];
    let (_, s) = connect_with(
        &e,
        anchors(vec![server.ca.clone()]),
        Verification::Full,
        (std::slice::from_ref(&server.chain), &server.key),
        Some((
            (&client_chain, &client.key),
            anchors(vec![client.root.clone()]),
        )),
    );
    assert_eq!(
        s.verified_chain(),
        vec![client.leaf, client.intermediate, client.root]
    );
}

#[test]
fn system_trust_starts_from_the_base_roots_the_policy_chose() {
    let engine_with = |base_roots, extra_system_anchors| {
        Engine::new(EngineOptions {
            base_roots,
            extra_system_anchors,
            ..EngineOptions::ring("test")
        })
    };
    let h = hierarchy();
    let system = TrustStore {
        system: true,
        ..anchors(vec![])
    };
    let chain = [h.leaf.clone(), h.intermediate.clone()];
    let verify = |e: &Engine| {
        e.verify_server_chain(&check(&system, &chain, "localhost", None), &admission())
    };
    // No base roots and no extra anchors: a clear configuration error.
    let err = verify(&engine_with(BaseRoots::None, vec![])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Configuration, "{}", err.message);
    assert!(err.message.contains("\"none\""), "{}", err.message);
    // The Mozilla roots do not know a private CA ...
    let err = verify(&engine_with(BaseRoots::Mozilla, vec![])).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::CertificateRejected(memtls_engine::CertificateReason::UnknownIssuer),
        "{}",
        err.message
    );
    // ... the policy's extra anchors do, with or without base roots.
    for base in [BaseRoots::None, BaseRoots::Mozilla, BaseRoots::Platform] {
        assert_eq!(
            verify(&engine_with(base, vec![h.root.clone()])),
            Ok(()),
            "{base:?}"
        );
    }
    // A client with system trust reports the path to the extra anchor.
    let (c, _) = connect_with(
        &engine_with(BaseRoots::Mozilla, vec![h.root.clone()]),
        system.clone(),
        Verification::Full,
        (&chain, &h.key),
        None,
    );
    assert_eq!(c.verified_chain(), vec![h.leaf, h.intermediate, h.root]);
}

#[test]
fn servers_verify_clients_only_against_their_own_anchors() {
    let e = engine();
    let c = certs_cached();
    let server = |client_auth| {
        e.server_context(
            &ServerConfig {
                certificate_chains: vec![SigningChain {
                    certificates: vec![c.chain.clone()],
                    private_key: c.key.clone(),
                    private_key_password: None,
                    host_identity: None,
                }],
                client_auth,
                ..Default::default()
            },
            &admission(),
        )
        .err()
        .map(|err| (err.kind, err.message))
    };
    let system = TrustStore {
        system: true,
        ..anchors(vec![])
    };
    let (kind, message) = server(memtls_engine::ClientAuth::Required(system)).unwrap();
    assert_eq!(kind, ErrorKind::Configuration);
    assert!(
        message.contains("system trust cannot verify client"),
        "{message}"
    );
    let (kind, message) = server(memtls_engine::ClientAuth::Optional(anchors(vec![]))).unwrap();
    assert_eq!(kind, ErrorKind::Configuration);
    assert!(
        message.contains("no anchors or pinned certificates"),
        "{message}"
    );
    assert_eq!(
        server(memtls_engine::ClientAuth::Required(anchors(vec![
            c.ca.clone()
        ]))),
        None
    );
}

/// A server context for the test certificates, issuing tickets when asked.
fn server_context(e: &Engine, c: &Certs, tickets: bool) -> memtls_engine::ServerContext {
    server_context_with(e, c, |config| config.session_tickets = tickets)
}

/// A server context for the test certificates, configured further by `adjust`.
fn server_context_with(
    e: &Engine,
    c: &Certs,
    adjust: impl FnOnce(&mut ServerConfig),
) -> memtls_engine::ServerContext {
    let mut config = ServerConfig {
        certificate_chains: vec![SigningChain {
            certificates: vec![c.chain.clone()],
            private_key: c.key.clone(),
            private_key_password: None,
            host_identity: None,
        }],
        ..Default::default()
    };
    adjust(&mut config);
    e.server_context(&config, &admission()).unwrap()
}

/// An instance allowed `max_connections` connections (and as many sessions).
fn limited(max_connections: usize) -> Admission {
    Admission::new(Policy {
        max_connections,
        ..Policy::default()
    })
}

/// Handshakes `client` with a fresh server connection, moves one message from
/// the server (TLS 1.3 tickets travel after the handshake), and returns
/// whether both sides say the session was resumed.
fn run(client: &mut Connection, server: &memtls_engine::ServerContext) -> bool {
    let mut s = server.accept().unwrap();
    handshake(client, &mut s);
    let WriteOutcome::Written(_) = s.write(b"hello").unwrap() else {
        panic!("server could not write")
    };
    move_all(&mut s, client).unwrap();
    assert_eq!(
        client.read(100).unwrap(),
        ReadOutcome::Data(b"hello".to_vec())
    );
    assert_eq!(client.resumed(), s.resumed());
    client.resumed()
}

#[test]
fn sessions_resume_only_when_offered_and_say_what_they_are() {
    use memtls_engine::ProtocolVersion::{Tls12, Tls13};
    let e = engine();
    let c = certs();
    for (version, tickets) in [(Tls13, true), (Tls13, false), (Tls12, true), (Tls12, false)] {
        let what = format!("{version:?}, tickets {tickets}");
        let client = client_context(&e, &c, Some(version));
        let server = server_context(&e, &c, tickets);

        let mut first = client.connect_with("localhost", None).unwrap();
        assert!(!run(&mut first, &server), "{what}: nothing to resume yet");
        let session = first
            .session()
            .unwrap()
            .expect("the server issued a session");
        let info = session.info().clone();
        assert_eq!(info.version, version, "{what}");
        assert_eq!(info.id.len(), 32, "{what}: {info:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(now.abs_diff(info.created) < 60, "{what}: {info:?}");
        // TLS 1.3 always resumes with a ticket; TLS 1.2 only when the server
        // issues RFC 5077 tickets (otherwise by session id).
        let ticket = version == Tls13 || tickets;
        assert_eq!(info.has_ticket, ticket, "{what}: {info:?}");
        assert_eq!(info.ticket_lifetime > 0, ticket, "{what}: {info:?}");
        assert_eq!(
            first.session().unwrap().unwrap().info(),
            &info,
            "{what}: asking twice gives the same session"
        );

        let mut fresh = client.connect_with("localhost", None).unwrap();
        assert!(
            !run(&mut fresh, &server),
            "{what}: no session, no resumption"
        );
        assert_ne!(
            fresh.session().unwrap().unwrap().info().id,
            info.id,
            "{what}"
        );

        let mut again = client
            .connect_with("localhost", session.as_any().downcast_ref())
            .unwrap();
        assert!(
            run(&mut again, &server),
            "{what}: the offered session resumes"
        );
        // A TLS 1.3 ticket is used once; a TLS 1.2 session can be offered again.
        assert_eq!(session.is_usable(), version == Tls12, "{what}");
        let mut third = client
            .connect_with("localhost", session.as_any().downcast_ref())
            .unwrap();
        assert_eq!(run(&mut third, &server), version == Tls12, "{what}");

        // `connect` still resumes through the context's own cache, which
        // `connect_with` left alone.
        let mut auto = client.connect("localhost").unwrap();
        assert!(!run(&mut auto, &server), "{what}: the cache starts empty");
        assert!(
            auto.session().unwrap().is_none(),
            "{what}: its session is in the cache"
        );
        let mut auto2 = client.connect("localhost").unwrap();
        assert!(run(&mut auto2, &server), "{what}: the cache resumes");
    }
}

#[test]
fn sessions_count_against_the_policy() {
    let e = engine();
    let c = certs();
    let limited = limited(2);
    let client = client_context_under(&e, &c, None, &limited);
    let server = server_context(&e, &c, true);
    let mut conn = client.connect_with("localhost", None).unwrap();
    run(&mut conn, &server);
    // Every session handed out holds a place, even the same one asked twice.
    let kept: Vec<_> = (0..2).map(|_| conn.session().unwrap().unwrap()).collect();
    assert_eq!(limited.live_sessions(), 2);
    let Err(err) = conn.session() else {
        panic!("a third session must be refused")
    };
    assert_eq!(err.kind, ErrorKind::ResourceLimit, "{}", err.message);
    assert!(
        err.message.contains("at most 2 live sessions"),
        "{}",
        err.message
    );
    drop(kept);
    assert_eq!(limited.live_sessions(), 0, "dropped sessions give back");
    assert!(conn.session().unwrap().is_some());
}

/// Feeds everything `client` has queued to `acceptor` until the ClientHello is
/// read.
fn read_hello(client: &mut Connection, acceptor: &mut Acceptor) -> ClientHello {
    let hello = client.take(u32::MAX);
    // Byte by byte: a hello split anywhere is read all the same.
    for (i, byte) in hello.iter().enumerate() {
        assert_eq!(acceptor.feed(&[*byte]).unwrap(), 1, "byte {i}");
    }
    acceptor
        .client_hello()
        .cloned()
        .expect("the ClientHello is complete")
}

#[test]
fn an_acceptor_lets_the_caller_choose_the_server_context_by_the_hello() {
    let e = engine();
    let (trusted, other) = (certs(), certs());
    let alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let client = client_context_with(&e, &trusted, &admission(), |config| {
        config.alpn_protocols = alpn.clone();
    });
    let a = admission();
    for (chosen, works) in [(&trusted, true), (&other, false)] {
        let mut c = client.connect("localhost").unwrap();
        let mut acceptor = Acceptor::start(&a).unwrap();
        let e2 = acceptor
            .accept(&server_context(&e, chosen, false))
            .err()
            .expect("refused");
        assert_eq!(e2.kind, ErrorKind::Misuse, "{}", e2.message);
        let hello = read_hello(&mut c, &mut acceptor);
        assert_eq!(hello.server_name.as_deref(), Some("localhost"));
        assert_eq!(hello.alpn_protocols, alpn);
        assert!(hello.cipher_suites.contains(&0x1301), "{hello:?}");
        assert_eq!(
            acceptor.feed(b"more").unwrap(),
            0,
            "the rest goes to the connection"
        );
        let mut s = acceptor.accept(&server_context(&e, chosen, false)).unwrap();
        assert_eq!(
            a.live_connections(),
            1,
            "the connection took the acceptor's place"
        );
        let again = acceptor
            .accept(&server_context(&e, chosen, false))
            .err()
            .expect("refused");
        assert_eq!(again.kind, ErrorKind::Misuse, "{}", again.message);
        drop(acceptor);
        assert_eq!(s.server_name().as_deref(), Some("localhost"));
        let mut outcome = Ok(0);
        for _ in 0..10 {
            outcome = move_all(&mut s, &mut c).and_then(|_| move_all(&mut c, &mut s));
            if outcome.is_err() {
                break;
            }
        }
        assert_eq!(
            outcome.is_ok() && c.is_handshake_complete(),
            works,
            "{outcome:?}"
        );
        if !works {
            let err = outcome.unwrap_err();
            assert!(
                matches!(err.kind, ErrorKind::CertificateRejected(_)),
                "the other CA's certificate was chosen: {err:?}"
            );
        }
    }
    assert_eq!(a.live_connections(), 0);
}

#[test]
fn an_acceptor_refuses_garbage_early_ends_and_what_the_caller_refuses() {
    let e = engine();
    let c = certs();
    let a = limited(1);
    let mut garbage = Acceptor::start(&a).unwrap();
    let err = Acceptor::start(&a).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ResourceLimit, "{}", err.message);
    let err = garbage.feed(b"GET / HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Protocol, "{}", err.message);
    assert_eq!(
        garbage.take(100).first(),
        Some(&21),
        "an alert for the peer"
    );
    assert_eq!(garbage.feed(b"x").unwrap_err(), err, "the error is sticky");
    drop(garbage);

    let mut early = Acceptor::start(&a).unwrap();
    let hello = client_context(&e, &c, None)
        .connect("localhost")
        .unwrap()
        .take(u32::MAX);
    early.feed(&hello[..10]).unwrap();
    let err = early.eof().unwrap_err();
    assert_eq!(err.kind, ErrorKind::RaggedEof, "{}", err.message);
    drop(early);

    // The caller refuses: the client hears the alert it chose.
    let mut refusing = Acceptor::start(&a).unwrap();
    let mut client = client_context(&e, &c, None).connect("localhost").unwrap();
    read_hello(&mut client, &mut refusing);
    refusing.refuse(112).unwrap();
    let alert = refusing.take(u32::MAX);
    let err = client
        .feed(&alert)
        .map(|_| ())
        .and_then(|_| client.handshake().map(|_| ()));
    assert_eq!(err.unwrap_err().kind, ErrorKind::AlertReceived(112));
    assert!(refusing.accept(&server_context(&e, &c, false)).is_err());

    // A context that cannot serve the client: the error comes with an alert.
    let mut client = client_context_with(&e, &c, &admission(), |config| {
        config.alpn_protocols = vec![b"h2".to_vec()];
    })
    .connect("localhost")
    .unwrap();
    drop(refusing);
    let mut acceptor = Acceptor::start(&a).unwrap();
    read_hello(&mut client, &mut acceptor);
    let server = server_context_with(&e, &c, |config| {
        config.alpn_protocols = vec![b"imap".to_vec()];
    });
    let err = acceptor.accept(&server).err().expect("refused");
    assert_eq!(err.kind, ErrorKind::AlertSent(120), "{}", err.message);
    let alert = acceptor.take(u32::MAX);
    let heard = client
        .feed(&alert)
        .and_then(|_| client.handshake().map(|_| 0));
    assert_eq!(heard.unwrap_err().kind, ErrorKind::AlertReceived(120));
}

/// A `verify-server-chain` call's arguments.
fn check<'a>(
    trust: &'a TrustStore,
    chain: &'a [Vec<u8>],
    server_name: &'a str,
    at_time: Option<u64>,
) -> memtls_engine::ChainCheck<'a> {
    memtls_engine::ChainCheck {
        trust,
        chain,
        server_name,
        at_time,
    }
}

/// The `loop` fixture (nine CA certificates all named CN=loop, each its own
/// issuer, about 58 KiB, within the default chain limits) would send webpki
/// through every ordering of the nine; the engine refuses it before building
/// a path, under `system` trust alone and with anchors, and the policy's
/// chain limits refuse longer and larger chains, each naming its limit.
#[test]
fn costly_chains_are_refused_before_path_building() {
    let f = memtls_scenario_suite::fixtures::generate().expect("fixtures");
    let chain = vec![f["loop.chain"].clone()];
    let e = Engine::new(EngineOptions {
        base_roots: BaseRoots::Mozilla,
        ..EngineOptions::ring("test")
    });
    let verify = |trust: &TrustStore, chain: &[Vec<u8>], policy: Policy| {
        e.verify_server_chain(
            &memtls_engine::ChainCheck {
                trust,
                chain,
                server_name: "localhost",
                at_time: None,
            },
            &Admission::new(policy),
        )
    };
    let system = TrustStore {
        system: true,
        anchors: vec![],
        pinned: vec![],
    };
    let both = TrustStore {
        anchors: vec![f["ca"].clone()],
        ..system.clone()
    };
    for trust in [&system, &both] {
        let err = verify(trust, &chain, Policy::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ResourceLimit, "{err:?}");
        assert!(
            err.message.contains("more than 64 steps"),
            "{}",
            err.message
        );
    }
    let few = Policy {
        max_chain_certificates: 3,
        ..Policy::default()
    };
    let err = verify(&both, &chain, few).unwrap_err();
    assert!(
        err.message.contains("holds 10 certificates; at most 3")
            && err.message.contains("max-chain-certificates"),
        "{}",
        err.message
    );
    let small = Policy {
        max_chain_bytes: 4096,
        ..Policy::default()
    };
    let err = verify(&both, &chain, small).unwrap_err();
    assert!(err.message.contains("max-chain-bytes"), "{}", err.message);
    // A real chain is untouched: the leaf and its CA as an intermediate.
    let real = vec![f["server.chain"].clone(), f["ca"].clone()];
    let ca = TrustStore {
        system: false,
        anchors: vec![f["ca"].clone()],
        pinned: vec![],
    };
    verify(&ca, &real, Policy::default()).expect("a real chain verifies");
}

/// A server presenting the `loop` chain is refused by the client during the
/// handshake with a certificate error that says why, and the server hears
/// certificate_unknown (46), as rustls answers a refusal of its own.
#[test]
fn a_peer_presenting_a_costly_chain_is_refused_in_the_handshake() {
    let f = memtls_scenario_suite::fixtures::generate().expect("fixtures");
    let e = engine();
    let c = Certs {
        ca: f["ca"].clone(),
        chain: f["loop.chain"].clone(),
        key: f["loop.key"].clone(),
    };
    let (mut client, mut server) = pair(&e, &c);
    let err = client_refusal(&mut client, &mut server);
    assert!(
        matches!(err.kind, ErrorKind::CertificateRejected(_)) && err.message.contains("steps"),
        "{err:?}"
    );
    let _ = move_all(&mut client, &mut server);
    let heard = server.handshake().unwrap_err();
    assert_eq!(heard.kind, ErrorKind::AlertReceived(46), "{heard:?}");
}

/// A signing key (ring's, as the host loads one) from a PEM or DER key.
fn key(pem: &[u8]) -> std::sync::Arc<dyn rustls::sign::SigningKey> {
    let key = memtls_engine::parse_private_key(pem).unwrap();
    rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .unwrap()
}

/// `c`'s chain, and the identity "web" that serves with it and its key.
fn web_identity(
    c: &Certs,
) -> (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    memtls_engine::HostIdentity,
) {
    let chain = memtls_engine::parse_certificates(std::slice::from_ref(&c.chain), "chain").unwrap();
    let identity = memtls_engine::HostIdentity::new(
        "web",
        chain.clone(),
        key(&c.key),
        &[memtls_engine::Purpose::Server],
        "file test",
    )
    .unwrap();
    (chain, identity)
}

/// A host identity granted for serving: the server context names it and never
/// sees its key, the client verifies the chain it presents, and its public
/// chain is readable; a key that is not the certificate's, or the identity
/// used for the purpose it was not granted, is refused with a sentence.
#[test]
fn host_identities_serve_under_their_grant() {
    use memtls_engine::HostIdentity;
    use std::sync::Arc;
    let e = engine();
    let c = certs();
    let (chain, identity) = web_identity(&c);
    let other = KeyPair::generate().unwrap().serialize_pem();
    let wrong = HostIdentity::new(
        "web",
        chain.clone(),
        key(other.as_bytes()),
        &[],
        "file other",
    )
    .unwrap_err();
    assert!(
        wrong.message.contains("does not match"),
        "{}",
        wrong.message
    );
    let bad_name = HostIdentity::new("../web", chain, key(&c.key), &[], "file").unwrap_err();
    assert!(
        bad_name.message.contains("letters, digits"),
        "{}",
        bad_name.message
    );

    let granted = Admission::new(Policy {
        identities: vec![Arc::new(identity)],
        ..Policy::default()
    });
    let named = SigningChain {
        host_identity: Some("web".into()),
        ..Default::default()
    };
    let server = e
        .server_context(
            &ServerConfig {
                certificate_chains: vec![named.clone()],
                ..Default::default()
            },
            &granted,
        )
        .unwrap();
    let client = client_context(&e, &c, None);
    let (mut cc, mut sc) = (
        client.connect("localhost").unwrap(),
        server.accept().unwrap(),
    );
    handshake(&mut cc, &mut sc);
    let presented = cc.peer_certificates();
    assert_eq!(
        granted.policy().identity_certificates("web").unwrap(),
        presented
    );
    // Granted for serving only: a client context may not present it.
    let refused = e
        .client_context(
            &ClientConfig {
                trust: anchors(vec![c.ca.clone()]),
                certificate_chain: Some(named),
                ..Default::default()
            },
            Verification::Full,
            &granted,
        )
        .err()
        .unwrap();
    assert_eq!(refused.kind, ErrorKind::NotPermitted);
    assert!(
        refused
            .message
            .contains("\"web\" is granted for serving only, not for client authentication"),
        "{}",
        refused.message
    );
}

/// An identity delegated as the guest provider holds one (its key elsewhere,
/// reached through a function: here the host's policy, as `host-signer`
/// serves it) serves TLS 1.3 handshakes; the holder signs nothing but a TLS
/// 1.3 CertificateVerify's content for a purpose it granted, under a scheme
/// its key has, so a TLS 1.2 handshake and every raw-signing attempt are
/// refused with a sentence.
#[test]
fn delegated_identities_sign_only_tls13_certificate_verify() {
    use memtls_engine::{HostIdentity, ProtocolVersion, Purpose};
    use rustls::SignatureScheme;
    use std::sync::Arc;
    let e = engine();
    let c = certs();
    let (chain, held) = web_identity(&c);
    assert_eq!(held.schemes(), [SignatureScheme::ECDSA_NISTP256_SHA256]);
    let host = Policy {
        identities: vec![Arc::new(held.clone())],
        ..Policy::default()
    };
    let signer = host.clone();
    let sign = move |scheme: SignatureScheme, message: &[u8]| {
        signer
            .sign_handshake("web", u16::from(scheme), message)
            .map_err(|e| e.message)
    };
    let delegated = HostIdentity::delegated(
        "web",
        chain,
        &[Purpose::Server],
        held.schemes(),
        Arc::new(sign),
    )
    .unwrap();
    let guest = Admission::new(Policy {
        identities: vec![Arc::new(delegated)],
        ..Policy::default()
    });
    let server = e
        .server_context(
            &ServerConfig {
                certificate_chains: vec![SigningChain {
                    host_identity: Some("web".into()),
                    ..Default::default()
                }],
                ..Default::default()
            },
            &guest,
        )
        .unwrap();
    // TLS 1.3: the CertificateVerify the host signed checks out at the client.
    let client = client_context(&e, &c, Some(ProtocolVersion::Tls13));
    let (mut cc, mut sc) = (
        client.connect("localhost").unwrap(),
        server.accept().unwrap(),
    );
    handshake(&mut cc, &mut sc);
    assert_eq!(
        cc.peer_certificates(),
        host.identity_certificates("web").unwrap()
    );
    // TLS 1.2 signs the handshake's randoms and parameters: refused.
    let client = client_context(&e, &c, Some(ProtocolVersion::Tls12));
    let (mut cc, mut sc) = (
        client.connect("localhost").unwrap(),
        server.accept().unwrap(),
    );
    let mut refused = None;
    for _ in 0..10 {
        let _ = cc.handshake();
        if let Err(e) = sc.handshake() {
            refused = Some(e);
            break;
        }
        let _ = move_all(&mut cc, &mut sc);
        let _ = move_all(&mut sc, &mut cc);
    }
    let refused = refused.expect("a TLS 1.2 handshake with a delegated key should fail");
    assert!(
        refused
            .message
            .contains("only the content of a TLS 1.3 CertificateVerify"),
        "{}",
        refused.message
    );
    // Raw signing through the host's side, each refusal a sentence.
    let p256 = u16::from(SignatureScheme::ECDSA_NISTP256_SHA256);
    let verify = |context: &str, hash: usize| {
        let mut m = vec![b' '; 64];
        m.extend_from_slice(context.as_bytes());
        m.push(0);
        m.extend(std::iter::repeat_n(7u8, hash));
        m
    };
    let server_content = verify("TLS 1.3, server CertificateVerify", 32);
    assert!(host.sign_handshake("web", p256, &server_content).is_ok());
    assert!(
        host.sign_handshake(
            "web",
            p256,
            &verify("TLS 1.3, server CertificateVerify", 48)
        )
        .is_ok()
    );
    let refusals: [(&str, u16, Vec<u8>, &str); 7] = [
        (
            "web",
            p256,
            b"any document at all".to_vec(),
            "only the content of a TLS 1.3",
        ),
        ("web", p256, Vec::new(), "the 0 bytes given"),
        (
            "web",
            p256,
            verify("TLS 1.3, server CertificateVerify", 20),
            "not one",
        ),
        (
            "web",
            p256,
            verify("TLS 1.3, server CertificateVerifz", 32),
            "not one",
        ),
        (
            "web",
            p256,
            verify("TLS 1.3, client CertificateVerify", 32),
            "granted for serving only, not for client authentication",
        ),
        (
            "web",
            u16::from(SignatureScheme::RSA_PSS_SHA256),
            server_content.clone(),
            "does not sign with RSA_PSS_SHA256",
        ),
        (
            "mail",
            p256,
            server_content.clone(),
            "\"mail\" is not granted",
        ),
    ];
    for (name, scheme, message, says) in refusals {
        let e = host.sign_handshake(name, scheme, &message).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotPermitted, "{}", e.message);
        assert!(e.message.contains(says), "{says}: {}", e.message);
    }
}

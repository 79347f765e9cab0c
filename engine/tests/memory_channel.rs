//! Native tests of the engine: a client and a server connection pumping bytes
//! to each other in memory, without any Wasm in between.

use std::sync::Arc;

use memtls_engine::{
    Admission, ClientConfig, Connection, Engine, EngineOptions, Error, ErrorKind, Policy, Progress,
    ReadOutcome, ServerConfig, SigningChain, StaticRoots, TrustStore, Verification, WriteOutcome,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

struct Certs {
    ca: Vec<u8>,
    chain: Vec<u8>,
    key: Vec<u8>,
}

fn certs() -> Certs {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Certs {
        ca: ca.pem().into_bytes(),
        chain: leaf.pem().into_bytes(),
        key: key.serialize_pem().into_bytes(),
    }
}

fn engine() -> Engine {
    Engine::new(EngineOptions {
        name: "test".into(),
        version: "0".into(),
        crypto: rustls::crypto::ring::default_provider(),
        system_trust: Arc::new(StaticRoots(Arc::new(rustls::RootCertStore::empty()))),
        extra_system_anchors: Vec::new(),
        prefer_chacha20: false,
    })
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
    e.client_context(
        &ClientConfig {
            trust: TrustStore {
                system: false,
                anchors: vec![c.ca.clone()],
                pinned: vec![],
            },
            send_sni: true,
            max_version: version,
            min_version: version,
            ..Default::default()
        },
        Verification::Full,
        &admission(),
    )
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

#[test]
fn certificate_rejections_name_the_certificate_and_what_failed() {
    let e = engine();
    let c = certs();
    let client = client_context(&e, &c, None);
    let (_, mut server) = pair(&e, &c);
    let mut client = client.connect("other.example").unwrap();
    let mut err = None;
    for _ in 0..10 {
        if let Err(x) =
            move_all(&mut client, &mut server).and_then(|_| move_all(&mut server, &mut client))
        {
            err = Some(x);
            break;
        }
        if let Err(x) = client.handshake() {
            err = Some(x);
            break;
        }
    }
    let err = err.expect("the handshake must fail");
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
        e.verify_server_chain(&trust, chain, name, Some(at), &admission())
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

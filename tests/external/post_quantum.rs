//! X25519MLKEM768 against an ML-KEM nobody here wrote: rustls on aws-lc-rs
//! (AWS-LC's ML-KEM), as client and as server, in memory against the engine
//! both rustls providers run (the native provider in the host, the guest
//! provider inside Wasm). What was negotiated is read on the peer's side. The
//! classical fallbacks are checked the same way: a peer with X25519 only
//! takes the client's second share without a retry; a peer with P-256 only
//! sends a HelloRetryRequest and the handshake completes on P-256.

use memtls_engine::{
    Admission, ClientConfig, Engine, EngineOptions, Policy, ServerConfig, SigningChain,
    TlsConnection, TrustStore, Verification,
};
use memtls_test_harness::Fixtures;
use rustls::NamedGroup;
use rustls::crypto::SupportedKxGroup;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::Read as _;
use std::sync::Arc;

fn engine() -> Engine {
    Engine::new(EngineOptions::ring("memtls engine (test)"))
}

/// The aws-lc-rs provider offering `groups` only.
fn aws_lc(groups: &[&'static dyn SupportedKxGroup]) -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::CryptoProvider {
        kx_groups: groups.to_vec(),
        ..aws_lc_rs::default_provider()
    })
}

/// Moves bytes both ways until both handshakes are done; the peer's
/// negotiated group, or the first error.
fn handshake(
    ours: &mut dyn TlsConnection,
    theirs: &mut rustls::Connection,
) -> Result<NamedGroup, String> {
    for _ in 0..20 {
        let _ = ours.handshake().map_err(|e| format!("memtls: {e}"))?;
        let out = ours.take(1 << 20);
        if !out.is_empty() {
            let mut rest = &out[..];
            while !rest.is_empty() {
                theirs.read_tls(&mut rest).map_err(|e| e.to_string())?;
                theirs
                    .process_new_packets()
                    .map_err(|e| format!("the peer: {e}"))?;
            }
        }
        let mut back = Vec::new();
        while theirs.wants_write() {
            theirs.write_tls(&mut back).map_err(|e| e.to_string())?;
        }
        let mut rest = &back[..];
        while !rest.is_empty() {
            let n = ours.feed(rest).map_err(|e| format!("memtls: {e}"))? as usize;
            rest = &rest[n..];
            let _ = ours.handshake().map_err(|e| format!("memtls: {e}"))?;
        }
        if ours.is_handshake_complete() && !theirs.is_handshaking() && back.is_empty() {
            return theirs
                .negotiated_key_exchange_group()
                .map(|g| g.name())
                .ok_or_else(|| "the peer negotiated no group".into());
        }
    }
    Err("the handshake did not finish".into())
}

/// Application data goes through: the keys agree.
fn echo(ours: &mut dyn TlsConnection, theirs: &mut rustls::Connection) {
    ours.write(b"post-quantum").unwrap();
    let out = ours.take(1 << 20);
    theirs.read_tls(&mut &out[..]).unwrap();
    theirs.process_new_packets().unwrap();
    let mut got = [0u8; 12];
    theirs.reader().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"post-quantum");
}

struct Setup {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
    fixtures: Fixtures,
}

fn setup() -> Setup {
    let fixtures = Fixtures::generate().expect("fixtures");
    let get = |name: &str| fixtures.0[name].clone();
    Setup {
        ca: CertificateDer::from_pem_slice(&get("ca"))
            .unwrap_or_else(|_| CertificateDer::from(get("ca"))),
        chain: CertificateDer::pem_slice_iter(&get("server.chain"))
            .collect::<Result<_, _>>()
            .unwrap(),
        key: get("server.key"),
        fixtures,
    }
}

/// An aws-lc-rs server offering `groups`, presenting `chain` with `key` (PEM).
fn aws_lc_server(
    groups: &[&'static dyn SupportedKxGroup],
    chain: Vec<CertificateDer<'static>>,
    key: &[u8],
) -> Arc<rustls::ServerConfig> {
    let config = rustls::ServerConfig::builder_with_provider(aws_lc(groups))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::from_pem_slice(key).unwrap())
        .unwrap();
    Arc::new(config)
}

/// An aws-lc-rs client offering `groups`, trusting `ca`.
fn aws_lc_client(
    groups: &[&'static dyn SupportedKxGroup],
    ca: CertificateDer<'static>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(aws_lc(groups))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// memtls's client against an aws-lc-rs server offering `groups`.
fn memtls_client(
    s: &Setup,
    groups: &[&'static dyn SupportedKxGroup],
) -> Result<NamedGroup, String> {
    let admission = Admission::new(Policy::default());
    let config = ClientConfig {
        trust: TrustStore {
            anchors: vec![s.fixtures.0["ca"].clone()],
            ..TrustStore::default()
        },
        send_sni: true,
        ..ClientConfig::default()
    };
    let context = engine()
        .client_context(&config, Verification::Full, &admission)
        .map_err(|e| e.to_string())?;
    let mut ours = context.connect("localhost").map_err(|e| e.to_string())?;
    let server = aws_lc_server(groups, s.chain.clone(), &s.key);
    let mut theirs = rustls::Connection::from(rustls::ServerConnection::new(server).unwrap());
    let group = handshake(&mut ours, &mut theirs)?;
    echo(&mut ours, &mut theirs);
    Ok(group)
}

/// An aws-lc-rs client offering `groups` against memtls's server.
fn memtls_server(
    s: &Setup,
    groups: &[&'static dyn SupportedKxGroup],
) -> Result<NamedGroup, String> {
    let admission = Admission::new(Policy::default());
    let config = ServerConfig {
        certificate_chains: vec![SigningChain {
            certificates: vec![s.fixtures.0["server.chain"].clone()],
            private_key: s.key.clone(),
            private_key_password: None,
            host_identity: None,
        }],
        ..ServerConfig::default()
    };
    let context = engine()
        .server_context(&config, &admission)
        .map_err(|e| e.to_string())?;
    let mut ours = context.accept().map_err(|e| e.to_string())?;
    let client = aws_lc_client(groups, s.ca.clone());
    let mut theirs = rustls::Connection::from(
        rustls::ClientConnection::new(client, "localhost".try_into().unwrap()).unwrap(),
    );
    // The client speaks first.
    let mut hello = Vec::new();
    theirs.write_tls(&mut hello).unwrap();
    ours.feed(&hello).unwrap();
    let group = handshake(&mut ours, &mut theirs)?;
    echo(&mut ours, &mut theirs);
    Ok(group)
}

#[test]
fn x25519mlkem768_with_aws_lc_rs_both_ways() {
    let s = setup();
    let hybrid = aws_lc_rs::kx_group::X25519MLKEM768;
    let x25519 = aws_lc_rs::kx_group::X25519;
    assert_eq!(
        memtls_client(&s, &[hybrid, x25519]),
        Ok(NamedGroup::X25519MLKEM768),
        "memtls client, aws-lc-rs server"
    );
    assert_eq!(
        memtls_server(&s, &[hybrid, x25519]),
        Ok(NamedGroup::X25519MLKEM768),
        "aws-lc-rs client, memtls server"
    );
    println!("post-quantum: X25519MLKEM768 negotiated with rustls on aws-lc-rs, both ways");
}

#[test]
fn classical_peers_still_agree() {
    let s = setup();
    let x25519 = aws_lc_rs::kx_group::X25519;
    let p256 = aws_lc_rs::kx_group::SECP256R1;
    // The client's X25519 share serves a server without the hybrid.
    assert_eq!(memtls_client(&s, &[x25519]), Ok(NamedGroup::X25519));
    // A HelloRetryRequest down to P-256.
    assert_eq!(memtls_client(&s, &[p256]), Ok(NamedGroup::secp256r1));
    // A classical client gets a classical group from memtls's server.
    assert_eq!(memtls_server(&s, &[x25519]), Ok(NamedGroup::X25519));
    assert_eq!(memtls_server(&s, &[p256]), Ok(NamedGroup::secp256r1));
}

/// The same peers against the example components in Wasm, over loopback TCP,
/// on the native and the guest provider: `https-get` fetches from an
/// aws-lc-rs server that accepts only X25519MLKEM768, and an aws-lc-rs client
/// offering only X25519MLKEM768 talks to `tls-echo-server`. The group is read
/// on the aws-lc-rs side each time.
#[test]
fn x25519mlkem768_with_aws_lc_rs_through_the_components() {
    use memtls_test_harness::peers::{Checks, EchoServer, Files, https_get};
    use std::io::Write as _;
    use std::net::{TcpListener, TcpStream};

    let (files, mut checks) = (Files::new("aws-lc"), Checks::default());
    let read = |name: &str| std::fs::read(files.path(name)).unwrap();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read("server.chain"))
        .collect::<Result<_, _>>()
        .unwrap();
    let hybrid_only = [aws_lc_rs::kx_group::X25519MLKEM768];
    let server_config = aws_lc_server(&hybrid_only, chain, &read("server.key"));
    let client_config = aws_lc_client(
        &hybrid_only,
        CertificateDer::from_pem_slice(&read("ca")).unwrap(),
    );
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        // https-get (memtls's client) against the aws-lc-rs server.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = server_config.clone();
        let server = std::thread::spawn(move || -> Result<String, String> {
            let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
            let conn = rustls::ServerConnection::new(config).map_err(|e| e.to_string())?;
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                tls.read_exact(&mut byte).map_err(|e| e.to_string())?;
                head.push(byte[0]);
            }
            let group = tls.conn.negotiated_key_exchange_group().map(|g| g.name());
            let body = format!("{group:?}");
            write!(
                tls,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .map_err(|e| e.to_string())?;
            tls.conn.send_close_notify();
            tls.flush().map_err(|e| e.to_string())?;
            Ok(body)
        });
        let url = format!("https://localhost:{port}/");
        let (code, out, err) = https_get(provider, &files, &["--ca-file", "/f/ca", &url]);
        let seen = server.join().unwrap();
        checks.check(
            code == 0 && seen.as_deref() == Ok("Some(X25519MLKEM768)"),
            format!("https-get --tls {provider} vs aws-lc-rs server: {seen:?}"),
        );
        checks.check(
            out.contains("group X25519MLKEM768"),
            format!("https-get --tls {provider} reports X25519MLKEM768 too"),
        );
        if checks.failed() > 0 {
            println!("https-get said:\n{out}{err}");
        }

        // The aws-lc-rs client against tls-echo-server.
        let echo = EchoServer::start(provider, &files, &[], 1);
        let tcp = TcpStream::connect(("127.0.0.1", echo.port)).unwrap();
        let conn = rustls::ClientConnection::new(
            client_config.clone(),
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(b"post-quantum").unwrap();
        let mut got = [0u8; 12];
        let read_back = tls.read_exact(&mut got).map(|()| got);
        let group = tls.conn.negotiated_key_exchange_group().map(|g| g.name());
        tls.conn.send_close_notify();
        let _ = tls.flush();
        drop(tls);
        let (code, log) = echo.finish_with_log();
        checks.check(
            group == Some(NamedGroup::X25519MLKEM768)
                && read_back.as_ref().is_ok_and(|g| g == b"post-quantum")
                && code == 0
                && log.contains("\"group\":\"X25519MLKEM768\""),
            format!("aws-lc-rs client vs tls-echo-server --tls {provider}: {group:?}"),
        );
        if checks.failed() > 0 {
            println!("tls-echo-server said:\n{log}");
        }
    }
    checks.finish();
}

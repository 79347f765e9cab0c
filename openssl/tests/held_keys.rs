//! Host identities whose keys OpenSSL never holds: libssl signs through the
//! identity's private-key operations (`memtls_engine::KeyOperations`, a
//! token's in `memtls run`; here, operations over a key in this process, so
//! that the key methods are tested without a token). ECDSA P-256 and P-384,
//! RSA and Ed25519 serve TLS 1.3 and TLS 1.2 and authenticate clients; a failing
//! operation fails the handshake with its sentence and the peer gets an
//! alert; what OpenSSL cannot sign with is refused at configuration.
//! `cli/tests/identities.rs` runs the same against `openssl s_server` and
//! `s_client` with SoftHSM2's keys.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use memtls_engine::rustls::pki_types::SubjectPublicKeyInfoDer;
use memtls_engine::rustls::sign::{Signer, SigningKey};
use memtls_engine::rustls::{SignatureAlgorithm, SignatureScheme};
use memtls_engine::{
    ClientAuth, HostIdentity, KeyOperations, Policy, ProtocolVersion, Purpose, RawKey, RsaPadding,
    SigningChain,
};
use memtls_openssl::OpenSsl;
use memtls_scenario_suite::harness::{
    anchors, client_config, connect, contexts, send, server_config,
};
use memtls_scenario_suite::{Fixtures, fixtures, with_backend};
use openssl::ecdsa::EcdsaSig;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;

/// A key's private operations done by OpenSSL in this process, counted.
struct Operations {
    key: Option<PKey<Private>>,
    calls: AtomicUsize,
}

impl KeyOperations for Operations {
    fn ecdsa_sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let key = self.key.as_ref().ok_or("the token is unplugged")?;
        let ec = key.ec_key().map_err(|e| e.to_string())?;
        EcdsaSig::sign(digest, &ec)
            .and_then(|s| s.to_der())
            .map_err(|e| e.to_string())
    }

    fn rsa_private(&self, input: &[u8], padding: RsaPadding) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let key = self.key.as_ref().ok_or("the token is unplugged")?;
        let rsa = key.rsa().map_err(|e| e.to_string())?;
        let padding = match padding {
            RsaPadding::None => Padding::NONE,
            RsaPadding::Pkcs1 => Padding::PKCS1,
        };
        let mut out = vec![0; rsa.size() as usize];
        let n = rsa
            .private_encrypt(input, &mut out, padding)
            .map_err(|e| e.to_string())?;
        out.truncate(n);
        Ok(out)
    }
}

/// The identity's rustls key, its signatures counted with the operations'
/// (an Ed25519 key held elsewhere signs through it on this provider).
#[derive(Debug)]
struct Counted(Arc<dyn SigningKey>, Arc<Operations>);

impl SigningKey for Counted {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let signer = self.0.choose_scheme(offered)?;
        Some(Box::new(CountedSigner(signer, self.1.clone())))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        self.0.public_key()
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }
}

#[derive(Debug)]
struct CountedSigner(Box<dyn Signer>, Arc<Operations>);

impl Signer for CountedSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, memtls_engine::rustls::Error> {
        self.1.calls.fetch_add(1, Ordering::Relaxed);
        self.0.sign(message)
    }

    fn scheme(&self) -> SignatureScheme {
        self.0.scheme()
    }
}

impl std::fmt::Debug for Operations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Operations")
    }
}

/// Identity `name` with fixture `prefix`'s chain for `purpose`, whose key is
/// reached only through counted operations (`working`: or they all fail).
fn held(
    f: &Fixtures,
    name: &str,
    prefix: &str,
    purpose: Purpose,
    working: bool,
) -> (Arc<HostIdentity>, Arc<Operations>) {
    let chain =
        memtls_engine::parse_certificates(&[f[&format!("{prefix}.chain")].clone()], "chain")
            .expect("the chain");
    let pem = &f[&format!("{prefix}.key")];
    let signing = rustls_key(pem);
    let ops = Arc::new(Operations {
        key: working.then(|| PKey::private_key_from_pem(pem).expect("the OpenSSL key")),
        calls: AtomicUsize::new(0),
    });
    let signing = Arc::new(Counted(signing, ops.clone()));
    let identity = HostIdentity::new(name, chain, signing, &[purpose], "operations in this test")
        .expect("the identity")
        .with_raw_key(RawKey::Operations(ops.clone()));
    (Arc::new(identity), ops)
}

/// The rustls signing key of PEM `pem`.
fn rustls_key(pem: &[u8]) -> Arc<dyn SigningKey> {
    memtls_engine::rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(memtls_engine::parse_private_key(pem).unwrap())
        .expect("the rustls key")
}

fn named(name: &str) -> SigningChain {
    SigningChain {
        certificates: vec![],
        private_key: vec![],
        private_key_password: None,
        host_identity: Some(name.to_owned()),
    }
}

fn provider(identities: Vec<Arc<HostIdentity>>) -> Rc<OpenSsl> {
    Rc::new(OpenSsl::new(Policy {
        identities,
        ..Policy::default()
    }))
}

/// A server whose key only the operations reach serves TLS 1.3 and TLS 1.2
/// with ECDSA P-256, P-384, RSA (PSS) and Ed25519, and the held key did the
/// signing.
#[test]
fn held_keys_serve_tls13_and_tls12() {
    let f = fixtures::shared();
    for prefix in ["server", "p384", "rsa", "ed25519"] {
        for version in [ProtocolVersion::Tls13, ProtocolVersion::Tls12] {
            let (identity, ops) = held(f, "web", prefix, Purpose::Server, true);
            with_backend(provider(vec![identity]), || {
                let mut client = client_config(f).unwrap();
                client.max_version = Some(version);
                let mut server = server_config(f).unwrap();
                server.certificate_chains = vec![named("web")];
                let (cc, sc) = contexts(client, server).unwrap();
                let (c, s, pair) = connect(&cc, &sc, "localhost").unwrap();
                pair.ok()
                    .unwrap_or_else(|e| panic!("{prefix} over {version:?}: {e}"));
                assert_eq!(c.protocol_version(), Some(version));
                assert_eq!(send(&c, &s, b"held").unwrap(), b"held");
            });
            // An Ed25519 key signs through the identity's rustls key, the
            // others through the operations; both are counted.
            let calls = ops.calls.load(Ordering::Relaxed);
            assert!(calls >= 1, "{prefix}: the held key did not sign");
            println!("{prefix} over {version:?}: served, {calls} key operation(s)");
        }
    }
}

/// A client authenticates with a held key to a server requiring client
/// certificates from the client CA.
#[test]
fn held_keys_authenticate_clients() {
    let f = fixtures::shared();
    let (identity, ops) = held(f, "me", "client", Purpose::Client, true);
    with_backend(provider(vec![identity]), || {
        let mut client = client_config(f).unwrap();
        client.certificate_chain = Some(named("me"));
        let mut server = server_config(f).unwrap();
        server.client_auth = ClientAuth::Required(anchors(f, "client-ca").unwrap());
        let (cc, sc) = contexts(client, server).unwrap();
        let (_c, s, pair) = connect(&cc, &sc, "localhost").unwrap();
        pair.ok().unwrap();
        assert!(
            !s.peer_certificates().is_empty(),
            "the server saw no client certificate"
        );
    });
    assert!(ops.calls.load(Ordering::Relaxed) >= 1);
}

/// A key operation that fails (an unplugged token) fails the server's
/// handshake with the operation's sentence, and the client receives an
/// alert rather than waiting.
#[test]
fn a_failing_key_operation_fails_the_handshake_with_its_sentence() {
    let f = fixtures::shared();
    let (identity, ops) = held(f, "web", "server", Purpose::Server, false);
    with_backend(provider(vec![identity]), || {
        let mut server = server_config(f).unwrap();
        server.certificate_chains = vec![named("web")];
        let (cc, sc) = contexts(client_config(f).unwrap(), server).unwrap();
        let (_c, _s, pair) = connect(&cc, &sc, "localhost").unwrap();
        let server = pair.server.as_ref().expect_err("the server cannot sign");
        assert!(
            server.message.contains("the token is unplugged"),
            "the server's error should say why it could not sign: {}",
            server.message
        );
        let client = pair
            .client
            .as_ref()
            .expect_err("the client gets no handshake");
        assert!(
            client.message.contains("alert"),
            "the client should have received an alert: {}",
            client.message
        );
        println!("server: {}\nclient: {}", server.message, client.message);
    });
    assert!(ops.calls.load(Ordering::Relaxed) >= 1);
}

/// An identity whose embedder gave only a rustls key (no key OpenSSL can
/// reach) is refused when the context is made, with a sentence.
#[test]
fn keys_openssl_cannot_use_are_refused_with_a_sentence() {
    let f = fixtures::shared();
    let pem = &f["server.key"];
    let only_rustls = HostIdentity::new(
        "plain",
        memtls_engine::parse_certificates(&[f["server.chain"].clone()], "chain").unwrap(),
        rustls_key(pem),
        &[],
        "a rustls key",
    )
    .unwrap();
    with_backend(provider(vec![Arc::new(only_rustls)]), || {
        let mut server = server_config(f).unwrap();
        server.certificate_chains = vec![named("plain")];
        let e = memtls_scenario_suite::tls::server_context(&server)
            .err()
            .expect("refused");
        assert!(
            e.message.contains(
                "the host identity \"plain\" has no key the openssl provider can sign with"
            ),
            "{}",
            e.message
        );
    });
}

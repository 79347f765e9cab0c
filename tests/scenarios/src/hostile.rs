//! The hostile guest: attacks on the provider through every function of the
//! interface, run by `tests/suite/hostile_guest.rs` on both providers. Each
//! attack checks that every refusal is an `error` of the right kind and returns
//! a summary that must be the same on both providers; the harness checks that
//! the host survives and that its memory stays within the policy's budget.
//! `use-after-drop` is the one attack that must trap (an invalid handle), and
//! only its own instance.

use std::fmt::Write as _;

use memtls_scenario_suite::harness::{
    ClientConfig, Error, Fixtures, Outcome, ProtocolVersion, ServerConfig, SigningChain,
    TrustStore, WriteOutcome, anchors, client_config, connect, contexts, ensure, err, fx,
    handshake, kind, pattern, send, server_config, tls,
};

/// The hostile attacks, by name. Not part of the parity list.
pub const ATTACKS: &[(&str, memtls_scenario_suite::Scenario)] = &[
    ("exporter-tls12", exporter_tls12),
    ("exporter-tls13", exporter_tls13),
    ("context-flood", context_flood),
    ("config-budget", config_budget),
    ("verify-flood", verify_flood),
    ("decode-flood", decode_flood),
    ("pathological-chain", pathological_chain),
    ("connection-flood", connection_flood),
    ("key-update-flood", key_update_flood),
    ("calls-after-error", calls_after_error),
    ("drop-out-of-order", drop_out_of_order),
    ("huge-arguments", huge_arguments),
    ("session-flood", session_flood),
    ("acceptor-abuse", acceptor_abuse),
    ("aliased-lists", aliased_lists),
    ("use-after-drop", use_after_drop),
    ("host-identity-misuse", host_identity_misuse),
    ("costly-key", costly_key),
];

/// A P-256 key `openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 8388608` encrypted,
/// its iteration count then set to 2^31 - 1: OpenSSL (and CPython's
/// `load_cert_chain`) would run PBKDF2 for about eleven minutes of CPU before
/// finding the password wrong.
const PBKDF2_FOREVER: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n\
MIHuMFkGCSqGSIb3DQEFDTBMMCsGCSqGSIb3DQEFDDAeBAibRMUHCnrlEgIEf///\n\
/zAMBggqhkiG9w0CCQUAMB0GCWCGSAFlAwQBKgQQZW4jgmPhTwhbBQ/4+LS9tQSB\n\
kP1FTrsoh5kjg8yR1V5vTCqnAT+/oAfVnF6DybxmVowyp42PK3XcprBBD4FKl8x2\n\
PtahLdl1JUHWlJeaATQs/UnXTwlLgqil0EwbT+xdIcLse3zMzzdRUq1b6E29Fzb1\n\
u+rNnU5zdfUiom7B+BX4zwN3fKDugieSy9wnVvNaJ7ZuRC3Frs73IHfrTd46Y0Jv\n\
+w==\n\
-----END ENCRYPTED PRIVATE KEY-----\n\
";

/// A key `openssl pkcs8 -topk8 -scrypt` encrypted (N = 16384, r = 8), its block
/// size then set to 127: 254 MiB of scrypt memory.
const SCRYPT_HUGE: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n\
MIHkME8GCSqGSIb3DQEFDTBCMCEGCSsGAQQB2kcECzAUBAhWOoxTvxqsAgICQAAC\n\
AX8CAQEwHQYJYIZIAWUDBAEqBBCNgEVZ1xZvHCnFAUjD1BWTBIGQkOp8ZZyfpyB7\n\
Ypb/Mf2/4q2Q+oM9lyYgu/k8njsfN+b2Q/QrAXjCeYJgYFsCOQss+aAGSCO9/UMG\n\
aLoWZZFR0DTLVJzAT09nSETFt0jc9xfmlUQXwtoO1NRZ1kzF+a9ZByfwxdLxYX/R\n\
ax1WtDLjWzM9XuI532NkJVZWA7dShQcdtG0jGICJl4hI4BTtI2ga\n\
-----END ENCRYPTED PRIVATE KEY-----\n\
";

/// Encrypted keys whose key derivation would cost minutes of CPU or hundreds
/// of MiB are refused before any work, with the password right or wrong.
fn costly_key(f: &Fixtures) -> Outcome {
    let base = server_config(f)?;
    let mut kinds = Vec::new();
    for (what, key) in [("pbkdf2", PBKDF2_FOREVER), ("scrypt", SCRYPT_HUGE)] {
        let mut chain = base.certificate_chains[0].clone();
        chain.private_key = key.as_bytes().to_vec();
        chain.private_key_password = Some(b"x".to_vec());
        let config = ServerConfig {
            certificate_chains: vec![chain],
            ..base.clone()
        };
        kinds.push(format!(
            "{what} {}",
            refused(tls::server_context(&config), "resource-limit", what)?
        ));
    }
    Ok(kinds.join(", "))
}

fn outcome<T>(r: Result<T, Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => {
            assert_sentence(&e);
            kind(&e)
        }
    }
}

/// Messages are sentences for people, never empty and never a Rust debug form.
fn assert_sentence(e: &Error) {
    assert!(
        !e.message.is_empty() && !e.message.contains("Some(") && !e.message.contains("{ "),
        "not a sentence: {:?}",
        e.message
    );
}

/// Expects `r` to fail with `want`; returns the kind.
fn refused<T>(r: Result<T, Error>, want: &str, what: &str) -> Result<String, String> {
    match r {
        Ok(_) => Err(format!("{what}: accepted, expected {want}")),
        Err(e) => {
            assert_sentence(&e);
            ensure(kind(&e) == want, || format!("{what}: {}", err(e.clone())))?;
            Ok(kind(&e))
        }
    }
}

fn exporter_on(f: &Fixtures, v: ProtocolVersion) -> Outcome {
    let mut c = client_config(f)?;
    c.min_version = Some(v);
    c.max_version = Some(v);
    let (cc, sc) = contexts(c, server_config(f)?)?;
    let client = cc.connect("localhost").map_err(err)?;
    let early = refused(
        client.export_keying_material(b"EXPORTER-x", None, 32),
        "misuse",
        "before the handshake",
    )?;
    drop(client);
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let huge = vec![0x5a; 70_000];
    let mut out = format!("early={early}");
    for (what, label, context, length) in [
        ("context-70000", &b"EXPORTER-x"[..], Some(&huge[..]), 32),
        (
            "context-65536",
            &b"EXPORTER-x"[..],
            Some(&huge[..65_536]),
            32,
        ),
        ("label-250", &huge[..250], None, 32),
        ("label-70000", &huge[..], None, 32),
        ("label-empty", &b""[..], None, 32),
        ("length-0", &b"EXPORTER-x"[..], None, 0),
        ("length-16385", &b"EXPORTER-x"[..], None, 16_385),
        ("length-max", &b"EXPORTER-x"[..], None, u32::MAX),
    ] {
        let k = refused(
            client.export_keying_material(label, context, length),
            "misuse",
            what,
        )?;
        let _ = write!(out, " {what}={k}");
    }
    // The largest allowed arguments work and agree on both ends.
    // The interface's largest label and context: derived, or (a provider's
    // own limit) refused with a sentence, the same on both sides.
    let a = client.export_keying_material(&huge[..249], Some(&huge[..65_535]), 64);
    let b = server.export_keying_material(&huge[..249], Some(&huge[..65_535]), 64);
    let max_args = match (&a, &b) {
        (Ok(a), Ok(b)) => {
            ensure(a == b, || "exporter outputs differ at the limits".into())?;
            "ok".to_owned()
        }
        _ => format!("{}/{}", outcome(a), outcome(b)),
    };
    // The connection is still usable after the refusals.
    ensure(
        send(&client, &server, b"still fine")? == b"still fine",
        || "connection broken after refusals".into(),
    )?;
    Ok(format!("{out} max-args={max_args}"))
}

fn exporter_tls12(f: &Fixtures) -> Outcome {
    exporter_on(f, ProtocolVersion::Tls12)
}

fn exporter_tls13(f: &Fixtures) -> Outcome {
    let out = exporter_on(f, ProtocolVersion::Tls13)?;
    // HKDF gives at most 255 hash lengths: 12240 bytes with SHA-384 (the
    // native default suite), 8160 with SHA-256 (the guest's).
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, _server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let over = refused(
        client.export_keying_material(b"EXPORTER-x", None, 12_241),
        "misuse",
        "12241 bytes from HKDF",
    )?;
    Ok(format!("{out} hkdf-12241={over}"))
}

/// The parity client configuration with `system` trust instead of the test CA.
fn system_config(f: &Fixtures) -> Result<tls::ClientConfig, String> {
    let mut c = client_config(f)?;
    c.trust = TrustStore {
        system: true,
        anchors: vec![],
        pinned: vec![],
    };
    Ok(c)
}

/// Contexts made and dropped one after another once the cap is reached.
const CONTEXT_CYCLES: u32 = 100_000;

/// Contexts with `system` trust until the policy refuses; then, to show that
/// nothing accumulates, [`CONTEXT_CYCLES`] more created and dropped one at a
/// time.
fn context_flood(f: &Fixtures) -> Outcome {
    let config = system_config(f)?;
    let mut held = Vec::new();
    let refusal = loop {
        match tls::client_context(&config) {
            Ok(c) => held.push(c),
            Err(e) => break e,
        }
        ensure(held.len() <= 1 << 20, || "no cap on contexts".into())?;
    };
    ensure(kind(&refusal) == "resource-limit", || err(refusal.clone()))?;
    ensure(refusal.message.contains("max-contexts"), || {
        err(refusal.clone())
    })?;
    let cap = held.len();
    // Server contexts count against the same cap.
    let server = refused(
        tls::server_context(&server_config(f)?),
        "resource-limit",
        "server context at the cap",
    )?;
    held.clear();
    // Each context dropped gives its slot back: 100,000 more, far past the
    // cap. (What each costs in memory is the leak suite's to measure, over
    // 50,000 cycles with a context made every other one: tests/suite/leaks.rs.)
    for i in 0..CONTEXT_CYCLES {
        tls::client_context(&config).map_err(|e| format!("cycle {i}: {}", err(e)))?;
    }
    Ok(format!(
        "cap={cap} refusal=resource-limit server-at-cap={server} cycles={CONTEXT_CYCLES}"
    ))
}

/// Configuration bytes: one configuration over the whole budget is refused
/// before it is parsed; many moderate ones stop at the budget.
fn config_budget(f: &Fixtures) -> Outcome {
    let mut c = client_config(f)?;
    c.trust.anchors = vec![vec![b'A'; 17 << 20]];
    let whole = refused(tls::client_context(&c), "resource-limit", "a 17 MiB anchor")?;
    // 1 MiB of real anchors (the CA repeated) per context.
    let ca = fx(f, "ca")?;
    let mut c = client_config(f)?;
    c.trust.anchors = vec![ca.repeat((1 << 20) / ca.len())];
    let mut held = Vec::new();
    let refusal = loop {
        match tls::client_context(&c) {
            Ok(ctx) => held.push(ctx),
            Err(e) => break e,
        }
        ensure(held.len() <= 64, || "no configuration budget".into())?;
    };
    ensure(kind(&refusal) == "resource-limit", || err(refusal.clone()))?;
    ensure(refusal.message.contains("max-config-bytes"), || {
        err(refusal.clone())
    })?;
    let count = held.len();
    held.clear();
    tls::client_context(&c).map_err(|e| format!("after dropping: {}", err(e)))?;
    // Server chains and client-auth anchors count too.
    let mut s = server_config(f)?;
    let copies = (17 << 20) / s.certificate_chains[0].certificates[0].len();
    s.certificate_chains = vec![s.certificate_chains[0].clone(); copies];
    let chains = refused(
        tls::server_context(&s),
        "resource-limit",
        "17 MiB of signing chains",
    )?;
    Ok(format!(
        "17mib-anchor={whole} 1mib-contexts={count} then=resource-limit \
         after-drop=ok chains-17mib={chains}"
    ))
}

/// `verify-server-chain` floods with `system` trust (no per-call root store),
/// a chain of 10,000 certificates, and a call over the budget.
fn verify_flood(f: &Fixtures) -> Outcome {
    let chain = vec![fx(f, "server.chain")?.to_vec()];
    let system = system_config(f)?.trust;
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..20_000 {
        kinds.insert(outcome(tls::verify_server_chain(
            &system,
            &chain,
            "localhost",
            None,
        )));
    }
    let ca = anchors(f, "ca")?;
    for _ in 0..5_000 {
        tls::verify_server_chain(&ca, &chain, "localhost", None).map_err(err)?;
    }
    let long: Vec<Vec<u8>> = std::iter::repeat_n(fx(f, "server.chain")?.to_vec(), 10_000).collect();
    let long_chain = outcome(tls::verify_server_chain(&ca, &long, "localhost", None));
    let huge = vec![vec![b'B'; 17 << 20]];
    let over = refused(
        tls::verify_server_chain(&ca, &huge, "localhost", None),
        "resource-limit",
        "a 17 MiB chain",
    )?;
    Ok(format!(
        "system-x20000={} anchors-x5000=ok chain-10000={long_chain} 17mib={over}",
        kinds.into_iter().collect::<Vec<_>>().join("|")
    ))
}

/// `decode-certificate` 10,000 times on one certificate (the same reading
/// every time), on each certificate of the padded `loop` chain, and on what is
/// no certificate: empty, one byte, garbage, a certificate cut short or with a
/// byte after it, a megabyte of nested SEQUENCE headers (`configuration`, a
/// sentence each), and 17 MiB (`resource-limit`, over the policy's budget).
fn decode_flood(f: &Fixtures) -> Outcome {
    let ders = |name: &str| -> Result<Vec<Vec<u8>>, String> {
        let certs = memtls_engine::parse_certificate_item(fx(f, name)?, name).map_err(err)?;
        Ok(certs.into_iter().map(|c| c.to_vec()).collect())
    };
    let der = ders("server.chain")?.swap_remove(0);
    let first = tls::decode_certificate(&der).map_err(err)?;
    for _ in 0..10_000 {
        let again = tls::decode_certificate(&der).map_err(err)?;
        ensure(again == first, || "a second reading differs".into())?;
    }
    let mut loop_kinds = std::collections::BTreeSet::new();
    for cert in ders("loop.chain")? {
        loop_kinds.insert(outcome(tls::decode_certificate(&cert)));
    }
    let mut trailing = der.clone();
    trailing.push(0);
    let nested: Vec<u8> = std::iter::repeat_n([0x30u8, 0x84, 0x7f, 0xff, 0xff, 0xff], 1 << 17)
        .flatten()
        .collect();
    let mut bad = Vec::new();
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("one byte", vec![0x30]),
        ("garbage", vec![b'B'; 64 << 10]),
        ("cut short", der[..der.len() / 2].to_vec()),
        ("trailing", trailing),
        ("nested", nested),
    ] {
        bad.push(format!(
            "{what}={}",
            refused(tls::decode_certificate(&bytes), "configuration", what)?
        ));
    }
    let over = refused(
        tls::decode_certificate(&vec![0x30; 17 << 20]),
        "resource-limit",
        "17 MiB",
    )?;
    Ok(format!(
        "same-x10000=ok loop={} {} 17mib={over}",
        loop_kinds.into_iter().collect::<Vec<_>>().join("|"),
        bad.join(" ")
    ))
}

/// The `loop` chain (fixtures: nine CA certificates sharing one name, each
/// its own issuer, about 58 KiB): `verify-server-chain` refuses it with
/// `resource-limit` before building a path, under `system` trust, `system`
/// plus anchors and anchors alone; one certificate more passes
/// max-chain-certificates; a server presenting it is refused by the client
/// with a certificate error, and the server hears an alert; a client
/// presenting it is refused by the server, naming the limit.
fn pathological_chain(f: &Fixtures) -> Outcome {
    let chain = vec![fx(f, "loop.chain")?.to_vec()];
    let system = system_config(f)?.trust;
    let ca = anchors(f, "ca")?;
    let both = TrustStore {
        anchors: ca.anchors.clone(),
        ..system.clone()
    };
    let mut out = String::new();
    for (what, trust) in [
        ("system", &system),
        ("system+anchors", &both),
        ("anchors", &ca),
    ] {
        let e = tls::verify_server_chain(trust, &chain, "localhost", None)
            .err()
            .ok_or_else(|| format!("{what}: the loop chain was accepted"))?;
        assert_sentence(&e);
        ensure(
            kind(&e) == "resource-limit" && e.message.contains("steps"),
            || format!("{what}: {}", err(e.clone())),
        )?;
        let _ = write!(out, "{what}={} ", kind(&e));
    }
    let mut eleven = chain.clone();
    eleven.push(fx(f, "ca")?.to_vec());
    let e = tls::verify_server_chain(&ca, &eleven, "localhost", None)
        .err()
        .ok_or("eleven certificates were accepted")?;
    ensure(
        kind(&e) == "resource-limit" && e.message.contains("max-chain-certificates"),
        || format!("eleven certificates: {}", err(e.clone())),
    )?;
    let _ = write!(out, "eleven={} ", kind(&e));
    let mut s = server_config(f)?;
    s.certificate_chains = vec![memtls_scenario_suite::harness::chain(f, "loop")?];
    let mut c = system_config(f)?;
    c.trust.anchors = ca.anchors.clone();
    let (cc, sc) = contexts(c, s)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    drop((client, server));
    // The kinds without their reasons: OpenSSL builds paths its own way
    // (greedily, so this chain costs it nothing) and names another reason.
    let bare = |r: &Result<(), Error>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => kind(e).split('(').next().unwrap_or_default().to_string(),
    };
    ensure(bare(&pair.client) == "certificate-rejected", || {
        format!("the client: {}", pair.outcome())
    })?;
    let _ = write!(
        out,
        "handshake: client={} server={}",
        bare(&pair.client),
        bare(&pair.server)
    );
    // A client presenting it to a server that asks for client certificates.
    let mut s = server_config(f)?;
    s.client_auth = tls::ClientAuth::Required(anchors(f, "client-ca")?);
    let mut c = client_config(f)?;
    c.certificate_chain = Some(memtls_scenario_suite::harness::chain(f, "loop")?);
    let (cc, sc) = contexts(c, s)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    drop((client, server));
    let server_error = pair.server.as_ref().err().ok_or("the server accepted it")?;
    ensure(
        bare(&pair.server) == "certificate-rejected" && server_error.message.contains("steps"),
        || format!("the server: {}", err(server_error.clone())),
    )?;
    let _ = write!(out, " client-auth: server={}", bare(&pair.server));
    Ok(out)
}

/// Connections until the policy refuses, before any ClientHello is built.
fn connection_flood(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let mut held = Vec::new();
    let refusal = loop {
        let c = if held.len() % 2 == 0 {
            cc.connect("localhost")
        } else {
            sc.accept()
        };
        match c {
            Ok(c) => held.push(c),
            Err(e) => break e,
        }
        ensure(held.len() <= 1 << 20, || "no cap on connections".into())?;
    };
    ensure(kind(&refusal) == "resource-limit", || err(refusal.clone()))?;
    let cap = held.len();
    held.clear();
    let (_c, _s, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    Ok(format!("cap={cap} refusal=resource-limit after-drop=ok"))
}

/// KeyUpdate requested a million times by a caller that never takes the
/// ciphertext: the outgoing buffer stays bounded.
fn key_update_flood(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let mut first_refusal = None;
    for i in 0..1_000_000u32 {
        if let Err(e) = client.request_key_update() {
            first_refusal = Some((i, e));
            break;
        }
    }
    let (n, e) = first_refusal.ok_or("a million key updates were all queued")?;
    ensure(kind(&e) == "resource-limit", || err(e.clone()))?;
    ensure(
        client.pending_ciphertext() as usize <= 2 * DEFAULT_MAX_BUFFERED,
        || format!("{} bytes queued", client.pending_ciphertext()),
    )?;
    // Once the buffer is taken, the caller can go on. (A peer that gets
    // thousands of KeyUpdates in a row may call it a flood and end the
    // connection: rustls does. That is the peer's defence.)
    drop(client.take(u32::MAX));
    client.request_key_update().map_err(err)?;
    drop(server);
    Ok(format!("refused-after-some={} bounded=true then=ok", n > 0))
}

/// The policy's default `max-buffered-bytes` (the suite runs under the default).
const DEFAULT_MAX_BUFFERED: usize = 4 * (16 * 1024 + 256);

/// After a fatal error every call answers without trapping: the same error,
/// or a plain value.
fn calls_after_error(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let first = refused(
        server.feed(&[
            23, 3, 3, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
        ]),
        "protocol",
        "a corrupted record",
    );
    let first = first.or_else(|_| Ok::<_, String>("other".into()))?;
    let out_bytes = server.take(u32::MAX);
    let mut out = format!(
        "first={first} out-first-byte={:?}",
        out_bytes.first().copied()
    );
    let k = |r: Result<String, Error>| r.unwrap_or_else(|e| kind(&e));
    let _ = write!(
        out,
        " feed={} eof={} handshake={} read={} write={} shutdown={} export={} key-update={}",
        k(server.feed(b"more").map(|n| n.to_string())),
        k(server.eof().map(|()| "ok".into())),
        k(server.handshake().map(|p| format!("{p:?}"))),
        k(server.read(u32::MAX).map(|_| "data".into())),
        k(server.write(&pattern(100)).map(|o| match o {
            WriteOutcome::Written(_) => "written".into(),
            other => format!("{other:?}"),
        })),
        k(server.shutdown().map(|p| format!("{p:?}"))),
        k(server
            .export_keying_material(b"EXPORTER-x", None, 32)
            .map(|_| "ok".into())),
        k(server.request_key_update().map(|()| "ok".into())),
    );
    let _ = write!(
        out,
        " take={} pending={} peer-closed={} complete={}",
        server.take(u32::MAX).len(),
        server.pending_plaintext(),
        server.peer_closed(),
        server.is_handshake_complete()
    );
    drop(client);
    Ok(out)
}

/// Resources dropped in every order: contexts before their connections, a
/// connection in mid-handshake, a server context while its connections run.
fn drop_out_of_order(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let client = cc.connect("localhost").map_err(err)?;
    let server = sc.accept().map_err(err)?;
    let hello = client.take(u32::MAX);
    server.feed(&hello).map_err(err)?;
    drop(client);
    drop(cc);
    let _ = server.handshake();
    let _ = server.take(u32::MAX);
    drop(sc);
    let _ = server.feed(&[22, 3, 3, 0, 1, 0]);
    drop(server);
    let mut dropped = Vec::new();
    for _ in 0..100 {
        let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
        let (c, s, pair) = connect(&cc, &sc, "localhost")?;
        pair.ok()?;
        dropped.push((s, cc, c, sc));
    }
    dropped.reverse();
    drop(dropped);
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (_c, _s, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    Ok("every order ok".into())
}

/// The largest arguments a guest can pass to each function.
fn huge_arguments(f: &Fixtures) -> Outcome {
    let mut out = Vec::new();
    let mut c = client_config(f)?;
    c.alpn_protocols = vec![vec![b'h'; 255]; 60_000];
    out.push(format!(
        "alpn-60000x255={}",
        outcome(tls::client_context(&c))
    ));
    let mut c = client_config(f)?;
    c.cipher_suites = Some(vec![0x1301; 1_000_000]);
    out.push(format!("suites-1m={}", outcome(tls::client_context(&c))));
    let mut c = client_config(f)?;
    c.key_exchange_groups = Some(vec![0x001d; 1_000_000]);
    out.push(format!("groups-1m={}", outcome(tls::client_context(&c))));
    let mut s = server_config(f)?;
    s.key_exchange_groups = Some(vec![0xffff; 9 << 20]);
    out.push(format!("groups-9m={}", outcome(tls::server_context(&s))));
    let mut c = client_config(f)?;
    c.trust.pinned = vec![vec![0x30; 1]; 100_000];
    out.push(format!("pins-100000={}", outcome(tls::client_context(&c))));
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    out.push(format!(
        "connect-1mib-name={}",
        outcome(cc.connect(&"a".repeat(1 << 20)))
    ));
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let big = pattern(64 << 20);
    out.push(format!(
        "write-64mib={}",
        outcome(client.write(&big).and_then(|o| match o {
            WriteOutcome::Written(n) if (n as usize) < big.len() => Ok(()),
            other => Err(Error {
                kind: tls::ErrorKind::Misuse,
                message: format!("unexpected {other:?}"),
            }),
        }))
    ));
    let _ = client.take(u32::MAX);
    out.push(format!("feed-64mib-garbage={}", outcome(server.feed(&big))));
    out.push(format!(
        "verify-name-1mib={}",
        outcome(tls::verify_server_chain(
            &anchors(f, "ca")?,
            &[fx(f, "server.chain")?.to_vec()],
            &"b".repeat(1 << 20),
            Some(u64::MAX),
        ))
    ));
    Ok(out.join(" "))
}

/// Sessions asked for again and again (the same one each time): every one
/// handed out holds a place under the policy, so the flood meets
/// `resource-limit`, and dropping them gives the places back.
fn session_flood(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let client = cc.connect_with("localhost", None).map_err(err)?;
    let server = sc.accept().map_err(err)?;
    handshake(&client, &server, u32::MAX).ok()?;
    // TLS 1.3 tickets follow the handshake: carry them over with some data.
    server.write(b"x").map_err(err)?;
    client.feed(&server.take(u32::MAX)).map_err(err)?;
    client.read(16).map_err(err)?;
    let mut held = Vec::new();
    let refusal = loop {
        match client.session() {
            Ok(Some(s)) => held.push(s),
            Ok(None) => return Err("no session after the tickets arrived".into()),
            Err(e) => break e,
        }
        ensure(held.len() <= 1 << 20, || "no cap on sessions".into())?;
    };
    let cap = held.len();
    let refusal = refused(Err::<(), _>(refusal), "resource-limit", "session flood")?;
    // The same session offered by many connections at once.
    let offered: Vec<_> = (0..100)
        .map(|_| cc.connect_with("localhost", Some(&held[0])))
        .collect::<Result<_, _>>()
        .map_err(err)?;
    drop(offered);
    held.truncate(1);
    let again = outcome(client.session());
    Ok(format!(
        "cap={cap} refusal={refusal} offered-100=ok after-drop={again}"
    ))
}

/// The acceptor at its extremes: accepting before a hello, garbage, a hello
/// that claims 16 MiB, every alert value, a flood of acceptors.
fn acceptor_abuse(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let mut out = Vec::new();
    let a = tls::acceptor().map_err(err)?;
    out.push(format!("accept-early={}", outcome(a.accept(&sc))));
    out.push(format!(
        "feed-64mib-garbage={}",
        outcome(a.feed(&pattern(64 << 20)))
    ));
    ensure(a.pending_ciphertext() <= 64, || {
        format!("{} bytes queued for garbage", a.pending_ciphertext())
    })?;
    out.push(format!("accept-after-error={}", outcome(a.accept(&sc))));
    drop(a);
    // A ClientHello that says it is 16 MiB long, followed by full records.
    let mut huge = vec![22, 3, 1, 0x40, 0x00, 1, 0xff, 0xff, 0xff];
    huge.resize(5 + 0x4000, 0);
    for _ in 0..64 {
        huge.extend_from_slice(&[22, 3, 3, 0x40, 0x00]);
        huge.resize(huge.len() + 0x4000, 0);
    }
    let a = tls::acceptor().map_err(err)?;
    let mut fed = 0usize;
    let endless = loop {
        match a.feed(&huge[fed..]) {
            Ok(0) => break "stalled".to_string(),
            Ok(n) => fed += n as usize,
            Err(e) => break outcome(Err::<(), _>(e)),
        }
        if fed == huge.len() {
            break "all-taken".into();
        }
    };
    out.push(format!("hello-16mib={endless}"));
    drop(a);
    for description in [0u8, 255] {
        let a = tls::acceptor().map_err(err)?;
        out.push(format!(
            "refuse-{description}={}+{}",
            outcome(a.refuse(description)),
            a.take(u32::MAX).len()
        ));
        out.push(format!("refuse-then-accept={}", outcome(a.accept(&sc))));
    }
    let mut held = Vec::new();
    let refusal = loop {
        match tls::acceptor() {
            Ok(a) => held.push(a),
            Err(e) => break e,
        }
        ensure(held.len() <= 1 << 20, || "no cap on acceptors".into())?;
    };
    out.push(format!(
        "flood={}",
        refused(Err::<(), _>(refusal), "resource-limit", "acceptor flood")?
    ));
    held.clear();
    // After all that, an acceptor still serves a client.
    let client = cc.connect("localhost").map_err(err)?;
    let a = tls::acceptor().map_err(err)?;
    a.feed(&client.take(u32::MAX)).map_err(err)?;
    let name = a.client_hello().and_then(|h| h.server_name);
    let server = a.accept(&sc).map_err(err)?;
    handshake(&client, &server, u32::MAX).ok()?;
    out.push(format!("then-sni={}", name.unwrap_or_default()));
    Ok(out.join(" "))
}

/// A connection used after it was dropped: the instance traps (the handle is
/// invalid); the host and other instances go on.
fn use_after_drop(f: &Fixtures) -> Outcome {
    // Raw handles exist only on the WIT bindings.
    use memtls_stream::tls as wit;
    let config = crate::convert::from_client_config(client_config(f)?);
    let cc = wit::ClientContext::create(&config).map_err(|e| e.message)?;
    let conn = cc.connect("localhost").map_err(|e| e.message)?;
    let handle = conn.take_handle();
    // SAFETY: deliberately wrong: the handle is dropped, then reused, to check
    // that the provider traps this instance instead of misbehaving.
    unsafe {
        drop(wit::Connection::from_handle(handle));
        let again = wit::Connection::from_handle(handle);
        let _ = again.pending_ciphertext();
        std::mem::forget(again);
    }
    Err("a dropped handle was accepted".into())
}

// `verify-server-chain` as the canonical ABI lowers it, declared by hand so
// that the list's elements can all point at the same bytes (the bindings take
// owned vectors, which cannot alias).
#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "memtls:tls/tls@0.1.0")]
unsafe extern "C" {
    /// The import, flattened: see [`aliased_lists`].
    #[link_name = "verify-server-chain"]
    fn verify_server_chain_raw(
        system: i32,
        anchors: i32,
        anchors_len: i32,
        pinned: i32,
        pinned_len: i32,
        chain: i32,
        chain_len: i32,
        name: i32,
        name_len: i32,
        has_time: i32,
        time: i64,
        result: i32,
    );
}

/// 192 chain elements that all point at the same 16 MiB of this instance's
/// memory: 3 GiB for the provider to copy. The host's providers stop at
/// wasmtime's per-call copy limit, the guest provider at the store's memory
/// cap; either traps this instance alone (the harness checks the host's
/// memory). Returning at all means a provider answered instead.
fn aliased_lists(_f: &Fixtures) -> Outcome {
    #[cfg(target_arch = "wasm32")]
    {
        let bytes = vec![0x30u8; 16 << 20];
        let element = [bytes.as_ptr() as i32, bytes.len() as i32];
        let elements: Vec<[i32; 2]> = vec![element; 192];
        let name = "localhost";
        // Room for `result<_, error>` (a discriminant, the error's kind
        // variant and its message), aligned for its widest field.
        let mut answer = [0u64; 8];
        // SAFETY: the arguments follow the canonical ABI's flattening of
        // `verify-server-chain` (the trust store's bool and two empty lists,
        // the chain as (pointer, length) pairs, the name, `none`, and where
        // to write the result); every pointer is to live memory of this
        // instance of the right size, and nothing is freed until it returns.
        unsafe {
            verify_server_chain_raw(
                1,
                8,
                0,
                8,
                0,
                elements.as_ptr() as i32,
                elements.len() as i32,
                name.as_ptr() as i32,
                name.len() as i32,
                0,
                0,
                answer.as_mut_ptr() as i32,
            );
        }
        let refused = answer[0] as u8 == 1;
        Ok(format!("returned refused={refused}"))
    }
    #[cfg(not(target_arch = "wasm32"))]
    Err("aliased-lists runs inside a component only".into())
}

/// The host identity `held`, which only `identities_stay_in_the_host`
/// (tests/suite/hostile_guest.rs) grants, for serving alone; its key is not
/// among the fixtures, so it can reach this instance only through a leak.
/// Granted: a server context names it, a client trusting its certificate
/// completes a handshake the host signed and data flows; using it as a
/// client, under other spellings, or with a key of one's own is refused.
/// Not granted (every other run): every use is `not-permitted`.
fn host_identity_misuse(f: &Fixtures) -> Outcome {
    let named = |name: &str| SigningChain {
        certificates: vec![],
        private_key: vec![],
        private_key_password: None,
        host_identity: Some(name.to_owned()),
    };
    let base = server_config(f)?;
    let serving = |chain: SigningChain| ServerConfig {
        certificate_chains: vec![chain],
        ..base.clone()
    };
    let chain = match tls::host_identity_certificates("held") {
        Ok(chain) => chain,
        Err(e) => {
            let certificates = refused(Err::<(), _>(e), "not-permitted", "certificates")?;
            let server = refused(
                tls::server_context(&serving(named("held"))),
                "not-permitted",
                "server",
            )?;
            return Ok(format!("not granted: {certificates} {server}"));
        }
    };
    let end_entity = chain.first().ok_or("the identity's chain is empty")?;
    let client = ClientConfig {
        trust: TrustStore {
            system: false,
            anchors: vec![end_entity.clone()],
            pinned: vec![],
        },
        ..client_config(f)?
    };
    let (cc, sc) = contexts(client.clone(), serving(named("held")))?;
    let (c, s, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    ensure(c.peer_certificates() == chain, || {
        "the client saw another chain than the identity's".into()
    })?;
    let line = b"signed in the host";
    ensure(send(&c, &s, line)? == line, || {
        "the data did not arrive".into()
    })?;
    let mut as_client = client;
    as_client.certificate_chain = Some(named("held"));
    let purpose = refused(
        tls::client_context(&as_client),
        "not-permitted",
        "as a client",
    )?;
    for other in ["HELD", "held ", "held\0", "", "held/../held"] {
        refused(
            tls::server_context(&serving(named(other))),
            "not-permitted",
            &format!("{other:?}"),
        )?;
    }
    let mut with_key = named("held");
    with_key.private_key = b"-----BEGIN PRIVATE KEY-----".to_vec();
    let key = refused(
        tls::server_context(&serving(with_key)),
        "configuration",
        "with a key",
    )?;
    let summary = format!(
        "granted: handshake signed in the host, chain of {} readable; as a client {purpose}; \
         other spellings not-permitted; with a key {key}",
        chain.len()
    );
    // The public chain stays in this instance's memory on purpose: the
    // harness scanning it for the key must find the certificate (its scan
    // sees what is there).
    std::mem::forget(chain);
    Ok(summary)
}

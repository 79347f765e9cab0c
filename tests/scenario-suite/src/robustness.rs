//! Robustness: misuse, garbage, configuration errors, key formats, bounded buffers, hostile peers, argument extremes, drop order.

use std::fmt::Write as _;

use crate::harness::*;

pub(crate) fn misuse(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    client.shutdown().map_err(err)?;
    transfer(&client, &server, u32::MAX).map_err(err)?;
    let write = client.write(b"late").err().map(|e| kind(&e));
    let key_update = client.request_key_update().err().map(|e| kind(&e));
    server.eof().map_err(err)?;
    let feed = server.feed(b"more").err().map(|e| kind(&e));
    let mut out = String::new();
    for (what, got) in [
        ("write-after-shutdown", write),
        ("key-update-after-shutdown", key_update),
        ("feed-after-eof", feed),
    ] {
        ensure(got.as_deref() == Some("misuse"), || {
            format!("{what}: {got:?}")
        })?;
        let _ = write!(out, "{what}=misuse ");
    }
    // Zero-length arguments are handled, not errors.
    let zero_read = match client.read(0) {
        Ok(ReadOutcome::Data(d)) if d.is_empty() => "empty".to_string(),
        other => format!("{other:?}"),
    };
    let zero_take = client.take(0).len();
    let _ = write!(out, "read(0)={zero_read} take(0)={zero_take}");
    Ok(out)
}

pub(crate) fn garbage_from_peer(f: &Fixtures) -> Outcome {
    let (_, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let server = sc.accept().map_err(err)?;
    let e = server
        .feed(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
        .err()
        .ok_or("garbage was accepted")?;
    let first = kind(&e);
    ensure(first == "protocol", || {
        format!("garbage gave {first}: {}", e.message)
    })?;
    let again = server.handshake().err().map(|e| kind(&e));
    ensure(again.as_deref() == Some("protocol"), || {
        format!("error not sticky: {again:?}")
    })?;
    let alert = server.take(1024);
    // The alert record: content type 21.
    ensure(alert.first() == Some(&21), || {
        format!("no alert queued: {alert:?}")
    })?;
    let (cc, _) = contexts(client_config(f)?, server_config(f)?)?;
    let client = cc.connect("localhost").map_err(err)?;
    let mut junk = vec![0x16, 0x03, 0x03, 0x00, 0x10];
    junk.extend(pattern(16));
    let ce = client.feed(&junk).err().map(|e| kind(&e));
    Ok(format!(
        "server={first} sticky=true alert-queued=true client={}",
        ce.unwrap_or_else(|| "accepted".into())
    ))
}

pub(crate) fn config_errors(f: &Fixtures) -> Outcome {
    let good_c = client_config(f)?;
    let good_s = server_config(f)?;
    let mut cases: Vec<(&str, Result<(), Error>, &str)> = Vec::new();
    let c = |cfg: ClientConfig| tls::client_context(&cfg).map(|_| ());
    let s = |cfg: ServerConfig| tls::server_context(&cfg).map(|_| ());

    let mut x = good_c.clone();
    x.trust.anchors =
        vec![b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".to_vec()];
    cases.push(("unparseable-pem", c(x), "PEM"));
    let mut x = good_c.clone();
    x.trust.anchors = vec![b"\x30\x03\x02\x01\x00".to_vec()];
    cases.push(("bad-der", c(x), "DER"));
    let mut x = good_c.clone();
    x.trust = TrustStore {
        system: false,
        anchors: vec![],
        pinned: vec![],
    };
    cases.push(("empty-trust", c(x), "empty"));
    let mut x = good_c.clone();
    x.cipher_suites = Some(vec![0x0005]);
    cases.push(("unknown-cipher", c(x), "0x0005"));
    let mut x = good_c.clone();
    x.min_version = Some(ProtocolVersion::Tls13);
    x.max_version = Some(ProtocolVersion::Tls12);
    cases.push(("min-above-max", c(x), "higher"));
    let mut x = good_c.clone();
    x.alpn_protocols = vec![vec![]];
    cases.push(("empty-alpn", c(x), "alpn"));
    let mut x = good_c.clone();
    x.certificate_chain = Some(SigningChain {
        certificates: vec![fx(f, "client.chain")?.to_vec()],
        private_key: fx(f, "server.key")?.to_vec(),
        private_key_password: None,
        host_identity: None,
    });
    cases.push(("client-key-mismatch", c(x), "does not match"));
    let mut x = good_s.clone();
    x.certificate_chains = vec![];
    cases.push(("no-chains", s(x), "empty"));
    let mut x = good_s.clone();
    x.certificate_chains = vec![SigningChain {
        certificates: vec![],
        private_key: fx(f, "server.key")?.to_vec(),
        private_key_password: None,
        host_identity: None,
    }];
    cases.push(("empty-chain", s(x), "empty"));
    let mut x = good_s.clone();
    x.certificate_chains = vec![SigningChain {
        certificates: vec![fx(f, "server.chain")?.to_vec()],
        private_key: fx(f, "b.key")?.to_vec(),
        private_key_password: None,
        host_identity: None,
    }];
    cases.push(("key-mismatch", s(x), "does not match"));
    let mut x = good_s.clone();
    x.certificate_chains = vec![SigningChain {
        certificates: vec![fx(f, "server.chain")?.to_vec()],
        private_key: b"-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n".to_vec(),
        private_key_password: None,
        host_identity: None,
    }];
    cases.push(("unparseable-key", s(x), "private key"));
    let mut x = good_s.clone();
    x.client_auth = ClientAuth::Required(TrustStore {
        system: true,
        anchors: vec![],
        pinned: vec![],
    });
    cases.push(("system-client-auth", s(x), "system"));
    let mut x = good_s.clone();
    x.cipher_suites = Some(vec![]);
    cases.push(("empty-suites", s(x), "empty"));
    let mut x = good_c.clone();
    x.key_exchange_groups = Some(vec![0x9999]);
    cases.push(("unknown-group", c(x), "0x9999"));
    let mut x = good_s.clone();
    x.key_exchange_groups = Some(vec![]);
    cases.push(("empty-groups", s(x), "empty"));
    let bad_name = cc_connect_bad_name(f)?;
    cases.push(("bad-server-name", bad_name, "not a valid"));

    let mut out = String::new();
    for (name, got, needle) in cases {
        let e = got.err().ok_or_else(|| format!("{name}: accepted"))?;
        ensure(matches!(e.kind, ErrorKind::Configuration), || {
            format!("{name}: {}", err(e.clone()))
        })?;
        ensure(e.message.contains(needle), || {
            format!("{name}: message {:?} lacks {needle:?}", e.message)
        })?;
        let _ = write!(out, "{name} ");
    }
    Ok(out.trim_end().into())
}

/// Host identities the policy does not grant (the parity runs grant none):
/// asked for by a client, a server or `host-identity-certificates`, with an
/// ordinary name, a path-like one and a 1 MiB one, each is `not-permitted`
/// with a sentence naming it (a long name cut short); an identity given with
/// certificates or a key too is a configuration error.
pub(crate) fn host_identities_refused(f: &Fixtures) -> Outcome {
    let named = |name: &str| SigningChain {
        certificates: vec![],
        private_key: vec![],
        private_key_password: None,
        host_identity: Some(name.to_owned()),
    };
    let long = "x".repeat(1 << 20);
    let mut out = String::new();
    for name in ["client-id", "../../etc/key", long.as_str()] {
        let mut c = client_config(f)?;
        c.certificate_chain = Some(named(name));
        let mut s = server_config(f)?;
        s.certificate_chains = vec![named(name)];
        for (what, got) in [
            ("client", tls::client_context(&c).map(|_| ())),
            ("server", tls::server_context(&s).map(|_| ())),
            (
                "certificates",
                tls::host_identity_certificates(name).map(|_| ()),
            ),
        ] {
            let e = got
                .err()
                .ok_or_else(|| format!("{what} {name:.20}: accepted"))?;
            ensure(matches!(e.kind, ErrorKind::NotPermitted), || {
                format!("{what} {name:.20}: {}", err(e.clone()))
            })?;
            let shown = format!("{:?}", &name[..name.len().min(64)]);
            ensure(
                e.message.contains(&shown) && e.message.contains("not granted"),
                || format!("{what}: message {:?} does not name {shown}", e.message),
            )?;
            ensure(e.message.len() < 512, || {
                format!("{what}: a {}-byte message for a long name", e.message.len())
            })?;
        }
        let _ = write!(out, "not-permitted({}) ", name.len());
    }
    let mut both = named("client-id");
    both.private_key = fx(f, "client.key")?.to_vec();
    let mut c = client_config(f)?;
    c.certificate_chain = Some(both);
    let e = tls::client_context(&c)
        .err()
        .ok_or("an identity with a key too: accepted")?;
    ensure(
        matches!(e.kind, ErrorKind::Configuration) && e.message.contains("one or the other"),
        || format!("an identity with a key too: {}", err(e.clone())),
    )?;
    out.push_str("identity-and-key=configuration");
    Ok(out)
}

pub(crate) fn cc_connect_bad_name(f: &Fixtures) -> Result<Result<(), Error>, String> {
    let cc = tls::client_context(&client_config(f)?).map_err(err)?;
    Ok(cc.connect("not a host name!").map(|_| ()))
}

pub(crate) fn key_formats(f: &Fixtures) -> Outcome {
    let mut out = String::new();
    for (cert, key, ca) in [
        ("server.chain", "server.key", "ca"),
        ("server.chain", "server.key.pkcs8.der", "ca"),
        ("server.chain", "server.key.sec1.pem", "ca"),
        ("server.chain", "server.key.sec1.der", "ca"),
        ("rsa.chain", "rsa.key.pkcs1.pem", "ca"),
        ("rsa.chain", "rsa.key.pkcs1.der", "ca"),
        ("server.der", "server.key", "ca"),
        // Made by ring (rcgen): PKCS#8 v2, with the public key.
        ("ed25519-all.chain", "ed25519-all.key", "ed-ca"),
    ] {
        let mut s = server_config(f)?;
        s.certificate_chains = vec![SigningChain {
            certificates: vec![fx(f, cert)?.to_vec()],
            private_key: fx(f, key)?.to_vec(),
            private_key_password: None,
            host_identity: None,
        }];
        let mut c = client_config(f)?;
        c.trust = anchors(f, ca)?;
        let (cc, sc) = contexts(c, s).map_err(|e| format!("{key}: {e}"))?;
        connect(&cc, &sc, "localhost")?
            .2
            .ok()
            .map_err(|e| format!("{key}: {e}"))?;
        let _ = write!(out, "{key}:ok ");
    }
    Ok(out.trim_end().into())
}

pub(crate) fn bounded_buffers(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    // The writer stops accepting once the outgoing buffer is full.
    let big = pattern(4 << 20);
    let mut accepted = 0usize;
    loop {
        match client.write(&big[accepted..]).map_err(err)? {
            WriteOutcome::Written(0) | WriteOutcome::WantWrite => break,
            WriteOutcome::Written(n) => accepted += n as usize,
            WriteOutcome::WantRead => return Err("want-read after handshake".into()),
        }
        if accepted >= big.len() {
            return Err("4 MiB accepted without taking any ciphertext".into());
        }
    }
    let pending = client.pending_ciphertext() as usize;
    ensure(pending >= accepted && pending < accepted + 4096, || {
        format!("pending {pending} for {accepted}")
    })?;
    // The reader's side stops accepting ciphertext while plaintext is unread.
    let cipher = client.take(u32::MAX);
    let mut fed = 0usize;
    while fed < cipher.len() {
        let n = server.feed(&cipher[fed..]).map_err(err)? as usize;
        if n == 0 {
            break;
        }
        fed += n;
    }
    ensure(fed < cipher.len(), || {
        "receiver took everything without being read".into()
    })?;
    let unread = server.pending_plaintext();
    let mut got = Vec::new();
    drain(&server, &mut got)?;
    Ok(format!(
        "writer-stops=true receiver-stops=true accepted-le-cap={} unread-bounded={}",
        accepted <= 4 * (16 * 1024 + 256),
        unread <= 64 * 1024
    ))
}

/// Feeds up to `limit` bytes of `chunk` repeatedly; returns (bytes accepted,
/// outcome) where the outcome is the error kind or "accepted-all"/"stalled".
pub(crate) fn flood(conn: &Connection, chunk: &[u8], limit: u64) -> (u64, String) {
    let mut fed = 0u64;
    while fed < limit {
        match conn.feed(chunk) {
            Ok(0) => return (fed, "stalled".into()),
            Ok(n) => fed += u64::from(n),
            Err(e) => return (fed, kind(&e)),
        }
    }
    (fed, "accepted-all".into())
}

/// Floods `conn` with `chunk` (up to 1 GiB) and requires it to refuse with an
/// error within the first MiB; returns (bytes accepted, the error kind).
fn refused_flood(conn: &Connection, chunk: &[u8], what: &str) -> Result<(u64, String), String> {
    let (fed, outcome) = flood(conn, chunk, 1 << 30);
    ensure(outcome != "accepted-all" && outcome != "stalled", || {
        format!("{what}: {fed} bytes fed, {outcome}")
    })?;
    ensure(fed < 1 << 20, || {
        format!("{what}: {fed} bytes accepted before the error")
    })?;
    Ok((fed, outcome))
}

pub(crate) fn hostile_garbage_flood(f: &Fixtures) -> Outcome {
    // Well-framed records of nonsense, 1 GiB of them if the engine let it go on.
    let (_, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let mut out = String::new();
    for (what, content_type) in [
        ("handshake", 22u8),
        ("application-data", 23),
        ("alert", 21),
        ("unknown-type", 99),
    ] {
        let server = sc.accept().map_err(err)?;
        let mut record = vec![content_type, 3, 3, 0x40, 0x00];
        record.extend(pattern(16 * 1024));
        let chunk = record.repeat(4);
        let (_, outcome) = refused_flood(&server, &chunk, what)?;
        let _ = write!(out, "{what}:{outcome} ");
    }
    Ok(out.trim_end().into())
}

pub(crate) fn hostile_endless_handshake_message(f: &Fixtures) -> Outcome {
    // A ClientHello that announces 16 MiB and then keeps coming, record after
    // record: the engine must refuse it rather than buffer it.
    let (_, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let server = sc.accept().map_err(err)?;
    let mut first = vec![22, 3, 3, 0x40, 0x00, 1, 0xff, 0xff, 0xff];
    first.extend(pattern(16 * 1024 - 4));
    let start = server
        .feed(&first)
        .map(|n| n.to_string())
        .unwrap_or_else(|e| kind(&e));
    let mut record = vec![22, 3, 3, 0x40, 0x00];
    record.extend(pattern(16 * 1024));
    let (fed, outcome) = refused_flood(&server, &record.repeat(4), "handshake message")?;
    Ok(format!(
        "first-record={start} then {outcome} after {} KiB",
        fed / 1024
    ))
}

pub(crate) fn hostile_stalled_handshake(f: &Fixtures) -> Outcome {
    // A peer that sends half a ClientHello and then nothing: the connection waits
    // (want-read) holding only what it was given; the transport's end is a ragged
    // EOF. Timeouts are the caller's business.
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let client = cc.connect("localhost").map_err(err)?;
    let server = sc.accept().map_err(err)?;
    let hello = client.take(u32::MAX);
    let half = &hello[..hello.len() / 2];
    server.feed(half).map_err(err)?;
    let mut states = Vec::new();
    for _ in 0..1000 {
        states.push(server.handshake().map_err(err)?);
        server.feed(&[]).map_err(err)?;
    }
    ensure(states.iter().all(|p| *p == Progress::WantRead), || {
        format!("{:?}", states.last())
    })?;
    ensure(server.pending_ciphertext() == 0, || {
        "a half hello produced output".into()
    })?;
    server.eof().map_err(err)?;
    let end = server
        .handshake()
        .err()
        .map(|e| kind(&e))
        .unwrap_or_else(|| "no error".into());
    ensure(end == "ragged-eof", || end.clone())?;
    Ok(format!("waits=want-read x1000 then eof={end}"))
}

pub(crate) fn argument_extremes(f: &Fixtures) -> Outcome {
    let mut out = Vec::new();
    let r = |x: Result<String, Error>| x.unwrap_or_else(|e| kind(&e));
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    out.push(format!(
        "connect-empty={}",
        r(cc.connect("").map(|_| "ok".into()))
    ));
    out.push(format!(
        "connect-100k={}",
        r(cc.connect(&"a".repeat(100_000)).map(|_| "ok".into()))
    ));
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    out.push(format!(
        "feed-empty={}",
        r(client.feed(&[]).map(|n| n.to_string()))
    ));
    out.push(format!(
        "write-empty={}",
        r(client.write(&[]).map(|o| format!("{o:?}")))
    ));
    out.push(format!("take-0={}", client.take(0).len()));
    out.push(format!("take-max={}", client.take(u32::MAX).len()));
    out.push(format!(
        "read-0={}",
        r(client.read(0).map(|o| format!("{o:?}")))
    ));
    out.push(format!(
        "read-max={}",
        r(client.read(u32::MAX).map(|o| format!("{o:?}")))
    ));
    let big = pattern(16 << 20);
    out.push(format!(
        "write-16mib={}",
        r(client.write(&big).map(|o| match o {
            WriteOutcome::Written(n) if (n as usize) < big.len() => "short".to_string(),
            other => format!("{other:?}"),
        }))
    ));
    let cipher = client.take(u32::MAX);
    out.push(format!(
        "feed-all-at-once={}",
        r(server
            .feed(&cipher)
            .map(|n| if (n as usize) < cipher.len() {
                "partial".into()
            } else {
                "all".into()
            }))
    ));
    out.push(format!(
        "export-0={}",
        r(client
            .export_keying_material(b"x", None, 0)
            .map(|v| v.len().to_string()))
    ));
    out.push(format!(
        "export-max={}",
        r(client
            .export_keying_material(b"x", None, u32::MAX)
            .map(|v| v.len().to_string()))
    ));
    out.push(format!(
        "export-16k={}",
        r(client
            .export_keying_material(&[], Some(&[]), 16384)
            .map(|v| v.len().to_string()))
    ));
    let mut c = client_config(f)?;
    c.alpn_protocols = vec![vec![b'a'; 255]];
    out.push(format!(
        "alpn-255={}",
        r(tls::client_context(&c).map(|_| "ok".into()))
    ));
    c.alpn_protocols = vec![vec![b'a'; 256]];
    out.push(format!(
        "alpn-256={}",
        r(tls::client_context(&c).map(|_| "ok".into()))
    ));
    let mut c = client_config(f)?;
    c.cipher_suites = Some(vec![0x1301; 10_000]);
    out.push(format!(
        "suites-10k-dup={}",
        r(tls::client_context(&c).map(|_| "ok".into()))
    ));
    out.push(format!(
        "verify-empty-chain={}",
        r(
            tls::verify_server_chain(&anchors(f, "ca")?, &[], "localhost", None)
                .map(|_| "ok".into())
        )
    ));
    out.push(format!(
        "verify-at-max-time={}",
        r(tls::verify_server_chain(
            &anchors(f, "ca")?,
            &[fx(f, "server.chain")?.to_vec()],
            "localhost",
            Some(u64::MAX)
        )
        .map(|_| "ok".into()))
    ));
    Ok(out.join(" "))
}

pub(crate) fn context_dropped_first(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let client = cc.connect("localhost").map_err(err)?;
    let server = sc.accept().map_err(err)?;
    drop(cc);
    drop(sc);
    handshake(&client, &server, u32::MAX).ok()?;
    ensure(
        send(&client, &server, b"still here")? == b"still here",
        || "corrupted".into(),
    )?;
    Ok("connections outlive their contexts".into())
}

/// Where `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The one alert record `bytes` hold, as its description (`None` if they hold
/// anything else).
fn only_alert(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [21, 3, _, 0, 2, 2, description] => Some(*description),
        _ => None,
    }
}

/// X25519MLKEM768 key shares whose bytes are wrong, as a hostile peer sends
/// them, refused with the alert that says why and never a panic:
/// - from a client (its share: group 0x11ec, 1,216 bytes): an encapsulation
///   key with coefficients out of range, an all-zero X25519 half; the server
///   sends illegal_parameter (47);
/// - from a server (its share: 1,120 bytes): an all-zero X25519 half, which
///   the client refuses (illegal_parameter); a corrupted ML-KEM ciphertext,
///   which decapsulates to another secret (ML-KEM's implicit rejection), so
///   the client cannot decrypt what follows and says so (bad_record_mac,
///   under the handshake keys it derived).
pub(crate) fn hostile_hybrid_shares(f: &Fixtures) -> Outcome {
    if !tls::supported_key_exchange_groups()
        .iter()
        .any(|g| g.id == 0x11ec)
    {
        // parity.rs lists this difference, for OpenSSL before 3.5.
        return Ok("no X25519MLKEM768 here: no hybrid share to corrupt".into());
    }
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let mut out = String::new();
    type Corrupt = fn(&mut [u8]);
    let from_client: [(&str, Corrupt); 2] = [
        ("client-key-out-of-range", |share| share[..1184].fill(0xff)),
        ("client-x25519-zero", |share| share[1184..].fill(0)),
    ];
    for (name, corrupt) in from_client {
        let client = cc.connect("localhost").map_err(err)?;
        let mut hello = client.take(u32::MAX);
        let at = find(&hello, &[0x11, 0xec, 0x04, 0xc0])
            .ok_or("the ClientHello carries no X25519MLKEM768 share")?
            + 4;
        corrupt(&mut hello[at..at + 1216]);
        let server = sc.accept().map_err(err)?;
        let refused = server.feed(&hello).and_then(|_| server.handshake()).err();
        let e = refused.ok_or_else(|| format!("{name}: accepted"))?;
        let alert = only_alert(&server.take(u32::MAX));
        ensure(alert == Some(47), || {
            format!("{name}: {} with alert {alert:?}", err(e.clone()))
        })?;
        let _ = write!(out, "{name}={}:47 ", kind(&e));
    }
    // The second alert goes under the handshake keys the client derived
    // (a record of 19 bytes: the alert, its type, AES-GCM's tag), which the
    // server, holding another secret, cannot read either.
    let from_server: [(&str, Corrupt, Option<u8>); 2] = [
        (
            "server-x25519-zero",
            |share| share[1088..].fill(0),
            Some(47),
        ),
        ("server-ciphertext-flipped", |share| share[100] ^= 1, None),
    ];
    for (name, corrupt, expected) in from_server {
        let client = cc.connect("localhost").map_err(err)?;
        let server = sc.accept().map_err(err)?;
        server.feed(&client.take(u32::MAX)).map_err(err)?;
        let _ = server.handshake().map_err(err)?;
        let mut flight = server.take(u32::MAX);
        let at = find(&flight, &[0x11, 0xec, 0x04, 0x60])
            .ok_or("the ServerHello carries no X25519MLKEM768 share")?
            + 4;
        corrupt(&mut flight[at..at + 1120]);
        let refused = client.feed(&flight).and_then(|_| client.handshake()).err();
        let e = refused.ok_or_else(|| format!("{name}: accepted"))?;
        let sent = client.take(u32::MAX);
        // After the middlebox-compatibility ChangeCipherSpec, if any.
        let records = sent.strip_prefix(&[20, 3, 3, 0, 1, 1]).unwrap_or(&sent);
        let alert = match expected {
            Some(_) => only_alert(records).map(|a| a.to_string()),
            None => matches!(records, [23, 3, 3, 0, 19, ..] if records.len() == 24)
                .then(|| "encrypted".to_string()),
        };
        let wanted = expected.map_or_else(|| "encrypted".to_string(), |a| a.to_string());
        ensure(alert.as_deref() == Some(&wanted), || {
            format!(
                "{name}: {} and sent {} bytes ({:?}...)",
                err(e.clone()),
                sent.len(),
                &sent[..sent.len().min(8)]
            )
        })?;
        let _ = write!(out, "{name}={}:{wanted} ", kind(&e));
    }
    Ok(out.trim_end().into())
}

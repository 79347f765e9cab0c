//! The parity suite's test component.
//!
//! It imports `memtls:tls` (whichever provider the harness links) and runs each
//! scenario with a client and a server connection pumping bytes to each other in
//! memory. A scenario checks its own expectations and returns a summary of what
//! it observed; the harness requires the summaries of both providers to be equal.

use std::collections::HashMap;
use std::fmt::Write as _;

mod bench;
mod hostile;

wit_bindgen::generate!({
    world: "memtls:test/scenarios",
    path: ["../../wit", "wit"],
    with: {
        "memtls:tls/tls@0.1.0": memtls_stream::tls,
        "memtls:tls/insecure@0.1.0": memtls_stream::insecure,
    },
});

use exports::memtls::test::runner::Guest;
use memtls_stream::insecure;
use memtls_stream::tls::{
    self, ClientAuth, ClientConfig, ClientContext, Connection, Error, ErrorKind, Progress,
    ProtocolVersion, ReadOutcome, ServerConfig, ServerContext, SigningChain, TrustStore,
    WriteOutcome,
};

struct Runner;

type Fixtures = HashMap<String, Vec<u8>>;
type Outcome = Result<String, String>;

/// A scenario: takes the fixtures, returns its observable summary.
type Scenario = fn(&Fixtures) -> Outcome;

include!("list.rs");

macro_rules! scenario_table {
    ($($function:ident: $name:literal,)*) => {
        const SCENARIOS: &[(&str, Scenario)] = &[$(($name, $function)),*];
    };
}
foreach_scenario!(scenario_table);

impl Guest for Runner {
    fn list_scenarios() -> Vec<String> {
        SCENARIOS.iter().map(|(n, _)| n.to_string()).collect()
    }

    fn list_attacks() -> Vec<String> {
        hostile::ATTACKS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect()
    }

    fn run(name: String, fixtures: Vec<(String, Vec<u8>)>) -> Outcome {
        let fixtures: Fixtures = fixtures.into_iter().collect();
        let (_, f) = SCENARIOS
            .iter()
            .chain(hostile::ATTACKS)
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("no scenario named {name}"))?;
        f(&fixtures)
    }

    fn cycles(fixtures: Vec<(String, Vec<u8>)>, count: u32) -> Result<u32, String> {
        let f: Fixtures = fixtures.into_iter().collect();
        let (mut cc, sc) = contexts(client_config(&f)?, server_config(&f)?)?;
        for i in 0..count {
            // Every other cycle a new client context too: a full handshake, and a
            // context created and dropped; in between, a resumed one.
            if i % 2 == 0 {
                cc = ClientContext::create(&client_config(&f)?).map_err(err)?;
            }
            let (client, server, pair) = connect(&cc, &sc, "localhost")?;
            pair.ok().map_err(|e| format!("cycle {i}: {e}"))?;
            ensure(send(&client, &server, b"ping")? == b"ping", || {
                format!("cycle {i}: corrupted")
            })?;
        }
        Ok(count)
    }

    fn bench(fixtures: Vec<(String, Vec<u8>)>, workload: String) -> Outcome {
        bench::run(&fixtures.into_iter().collect(), &workload)
    }

    fn verify(
        anchors: Vec<Vec<u8>>,
        pinned: Vec<Vec<u8>>,
        chain: Vec<Vec<u8>>,
        server_name: String,
        at_time: Option<u64>,
    ) -> Result<(), String> {
        let trust = TrustStore {
            system: false,
            anchors,
            pinned,
        };
        tls::verify_server_chain(&trust, &chain, &server_name, at_time)
            .map_err(|e| format!("{} {}", kind(&e), e.message))
    }
}

export!(Runner);

// ---- helpers ---------------------------------------------------------------

fn fx<'a>(f: &'a Fixtures, name: &str) -> Result<&'a [u8], String> {
    f.get(name)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("missing fixture {name}"))
}

/// A short, stable name of an error's kind.
fn kind(e: &Error) -> String {
    memtls_stream::kind_name(&e.kind)
}

fn err(e: Error) -> String {
    format!("{}: {}", kind(&e), e.message)
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

fn anchors(f: &Fixtures, name: &str) -> Result<TrustStore, String> {
    Ok(TrustStore {
        system: false,
        anchors: vec![fx(f, name)?.to_vec()],
        pinned: vec![],
    })
}

fn chain(f: &Fixtures, prefix: &str) -> Result<SigningChain, String> {
    Ok(SigningChain {
        certificates: vec![fx(f, &format!("{prefix}.chain"))?.to_vec()],
        private_key: fx(f, &format!("{prefix}.key"))?.to_vec(),
    })
}

fn client_config(f: &Fixtures) -> Result<ClientConfig, String> {
    Ok(ClientConfig {
        trust: anchors(f, "ca")?,
        certificate_chain: None,
        alpn_protocols: vec![],
        min_version: None,
        max_version: None,
        cipher_suites: None,
        send_sni: true,
    })
}

fn server_config(f: &Fixtures) -> Result<ServerConfig, String> {
    Ok(ServerConfig {
        certificate_chains: vec![chain(f, "server")?],
        client_auth: ClientAuth::None,
        alpn_protocols: vec![],
        min_version: None,
        max_version: None,
        cipher_suites: None,
        session_tickets: true,
    })
}

fn contexts(c: ClientConfig, s: ServerConfig) -> Result<(ClientContext, ServerContext), String> {
    Ok((
        ClientContext::create(&c).map_err(err)?,
        ServerContext::create(&s).map_err(err)?,
    ))
}

/// Moves all waiting ciphertext from `from` to `to`, `chunk` bytes per feed.
/// Returns how many bytes moved.
fn transfer(from: &Connection, to: &Connection, chunk: u32) -> Result<usize, Error> {
    let mut moved = 0;
    loop {
        let data = from.take(chunk);
        if data.is_empty() {
            return Ok(moved);
        }
        let mut off = 0;
        while off < data.len() {
            let n = to.feed(&data[off..])? as usize;
            if n == 0 {
                // The receiver's buffers are full: drain its plaintext and retry.
                return Err(Error {
                    kind: ErrorKind::Misuse,
                    message: "receiver accepted nothing".into(),
                });
            }
            off += n;
        }
        moved += data.len();
    }
}

/// Result of driving a handshake between two connections.
struct Pair {
    client: Result<(), Error>,
    server: Result<(), Error>,
}

impl Pair {
    fn ok(self) -> Result<(), String> {
        self.client.map_err(|e| format!("client: {}", err(e)))?;
        self.server.map_err(|e| format!("server: {}", err(e)))
    }

    /// "client=<kind> server=<kind>" with "ok" for success.
    fn outcome(&self) -> String {
        let k = |r: &Result<(), Error>| match r {
            Ok(()) => "ok".to_string(),
            Err(e) => {
                if e.message.is_empty() {
                    "error-without-message".to_string()
                } else {
                    kind(e)
                }
            }
        };
        format!("client={} server={}", k(&self.client), k(&self.server))
    }
}

fn handshake(client: &Connection, server: &Connection, chunk: u32) -> Pair {
    let mut c_res = None;
    let mut s_res = None;
    for _ in 0..100_000 {
        if c_res.is_none() {
            match client.handshake() {
                Ok(Progress::Done) => c_res = Some(Ok(())),
                Ok(_) => {}
                Err(e) => c_res = Some(Err(e)),
            }
        }
        if s_res.is_none() {
            match server.handshake() {
                Ok(Progress::Done) => s_res = Some(Ok(())),
                Ok(_) => {}
                Err(e) => s_res = Some(Err(e)),
            }
        }
        let mut moved = 0;
        match transfer(client, server, chunk) {
            Ok(n) => moved += n,
            Err(e) => {
                s_res.get_or_insert(Err(e));
            }
        }
        match transfer(server, client, chunk) {
            Ok(n) => moved += n,
            Err(e) => {
                c_res.get_or_insert(Err(e));
            }
        }
        if moved == 0 {
            // Nothing moves any more: settle whichever side has no result yet.
            if c_res.is_none() {
                c_res = Some(client.handshake().and_then(|p| settle(p, "client")));
            }
            if s_res.is_none() {
                s_res = Some(server.handshake().and_then(|p| settle(p, "server")));
            }
            break;
        }
    }
    Pair {
        client: c_res.unwrap_or_else(|| Err(stuck("client"))),
        server: s_res.unwrap_or_else(|| Err(stuck("server"))),
    }
}

fn settle(p: Progress, who: &str) -> Result<(), Error> {
    match p {
        Progress::Done => Ok(()),
        _ => Err(stuck(who)),
    }
}

fn stuck(who: &str) -> Error {
    Error {
        kind: ErrorKind::Misuse,
        message: format!("{who} handshake made no progress"),
    }
}

fn connect(
    c: &ClientContext,
    s: &ServerContext,
    name: &str,
) -> Result<(Connection, Connection, Pair), String> {
    let client = c.connect(name).map_err(err)?;
    let server = s.accept().map_err(err)?;
    let pair = handshake(&client, &server, u32::MAX);
    Ok((client, server, pair))
}

fn version_name(v: Option<ProtocolVersion>) -> &'static str {
    match v {
        Some(ProtocolVersion::Tls12) => "tls12",
        Some(ProtocolVersion::Tls13) => "tls13",
        None => "none",
    }
}

fn alpn_name(a: Option<Vec<u8>>) -> String {
    a.map_or_else(
        || "none".into(),
        |p| String::from_utf8_lossy(&p).into_owned(),
    )
}

/// Sends `data` from `from` to `to` and returns what `to` read.
fn send(from: &Connection, to: &Connection, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(data.len());
    let mut off = 0;
    let mut idle = 0;
    while out.len() < data.len() {
        let mut progressed = false;
        if off < data.len() {
            // Pass bounded pieces: every call copies its argument across the
            // component boundary, whatever the connection accepts.
            let piece = &data[off..data.len().min(off + 64 * 1024)];
            match from.write(piece).map_err(err)? {
                WriteOutcome::Written(n) => {
                    off += n as usize;
                    progressed |= n > 0;
                }
                WriteOutcome::WantWrite | WriteOutcome::WantRead => {}
            }
        }
        // Move ciphertext in bounded pieces, reading plaintext as it arrives so
        // the receiver's buffers never fill.
        loop {
            let chunk = from.take(16 * 1024 + 64);
            if chunk.is_empty() {
                break;
            }
            let mut c_off = 0;
            while c_off < chunk.len() {
                let n = to.feed(&chunk[c_off..]).map_err(err)? as usize;
                c_off += n;
                progressed |= n > 0;
                drain(to, &mut out)?;
            }
        }
        drain(to, &mut out)?;
        if progressed {
            idle = 0;
        } else {
            idle += 1;
            if idle > 3 {
                return Err(format!(
                    "transfer stalled at {} of {}",
                    out.len(),
                    data.len()
                ));
            }
        }
    }
    Ok(out)
}

fn drain(conn: &Connection, out: &mut Vec<u8>) -> Result<(), String> {
    loop {
        match conn.read(64 * 1024).map_err(err)? {
            ReadOutcome::Data(d) => out.extend_from_slice(&d),
            ReadOutcome::WantRead | ReadOutcome::WantWrite => return Ok(()),
        }
    }
}

fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn sorted_versions_summary(client: &Connection, server: &Connection) -> Result<String, String> {
    let cv = version_name(client.protocol_version());
    let sv = version_name(server.protocol_version());
    ensure(cv == sv, || {
        format!("versions differ: client {cv}, server {sv}")
    })?;
    Ok(cv.to_string())
}

// ---- scenarios --------------------------------------------------------------

fn introspection(_: &Fixtures) -> Outcome {
    let info = tls::implementation();
    ensure(!info.name.is_empty() && !info.version.is_empty(), || {
        "implementation info is empty".into()
    })?;
    let versions: Vec<_> = tls::supported_versions()
        .into_iter()
        .map(|v| version_name(Some(v)))
        .collect();
    let mut suites: Vec<_> = tls::supported_cipher_suites()
        .into_iter()
        .map(|s| format!("{:04x}:{}", s.id, s.name))
        .collect();
    suites.sort();
    Ok(format!("versions={versions:?} suites={suites:?}"))
}

fn handshake_with(f: &Fixtures, v: ProtocolVersion) -> Outcome {
    let mut c = client_config(f)?;
    c.min_version = Some(v);
    c.max_version = Some(v);
    let (cc, sc) = contexts(c, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let version = sorted_versions_summary(&client, &server)?;
    ensure(
        client.is_handshake_complete() && server.is_handshake_complete(),
        || "handshake not complete".into(),
    )?;
    let cs = client.cipher_suite().ok_or("client has no cipher suite")?;
    let ss = server.cipher_suite().ok_or("server has no cipher suite")?;
    ensure(cs.id == ss.id, || {
        format!("suites differ: {cs:?} vs {ss:?}")
    })?;
    let peer = client.peer_certificates();
    ensure(peer.len() == 1, || {
        format!("client saw {} peer certificates", peer.len())
    })?;
    // The path runs from the leaf the server sent to the CA it did not send.
    let verified = client.verified_chain();
    ensure(verified.len() == 2 && verified[0] == peer[0], || {
        format!("client verified a path of {} certificates", verified.len())
    })?;
    ensure(server.peer_certificates().is_empty(), || {
        "server saw a client certificate".into()
    })?;
    let echoed = send(&client, &server, b"ping")?;
    ensure(echoed == b"ping", || "payload corrupted".into())?;
    Ok(format!(
        "version={version} sni={:?} client-name={:?} resumed={} alpn={}",
        server.server_name(),
        client.server_name(),
        client.resumed(),
        alpn_name(client.alpn_protocol())
    ))
}

fn tls13_handshake(f: &Fixtures) -> Outcome {
    handshake_with(f, ProtocolVersion::Tls13)
}

fn tls12_handshake(f: &Fixtures) -> Outcome {
    handshake_with(f, ProtocolVersion::Tls12)
}

fn every_cipher_suite(f: &Fixtures) -> Outcome {
    let mut suites = tls::supported_cipher_suites();
    suites.sort_by_key(|s| s.id);
    let mut out = String::new();
    for suite in suites {
        let tls13 = suite.id >> 8 == 0x13;
        let version = if tls13 {
            ProtocolVersion::Tls13
        } else {
            ProtocolVersion::Tls12
        };
        // TLS 1.2 suites name the certificate's key type.
        let server_chain = if !tls13 && suite.name.contains("_RSA_") {
            "rsa"
        } else {
            "server"
        };
        let mut c = client_config(f)?;
        c.cipher_suites = Some(vec![suite.id]);
        c.min_version = Some(version);
        c.max_version = Some(version);
        let mut s = server_config(f)?;
        s.certificate_chains = vec![chain(f, server_chain)?];
        s.cipher_suites = Some(vec![suite.id]);
        let (cc, sc) = contexts(c, s)?;
        let (client, server, pair) = connect(&cc, &sc, "localhost")?;
        pair.ok().map_err(|e| format!("{}: {e}", suite.name))?;
        let got = client.cipher_suite().ok_or("no suite")?;
        ensure(
            got.id == suite.id && server.cipher_suite().map(|s| s.id) == Some(suite.id),
            || format!("{} negotiated {:?}", suite.name, got),
        )?;
        let data = pattern(100_000);
        ensure(send(&client, &server, &data)? == data, || {
            format!("{}: data corrupted", suite.name)
        })?;
        ensure(send(&server, &client, &data)? == data, || {
            format!("{}: data corrupted", suite.name)
        })?;
        let _ = write!(
            out,
            "{:04x}/{}/{} ",
            suite.id,
            got.name,
            version_name(client.protocol_version())
        );
    }
    Ok(out.trim_end().to_string())
}

fn alpn_match(f: &Fixtures) -> Outcome {
    let mut c = client_config(f)?;
    c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut s = server_config(f)?;
    s.alpn_protocols = vec![b"http/1.1".to_vec(), b"h2".to_vec()];
    let (cc, sc) = contexts(c, s)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let (ca, sa) = (
        alpn_name(client.alpn_protocol()),
        alpn_name(server.alpn_protocol()),
    );
    ensure(ca == sa, || format!("ALPN differs: {ca} vs {sa}"))?;
    Ok(format!("alpn={ca}"))
}

fn alpn_no_overlap(f: &Fixtures) -> Outcome {
    let mut c = client_config(f)?;
    c.alpn_protocols = vec![b"h2".to_vec()];
    let mut s = server_config(f)?;
    s.alpn_protocols = vec![b"imap".to_vec()];
    let (cc, sc) = contexts(c, s)?;
    let (_c, _s, pair) = connect(&cc, &sc, "localhost")?;
    let out = pair.outcome();
    ensure(
        out == "client=alert-received(120) server=alert-sent(120)",
        || out.clone(),
    )?;
    Ok(out)
}

fn sni_chooses_chain(f: &Fixtures) -> Outcome {
    let mut s = server_config(f)?;
    s.certificate_chains = vec![chain(f, "server")?, chain(f, "b")?];
    let (cc, sc) = contexts(client_config(f)?, s)?;
    let mut out = String::new();
    for name in ["localhost", "b.test"] {
        let (client, server, pair) = connect(&cc, &sc, name)?;
        pair.ok().map_err(|e| format!("{name}: {e}"))?;
        ensure(server.server_name().as_deref() == Some(name), || {
            format!("server saw SNI {:?}", server.server_name())
        })?;
        let leaf = client
            .peer_certificates()
            .into_iter()
            .next()
            .ok_or("no peer cert")?;
        let expected = fx(
            f,
            if name == "b.test" {
                "b.der"
            } else {
                "server.der"
            },
        )?;
        ensure(leaf == expected, || {
            format!("{name}: wrong certificate presented")
        })?;
        let _ = write!(out, "{name}:ok ");
    }
    Ok(out.trim_end().into())
}

fn mtls(f: &Fixtures, required: bool, present: bool) -> Outcome {
    let mut c = client_config(f)?;
    if present {
        c.certificate_chain = Some(chain(f, "client")?);
    }
    let mut s = server_config(f)?;
    let trust = anchors(f, "client-ca")?;
    s.client_auth = if required {
        ClientAuth::Required(trust)
    } else {
        ClientAuth::Optional(trust)
    };
    let (cc, sc) = contexts(c, s)?;
    let (client, server, mut pair) = connect(&cc, &sc, "localhost")?;
    if pair.client.is_ok() {
        // In TLS 1.3 the client finishes before the server has checked its
        // certificate: a rejection arrives with the client's first read.
        if let Err(e) = transfer(&server, &client, u32::MAX) {
            pair.client = Err(e);
        } else if let Err(e) = client.read(1) {
            pair.client = Err(e);
        }
    }
    let peer = server.peer_certificates().len();
    // The client's leaf and the client CA, which the client did not send.
    let verified = server.verified_chain().len();
    Ok(format!(
        "{} server-saw-certs={peer} server-verified={verified}",
        pair.outcome()
    ))
}

fn mtls_required(f: &Fixtures) -> Outcome {
    let out = mtls(f, true, true)?;
    ensure(
        out == "client=ok server=ok server-saw-certs=1 server-verified=2",
        || out.clone(),
    )?;
    Ok(out)
}

fn mtls_required_missing(f: &Fixtures) -> Outcome {
    let out = mtls(f, true, false)?;
    ensure(
        out.contains("server=certificate-rejected(no-certificate)"),
        || out.clone(),
    )?;
    ensure(out.contains("client=alert-received("), || out.clone())?;
    Ok(out)
}

fn mtls_optional(f: &Fixtures) -> Outcome {
    let out = mtls(f, false, true)?;
    ensure(
        out == "client=ok server=ok server-saw-certs=1 server-verified=2",
        || out.clone(),
    )?;
    Ok(out)
}

fn mtls_optional_missing(f: &Fixtures) -> Outcome {
    let out = mtls(f, false, false)?;
    ensure(
        out == "client=ok server=ok server-saw-certs=0 server-verified=0",
        || out.clone(),
    )?;
    Ok(out)
}

fn pinned(f: &Fixtures, name: &str) -> Result<Pair, String> {
    let mut c = client_config(f)?;
    c.trust = TrustStore {
        system: false,
        anchors: vec![],
        pinned: vec![fx(f, "self.chain")?.to_vec()],
    };
    let mut s = server_config(f)?;
    s.certificate_chains = vec![chain(f, "self")?];
    let (cc, sc) = contexts(c, s)?;
    Ok(connect(&cc, &sc, name)?.2)
}

fn pinned_self_signed(f: &Fixtures) -> Outcome {
    let out = pinned(f, "pinned.test")?.outcome();
    ensure(out == "client=ok server=ok", || out.clone())?;
    Ok(out)
}

fn pinned_wrong_name(f: &Fixtures) -> Outcome {
    let out = pinned(f, "other.test")?.outcome();
    ensure(
        out == "client=certificate-rejected(name-mismatch) server=alert-received(42)",
        || out.clone(),
    )?;
    Ok(out)
}

fn rejected(f: &Fixtures, server_chain: &str, name: &str, expect: &str) -> Outcome {
    let mut s = server_config(f)?;
    s.certificate_chains = vec![chain(f, server_chain)?];
    let (cc, sc) = contexts(client_config(f)?, s)?;
    let (_c, _s, pair) = connect(&cc, &sc, name)?;
    let out = pair.outcome();
    ensure(
        out.starts_with(&format!("client=certificate-rejected({expect})")),
        || out.clone(),
    )?;
    ensure(out.contains("server=alert-received("), || out.clone())?;
    let message = pair.client.err().map(|e| e.message).unwrap_or_default();
    ensure(!message.is_empty(), || "rejection without a message".into())?;
    Ok(out)
}

fn expired(f: &Fixtures) -> Outcome {
    rejected(f, "expired", "localhost", "expired")
}

fn not_yet_valid(f: &Fixtures) -> Outcome {
    rejected(f, "notyet", "localhost", "not-yet-valid")
}

fn wrong_name(f: &Fixtures) -> Outcome {
    rejected(f, "server", "wrong.test", "name-mismatch")
}

fn unknown_issuer(f: &Fixtures) -> Outcome {
    rejected(f, "unknown", "localhost", "unknown-issuer")
}

fn version_mismatch(f: &Fixtures) -> Outcome {
    let mut c = client_config(f)?;
    c.max_version = Some(ProtocolVersion::Tls12);
    let mut s = server_config(f)?;
    s.min_version = Some(ProtocolVersion::Tls13);
    let (cc, sc) = contexts(c, s)?;
    let (_c, _s, pair) = connect(&cc, &sc, "localhost")?;
    let out = pair.outcome();
    ensure(
        out == "client=alert-received(70) server=alert-sent(70)",
        || out.clone(),
    )?;
    Ok(out)
}

fn transfer_16mib(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let data = pattern(16 << 20);
    let got = send(&client, &server, &data)?;
    ensure(got.len() == data.len(), || {
        format!("received {} bytes", got.len())
    })?;
    let first_diff = got.iter().zip(&data).position(|(a, b)| a != b);
    ensure(first_diff.is_none(), || {
        format!("byte {first_diff:?} differs")
    })?;
    let back = send(&server, &client, &data[..1 << 20])?;
    ensure(back == data[..1 << 20], || {
        "reverse direction corrupted".into()
    })?;
    Ok(format!(
        "client->server={} server->client={} identical",
        got.len(),
        back.len()
    ))
}

fn byte_at_a_time(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let client = cc.connect("localhost").map_err(err)?;
    let server = sc.accept().map_err(err)?;
    handshake(&client, &server, 1).ok()?;
    client.write(b"one byte at a time").map_err(err)?;
    let mut got = Vec::new();
    loop {
        let b = client.take(1);
        if b.is_empty() {
            break;
        }
        ensure(server.feed(&b).map_err(err)? == 1, || {
            "a single byte was not accepted".into()
        })?;
        drain(&server, &mut got)?;
    }
    ensure(got == b"one byte at a time", || format!("got {got:?}"))?;
    Ok(format!(
        "version={}",
        version_name(client.protocol_version())
    ))
}

fn close_notify(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    send(&client, &server, b"last words")?;
    let first = client.shutdown().map_err(err)?;
    ensure(first == Progress::WantWrite, || {
        format!("first shutdown gave {first:?}")
    })?;
    transfer(&client, &server, u32::MAX).map_err(err)?;
    let again = client.shutdown().map_err(err)?;
    ensure(again == Progress::WantRead, || {
        format!("shutdown before peer's gave {again:?}")
    })?;
    let read = server.read(100).err().map(|e| kind(&e));
    ensure(read.as_deref() == Some("closed"), || {
        format!("server read gave {read:?}")
    })?;
    ensure(server.peer_closed(), || {
        "server did not see close_notify".into()
    })?;
    server.shutdown().map_err(err)?;
    transfer(&server, &client, u32::MAX).map_err(err)?;
    let done = client.shutdown().map_err(err)?;
    ensure(done == Progress::Done, || {
        format!("final shutdown gave {done:?}")
    })?;
    let server_done = server.shutdown().map_err(err)?;
    Ok(format!(
        "first={first:?} second={again:?} server-read={} final={done:?} server-final={server_done:?}",
        read.unwrap_or_default()
    ))
}

fn ragged_eof(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    send(&client, &server, b"truncated?")?;
    server.eof().map_err(err)?;
    let read = server.read(100).err().map(|e| kind(&e));
    ensure(read.as_deref() == Some("ragged-eof"), || {
        format!("read after eof gave {read:?}")
    })?;
    // A handshake cut short by the transport is a ragged EOF too.
    let c2 = cc.connect("localhost").map_err(err)?;
    let s2 = sc.accept().map_err(err)?;
    transfer(&c2, &s2, u32::MAX).map_err(err)?;
    c2.eof().map_err(err)?;
    let hs = c2.handshake().err().map(|e| kind(&e));
    ensure(hs.as_deref() == Some("ragged-eof"), || {
        format!("handshake after eof gave {hs:?}")
    })?;
    Ok(format!(
        "read={} handshake={}",
        read.unwrap_or_default(),
        hs.unwrap_or_default()
    ))
}

fn resumption(f: &Fixtures, v: ProtocolVersion, tickets: bool) -> Outcome {
    let mut c = client_config(f)?;
    c.min_version = Some(v);
    c.max_version = Some(v);
    let mut s = server_config(f)?;
    s.session_tickets = tickets;
    let (cc, sc) = contexts(c, s)?;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (client, server, pair) = connect(&cc, &sc, "localhost")?;
        pair.ok()?;
        // TLS 1.3 tickets arrive after the handshake: let the client read them.
        send(&server, &client, b"x")?;
        ensure(client.resumed() == server.resumed(), || {
            "sides disagree on resumption".into()
        })?;
        seen.push(client.resumed());
    }
    ensure(seen == [false, true], || format!("resumed flags {seen:?}"))?;
    Ok(format!("first={} second={}", seen[0], seen[1]))
}

fn resumption_tls13(f: &Fixtures) -> Outcome {
    Ok(format!(
        "tickets: {}; stateful: {}",
        resumption(f, ProtocolVersion::Tls13, true)?,
        resumption(f, ProtocolVersion::Tls13, false)?
    ))
}

fn resumption_tls12(f: &Fixtures) -> Outcome {
    Ok(format!(
        "tickets: {}; session-ids: {}",
        resumption(f, ProtocolVersion::Tls12, true)?,
        resumption(f, ProtocolVersion::Tls12, false)?
    ))
}

fn exporter(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let client = cc.connect("localhost").map_err(err)?;
    let server = sc.accept().map_err(err)?;
    let early = client
        .export_keying_material(b"EXPORTER-test", None, 32)
        .err()
        .map(|e| kind(&e));
    ensure(early.as_deref() == Some("misuse"), || {
        format!("export before handshake: {early:?}")
    })?;
    handshake(&client, &server, u32::MAX).ok()?;
    let a = client
        .export_keying_material(b"EXPORTER-test", Some(b"ctx"), 32)
        .map_err(err)?;
    let b = server
        .export_keying_material(b"EXPORTER-test", Some(b"ctx"), 32)
        .map_err(err)?;
    ensure(a == b, || "exporter outputs differ".into())?;
    let other = client
        .export_keying_material(b"EXPORTER-other", Some(b"ctx"), 32)
        .map_err(err)?;
    ensure(a != other, || {
        "different labels gave the same output".into()
    })?;
    let too_long = client
        .export_keying_material(b"x", None, 1 << 20)
        .err()
        .map(|e| kind(&e));
    Ok(format!(
        "len={} equal=true too-long={}",
        a.len(),
        too_long.unwrap_or_default()
    ))
}

fn key_update(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    client.request_key_update().map_err(err)?;
    ensure(
        send(&client, &server, b"after update")? == b"after update",
        || "corrupted".into(),
    )?;
    server.request_key_update().map_err(err)?;
    ensure(send(&server, &client, b"reply")? == b"reply", || {
        "corrupted".into()
    })?;
    let mut c12 = client_config(f)?;
    c12.max_version = Some(ProtocolVersion::Tls12);
    let (cc, sc) = contexts(c12, server_config(f)?)?;
    let (client, _server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let on12 = client.request_key_update().err().map(|e| kind(&e));
    Ok(format!("tls13=ok tls12={}", on12.unwrap_or_default()))
}

fn misuse(f: &Fixtures) -> Outcome {
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

fn garbage_from_peer(f: &Fixtures) -> Outcome {
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

fn config_errors(f: &Fixtures) -> Outcome {
    let good_c = client_config(f)?;
    let good_s = server_config(f)?;
    let mut cases: Vec<(&str, Result<(), Error>, &str)> = Vec::new();
    let c = |cfg: ClientConfig| ClientContext::create(&cfg).map(|_| ());
    let s = |cfg: ServerConfig| ServerContext::create(&cfg).map(|_| ());

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
    });
    cases.push(("client-key-mismatch", c(x), "does not match"));
    let mut x = good_s.clone();
    x.certificate_chains = vec![];
    cases.push(("no-chains", s(x), "empty"));
    let mut x = good_s.clone();
    x.certificate_chains = vec![SigningChain {
        certificates: vec![],
        private_key: fx(f, "server.key")?.to_vec(),
    }];
    cases.push(("empty-chain", s(x), "empty"));
    let mut x = good_s.clone();
    x.certificate_chains = vec![SigningChain {
        certificates: vec![fx(f, "server.chain")?.to_vec()],
        private_key: fx(f, "b.key")?.to_vec(),
    }];
    cases.push(("key-mismatch", s(x), "does not match"));
    let mut x = good_s.clone();
    x.certificate_chains = vec![SigningChain {
        certificates: vec![fx(f, "server.chain")?.to_vec()],
        private_key: b"-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n".to_vec(),
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

fn cc_connect_bad_name(f: &Fixtures) -> Result<Result<(), Error>, String> {
    let cc = ClientContext::create(&client_config(f)?).map_err(err)?;
    Ok(cc.connect("not a host name!").map(|_| ()))
}

fn key_formats(f: &Fixtures) -> Outcome {
    let mut out = String::new();
    for (cert, key) in [
        ("server.chain", "server.key"),
        ("server.chain", "server.key.pkcs8.der"),
        ("server.chain", "server.key.sec1.pem"),
        ("server.chain", "server.key.sec1.der"),
        ("rsa.chain", "rsa.key.pkcs1.pem"),
        ("rsa.chain", "rsa.key.pkcs1.der"),
        ("server.der", "server.key"),
    ] {
        let mut s = server_config(f)?;
        s.certificate_chains = vec![SigningChain {
            certificates: vec![fx(f, cert)?.to_vec()],
            private_key: fx(f, key)?.to_vec(),
        }];
        let (cc, sc) = contexts(client_config(f)?, s).map_err(|e| format!("{key}: {e}"))?;
        connect(&cc, &sc, "localhost")?
            .2
            .ok()
            .map_err(|e| format!("{key}: {e}"))?;
        let _ = write!(out, "{key}:ok ");
    }
    Ok(out.trim_end().into())
}

fn insecure_contexts(f: &Fixtures) -> Outcome {
    let mut s = server_config(f)?;
    s.certificate_chains = vec![chain(f, "unknown")?];
    let sc = ServerContext::create(&s).map_err(err)?;
    let c = client_config(f)?;
    let no_verify = insecure::client_context_without_verification(&c).map_err(err)?;
    let (_c, _s, pair) = connect(&no_verify, &sc, "whatever.test")?;
    let unverified = pair.outcome();
    let no_name = insecure::client_context_without_hostname_check(&c).map_err(err)?;
    let sc_good = ServerContext::create(&server_config(f)?).map_err(err)?;
    let wrong = connect(&no_name, &sc_good, "wrong.test")?.2.outcome();
    let unknown = connect(&no_name, &sc, "localhost")?.2.outcome();
    ensure(unverified == "client=ok server=ok", || unverified.clone())?;
    ensure(wrong == "client=ok server=ok", || wrong.clone())?;
    ensure(
        unknown.starts_with("client=certificate-rejected(unknown-issuer)"),
        || unknown.clone(),
    )?;
    Ok(format!(
        "no-verification[{unverified}] no-hostname-wrong-name[{wrong}] no-hostname-unknown-issuer[{unknown}]"
    ))
}

fn bounded_buffers(f: &Fixtures) -> Outcome {
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
fn flood(conn: &Connection, chunk: &[u8], limit: u64) -> (u64, String) {
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

const GIB: u64 = 1 << 30;

fn hostile_garbage_flood(f: &Fixtures) -> Outcome {
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
        let (fed, outcome) = flood(&server, &chunk, GIB);
        ensure(outcome != "accepted-all" && outcome != "stalled", || {
            format!("{what}: {fed} bytes fed, {outcome}")
        })?;
        ensure(fed < 1 << 20, || {
            format!("{what}: {fed} bytes accepted before the error")
        })?;
        let _ = write!(out, "{what}:{outcome} ");
    }
    Ok(out.trim_end().into())
}

fn hostile_endless_handshake_message(f: &Fixtures) -> Outcome {
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
    let (fed, outcome) = flood(&server, &record.repeat(4), GIB);
    ensure(outcome != "accepted-all" && outcome != "stalled", || {
        format!("{fed} bytes, {outcome}")
    })?;
    ensure(fed < 1 << 20, || {
        format!("{fed} bytes accepted before the error")
    })?;
    Ok(format!(
        "first-record={start} then {outcome} after {} KiB",
        fed / 1024
    ))
}

fn hostile_stalled_handshake(f: &Fixtures) -> Outcome {
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

fn argument_extremes(f: &Fixtures) -> Outcome {
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
        r(ClientContext::create(&c).map(|_| "ok".into()))
    ));
    c.alpn_protocols = vec![vec![b'a'; 256]];
    out.push(format!(
        "alpn-256={}",
        r(ClientContext::create(&c).map(|_| "ok".into()))
    ));
    let mut c = client_config(f)?;
    c.cipher_suites = Some(vec![0x1301; 10_000]);
    out.push(format!(
        "suites-10k-dup={}",
        r(ClientContext::create(&c).map(|_| "ok".into()))
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

fn context_dropped_first(f: &Fixtures) -> Outcome {
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

//! What the scenarios share: fixtures, configurations, pumping bytes between two
//! connections in memory, and short stable names for what was observed.

pub use crate::tls::{
    self, ClientAuth, ClientConfig, ClientContext, Connection, Error, ErrorKind, Progress,
    ProtocolVersion, ReadOutcome, ServerConfig, ServerContext, Session, SigningChain, TrustStore,
    WriteOutcome,
};
pub use crate::{Fixtures, Outcome};

/// The fixture `name`, or an error naming it.
pub fn fx<'a>(f: &'a Fixtures, name: &str) -> Result<&'a [u8], String> {
    f.get(name)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("missing fixture {name}"))
}

/// A short, stable name of an error's kind.
pub fn kind(e: &Error) -> String {
    e.kind.to_string()
}

/// An error as `kind: message`.
pub fn err(e: Error) -> String {
    format!("{}: {}", kind(&e), e.message)
}

/// `Ok` when `cond` holds, otherwise the failure `what` describes.
pub fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

/// The scenario's summary `out` when it is `expected`; otherwise the failure
/// shows both.
pub fn exactly(out: String, expected: &str) -> crate::Outcome {
    ensure(out == expected, || format!("{out} (expected {expected})"))?;
    Ok(out)
}

/// A trust store of the fixture certificate `name` alone.
pub fn anchors(f: &Fixtures, name: &str) -> Result<TrustStore, String> {
    Ok(TrustStore {
        system: false,
        anchors: vec![fx(f, name)?.to_vec()],
        pinned: vec![],
    })
}

/// The signing chain of fixtures `<prefix>.chain` and `<prefix>.key`.
pub fn chain(f: &Fixtures, prefix: &str) -> Result<SigningChain, String> {
    Ok(SigningChain {
        certificates: vec![fx(f, &format!("{prefix}.chain"))?.to_vec()],
        private_key: fx(f, &format!("{prefix}.key"))?.to_vec(),
        private_key_password: None,
        host_identity: None,
    })
}

/// A client trusting the test CA, sending SNI.
pub fn client_config(f: &Fixtures) -> Result<ClientConfig, String> {
    Ok(ClientConfig {
        trust: anchors(f, "ca")?,
        certificate_chain: None,
        alpn_protocols: vec![],
        min_version: None,
        max_version: None,
        cipher_suites: None,
        key_exchange_groups: None,
        send_sni: true,
    })
}

/// A server with the `server` chain, issuing tickets.
pub fn server_config(f: &Fixtures) -> Result<ServerConfig, String> {
    Ok(ServerConfig {
        certificate_chains: vec![chain(f, "server")?],
        client_auth: ClientAuth::None,
        alpn_protocols: vec![],
        min_version: None,
        max_version: None,
        cipher_suites: None,
        key_exchange_groups: None,
        session_tickets: true,
    })
}

/// Client and server contexts of the installed backend.
pub fn contexts(
    c: ClientConfig,
    s: ServerConfig,
) -> Result<(ClientContext, ServerContext), String> {
    Ok((
        tls::client_context(&c).map_err(err)?,
        tls::server_context(&s).map_err(err)?,
    ))
}

/// Moves all waiting ciphertext from `from` to `to`, `chunk` bytes per feed.
/// Returns how many bytes moved.
pub fn transfer(from: &Connection, to: &Connection, chunk: u32) -> Result<usize, Error> {
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
pub struct Pair {
    /// The client's result.
    pub client: Result<(), Error>,
    /// The server's result.
    pub server: Result<(), Error>,
}

impl Pair {
    /// Both sides succeeded, or the first failure.
    pub fn ok(self) -> Result<(), String> {
        self.client.map_err(|e| format!("client: {}", err(e)))?;
        self.server.map_err(|e| format!("server: {}", err(e)))
    }

    /// "client=<kind> server=<kind>" with "ok" for success.
    pub fn outcome(&self) -> String {
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

/// Drives both handshakes to their end, moving `chunk` bytes per feed.
pub fn handshake(client: &Connection, server: &Connection, chunk: u32) -> Pair {
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

/// The handshake's final progress as a result.
pub fn settle(p: Progress, who: &str) -> Result<(), Error> {
    match p {
        Progress::Done => Ok(()),
        _ => Err(stuck(who)),
    }
}

/// The error of a side whose handshake stopped moving.
pub fn stuck(who: &str) -> Error {
    Error {
        kind: ErrorKind::Misuse,
        message: format!("{who} handshake made no progress"),
    }
}

/// A connected pair: `c` connects to `name`, `s` accepts, the handshake runs.
pub fn connect(
    c: &ClientContext,
    s: &ServerContext,
    name: &str,
) -> Result<(Connection, Connection, Pair), String> {
    let client = c.connect(name).map_err(err)?;
    let server = s.accept().map_err(err)?;
    let pair = handshake(&client, &server, u32::MAX);
    Ok((client, server, pair))
}

/// A version's short name (`tls13`, `tls12`, `none`).
pub fn version_name(v: Option<ProtocolVersion>) -> &'static str {
    match v {
        Some(ProtocolVersion::Tls12) => "tls12",
        Some(ProtocolVersion::Tls13) => "tls13",
        None => "none",
    }
}

/// An ALPN protocol as text (`none` without one).
pub fn alpn_name(a: Option<Vec<u8>>) -> String {
    a.map_or_else(
        || "none".into(),
        |p| String::from_utf8_lossy(&p).into_owned(),
    )
}

/// Sends `data` from `from` to `to` and returns what `to` read.
pub fn send(from: &Connection, to: &Connection, data: &[u8]) -> Result<Vec<u8>, String> {
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

/// Reads all plaintext `conn` has into `out`.
pub fn drain(conn: &Connection, out: &mut Vec<u8>) -> Result<(), String> {
    loop {
        match conn.read(64 * 1024).map_err(err)? {
            ReadOutcome::Data(d) => out.extend_from_slice(&d),
            ReadOutcome::WantRead | ReadOutcome::WantWrite => return Ok(()),
        }
    }
}

/// `len` bytes of a fixed pseudo-random pattern.
pub fn pattern(len: usize) -> Vec<u8> {
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

/// Both sides' version, which must agree.
pub fn sorted_versions_summary(client: &Connection, server: &Connection) -> Result<String, String> {
    let cv = version_name(client.protocol_version());
    let sv = version_name(server.protocol_version());
    ensure(cv == sv, || {
        format!("versions differ: client {cv}, server {sv}")
    })?;
    Ok(cv.to_string())
}

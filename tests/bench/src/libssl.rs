//! The openssl provider's baseline: the same in-memory workloads on the
//! system's libssl used directly (the `openssl` crate over an in-memory pipe),
//! as [`super::DirectRustls`] is rustls's.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Instant;

use openssl::pkey::PKey;
use openssl::ssl::{
    ErrorCode, ShutdownState, Ssl, SslContext, SslMethod, SslSession, SslSessionCacheMode,
    SslStream, SslVerifyMode, SslVersion,
};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use wasmtime::{Result, bail, format_err};

use super::RECORD;
use crate::Fixtures;

/// One direction of an in-memory transport.
type Pipe = Rc<RefCell<VecDeque<u8>>>;

/// One end of an in-memory transport: reads what the other end wrote.
struct End {
    rx: Pipe,
    tx: Pipe,
}

impl Read for End {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut rx = self.rx.borrow_mut();
        if rx.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        rx.read(buf)
    }
}

impl Write for End {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.tx.borrow_mut().extend(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The two ends of a fresh transport.
fn transport() -> (End, End) {
    let (a, b) = (Pipe::default(), Pipe::default());
    (
        End {
            rx: a.clone(),
            tx: b.clone(),
        },
        End { rx: b, tx: a },
    )
}

type Stream = SslStream<End>;

thread_local! {
    /// The newest session a client connection received.
    static NEWEST: RefCell<Option<SslSession>> = const { RefCell::new(None) };
}

/// libssl with the bench's fixtures.
pub(super) struct Libssl {
    cas: HashMap<String, Vec<X509>>,
    chains: HashMap<String, (Vec<X509>, PKey<openssl::pkey::Private>)>,
}

impl Libssl {
    pub(super) fn new(f: &Fixtures) -> Result<Self> {
        let mut cas = HashMap::new();
        for ca in ["ca", "ed-ca"] {
            cas.insert(ca.to_string(), X509::stack_from_pem(&f.0[ca])?);
        }
        let mut chains = HashMap::new();
        for name in ["server", "ed25519-all", "rsa"] {
            let certs = X509::stack_from_pem(&f.0[&format!("{name}.chain")])?;
            // The provider's reader: OpenSSL 3.0 reads no PKCS#8 v2 Ed25519
            // key (the fixtures' are ring's).
            let key = memtls_openssl::private_key(&f.0[&format!("{name}.key")], None, name)?;
            chains.insert(name.to_string(), (certs, key));
        }
        Ok(Self { cas, chains })
    }

    /// A client context trusting `ca`, with `suite` only when given.
    fn client(&self, ca: &str, suite: Option<u16>) -> Result<SslContext> {
        let mut b = SslContext::builder(SslMethod::tls_client())?;
        let mut store = X509StoreBuilder::new()?;
        for c in &self.cas[ca] {
            store.add_cert(c.clone())?;
        }
        b.set_verify_cert_store(store.build())?;
        b.set_verify(SslVerifyMode::PEER);
        // TLS 1.3 sessions come with the tickets, after the handshake: OpenSSL
        // hands them to this callback (the connection's own session is not
        // the resumable one).
        b.set_session_cache_mode(SslSessionCacheMode::CLIENT);
        b.set_new_session_callback(|_, session| NEWEST.with(|n| *n.borrow_mut() = Some(session)));
        restrict(&mut b, suite)?;
        Ok(b.build())
    }

    /// A server context for the fixture chain `chain`.
    fn server(&self, chain: &str, suite: Option<u16>) -> Result<SslContext> {
        let (certs, key) = &self.chains[chain];
        let mut b = SslContext::builder(SslMethod::tls_server())?;
        b.set_certificate(&certs[0])?;
        for c in &certs[1..] {
            b.add_extra_chain_cert(c.clone())?;
        }
        b.set_private_key(key)?;
        b.set_session_id_context(b"bench")?;
        restrict(&mut b, suite)?;
        Ok(b.build())
    }

    /// A connected pair, the client offering `session`.
    fn pair(
        client: &SslContext,
        server: &SslContext,
        session: Option<&SslSession>,
    ) -> Result<(Stream, Stream)> {
        let (c_end, s_end) = transport();
        let mut c = Ssl::new(client)?;
        c.set_hostname("localhost")?;
        c.param_mut().set_host("localhost")?;
        if let Some(session) = session {
            // SAFETY: the session came from a connection of this client context.
            unsafe { c.set_session(session)? };
        }
        let mut c = SslStream::new(c, c_end)?;
        let mut s = SslStream::new(Ssl::new(server)?, s_end)?;
        let (mut c_done, mut s_done) = (false, false);
        for _ in 0..100 {
            c_done = c_done || progressed(c.connect())?;
            s_done = s_done || progressed(s.accept())?;
            if c_done && s_done {
                return Ok((c, s));
            }
        }
        bail!("libssl handshake did not finish")
    }

    pub(super) fn full(&self, chain: &str, ca: &str, n: u32) -> Result<f64> {
        let server = self.server(chain, None)?;
        let start = Instant::now();
        for _ in 0..n {
            // A new client context each time, as the component makes: nothing
            // to resume.
            Self::pair(&self.client(ca, None)?, &server, None)?;
        }
        Ok(start.elapsed().as_nanos() as f64)
    }

    /// A handshake followed by one server byte (which carries the tickets);
    /// returns the pair and the client's newest session.
    fn warm(
        client: &SslContext,
        server: &SslContext,
        session: Option<&SslSession>,
    ) -> Result<(Stream, Stream, SslSession)> {
        let (mut c, mut s) = Self::pair(client, server, session)?;
        s.ssl_write(b"t")?;
        let mut one = [0];
        c.ssl_read(&mut one)?;
        let newest = NEWEST
            .with(|n| n.borrow_mut().take())
            .ok_or_else(|| format_err!("libssl: no session"))?;
        Ok((c, s, newest))
    }

    pub(super) fn resumed(&self, n: u32) -> Result<f64> {
        let (client, server) = (self.client("ca", None)?, self.server("server", None)?);
        let (c, _, mut session) = Self::warm(&client, &server, None)?;
        quietly_closed(c);
        let start = Instant::now();
        for _ in 0..n {
            let (c, _, newest) = Self::warm(&client, &server, Some(&session))?;
            if !c.ssl().session_reused() {
                bail!("libssl: not resumed");
            }
            quietly_closed(c);
            session = newest;
        }
        Ok(start.elapsed().as_nanos() as f64)
    }

    pub(super) fn bulk(&self, suite: u16, records: u32) -> Result<(f64, f64)> {
        let (client, server) = (
            self.client("ca", Some(suite))?,
            self.server("server", Some(suite))?,
        );
        let (mut c, mut s, _) = Self::warm(&client, &server, None)?;
        let plaintext = vec![0x5a_u8; RECORD];
        let mut buf = vec![0; RECORD];
        let (mut encrypt, mut decrypt, mut received) = (0.0, 0.0, 0);
        for _ in 0..records {
            let start = Instant::now();
            c.ssl_write(&plaintext)?;
            encrypt += start.elapsed().as_nanos() as f64;
            let start = Instant::now();
            let mut got = 0;
            while got < RECORD {
                got += s.ssl_read(&mut buf)?;
            }
            decrypt += start.elapsed().as_nanos() as f64;
            received += got;
        }
        if received != RECORD * records as usize {
            bail!("libssl bulk: received {received}");
        }
        Ok((encrypt, decrypt))
    }
}

/// Drops a client connection as closed: freed without that, OpenSSL makes
/// its sessions unresumable (an application closes its connections).
fn quietly_closed(mut c: Stream) {
    c.set_shutdown(ShutdownState::SENT | ShutdownState::RECEIVED);
}

/// Whether a handshake step finished (waiting for the peer is not an error).
fn progressed(step: std::result::Result<(), openssl::ssl::Error>) -> Result<bool> {
    match step {
        Ok(()) => Ok(true),
        Err(e) if e.code() == ErrorCode::WANT_READ => Ok(false),
        Err(e) => bail!("libssl handshake: {e}"),
    }
}

/// Restricts a context to one suite (and its version) when given.
fn restrict(b: &mut openssl::ssl::SslContextBuilder, suite: Option<u16>) -> Result<()> {
    let Some(id) = suite else {
        return Ok(());
    };
    let name =
        memtls_openssl::suite_name(id).ok_or_else(|| format_err!("libssl: no suite {id:#06x}"))?;
    if id >> 8 == 0x13 {
        b.set_ciphersuites(name)?;
        b.set_min_proto_version(Some(SslVersion::TLS1_3))?;
    } else {
        b.set_cipher_list(name)?;
        b.set_max_proto_version(Some(SslVersion::TLS1_2))?;
    }
    Ok(())
}

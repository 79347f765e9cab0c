//! The stream layer of memtls: TLS over a byte stream the caller already owns
//! (a `std::net::TcpStream` through wasi:sockets, or a connection upgraded in
//! place with STARTTLS), built on the `memtls:tls` memory channel.
//!
//! [`TlsStream`] implements `Read` and `Write`. It moves ciphertext between the
//! connection and the transport and nothing else; all TLS semantics are the
//! provider's. WIT records have no defaults, so this crate gives the
//! configurations constructors with the sensible ones ([`tls::ClientConfig::new`],
//! [`tls::ServerConfig::new`], [`tls::TrustStore::system`], …): change what you
//! need with struct update syntax.

#![warn(missing_docs)]

use std::cell::Cell;
use std::fmt;
use std::io::{self, Read, Write};

/// Bindings for the `application` world (the generated items carry the WIT docs).
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "memtls:tls/application",
        path: "../wit",
    });
}

pub use bindings::memtls::tls::insecure;
pub use bindings::memtls::tls::tls;
use tls::{Connection, ErrorKind, Progress, ReadOutcome, WriteOutcome};

/// The error of a TLS operation: the interface's error, or the transport's.
#[derive(Debug)]
pub enum Error {
    /// The provider reported an error.
    Tls(tls::Error),
    /// The transport failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Tls(e) => write!(f, "TLS {}: {}", kind_name(&e.kind), e.message),
            Error::Io(e) => write!(f, "transport: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<tls::Error> for Error {
    fn from(e: tls::Error) -> Self {
        Error::Tls(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            Error::Tls(t) if matches!(t.kind, ErrorKind::RaggedEof) => {
                io::Error::new(io::ErrorKind::UnexpectedEof, Error::Tls(t))
            }
            other => io::Error::other(other),
        }
    }
}

/// The TLS error inside an `io::Error` that a [`TlsStream`] returned through
/// `Read` or `Write`, if it is one: the kind survives the trip through `std::io`.
pub fn tls_error(e: &io::Error) -> Option<&tls::Error> {
    match e.get_ref()?.downcast_ref::<Error>()? {
        Error::Tls(t) => Some(t),
        Error::Io(_) => None,
    }
}

/// A short name of an error kind, e.g. `certificate-rejected(expired)`.
pub fn kind_name(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::Closed => "closed".into(),
        ErrorKind::RaggedEof => "ragged-eof".into(),
        ErrorKind::CertificateRejected(r) => format!("certificate-rejected({})", reason_name(*r)),
        ErrorKind::AlertReceived(c) => format!("alert-received({c})"),
        ErrorKind::AlertSent(c) => format!("alert-sent({c})"),
        ErrorKind::Protocol => "protocol".into(),
        ErrorKind::Configuration => "configuration".into(),
        ErrorKind::Misuse => "misuse".into(),
        ErrorKind::ResourceLimit => "resource-limit".into(),
        ErrorKind::NotPermitted => "not-permitted".into(),
    }
}

/// The WIT name of a certificate rejection reason, e.g. `unknown-issuer`.
pub fn reason_name(r: tls::CertificateReason) -> &'static str {
    use tls::CertificateReason as R;
    match r {
        R::Expired => "expired",
        R::NotYetValid => "not-yet-valid",
        R::UnknownIssuer => "unknown-issuer",
        R::BadSignature => "bad-signature",
        R::NameMismatch => "name-mismatch",
        R::Revoked => "revoked",
        R::NoCertificate => "no-certificate",
        R::Other => "other",
    }
}

impl tls::TrustStore {
    /// The system's trust (what the embedder's policy makes of it).
    pub fn system() -> Self {
        Self {
            system: true,
            anchors: Vec::new(),
            pinned: Vec::new(),
        }
    }

    /// Only these anchors (each PEM text, possibly several certificates, or
    /// one DER certificate).
    pub fn anchors(anchors: Vec<Vec<u8>>) -> Self {
        Self {
            system: false,
            anchors,
            pinned: Vec::new(),
        }
    }

    /// Only these pinned certificates (the server's end-entity certificate).
    pub fn pinned(pinned: Vec<Vec<u8>>) -> Self {
        Self {
            system: false,
            anchors: Vec::new(),
            pinned,
        }
    }
}

impl tls::SigningChain {
    /// A chain (PEM or DER certificates, end-entity first) and its private key.
    pub fn new(certificates: Vec<Vec<u8>>, private_key: Vec<u8>) -> Self {
        Self {
            certificates,
            private_key,
            private_key_password: None,
            host_identity: None,
        }
    }

    /// The host identity `name`: the host presents its chain and signs with
    /// its key, which this program never receives.
    pub fn host_identity(name: &str) -> Self {
        Self {
            certificates: Vec::new(),
            private_key: Vec::new(),
            private_key_password: None,
            host_identity: Some(name.to_owned()),
        }
    }
}

impl tls::ClientConfig {
    /// A client trusting `trust`: no client certificate, no ALPN, TLS 1.2 and
    /// 1.3, the provider's suites, SNI sent.
    pub fn new(trust: tls::TrustStore) -> Self {
        Self {
            trust,
            certificate_chain: None,
            alpn_protocols: Vec::new(),
            min_version: None,
            max_version: None,
            cipher_suites: None,
            key_exchange_groups: None,
            send_sni: true,
        }
    }
}

impl tls::ServerConfig {
    /// A server presenting `chain`: no client authentication, no ALPN, TLS 1.2
    /// and 1.3, the provider's suites, session tickets issued.
    pub fn new(chain: tls::SigningChain) -> Self {
        Self {
            certificate_chains: vec![chain],
            client_auth: tls::ClientAuth::None,
            alpn_protocols: Vec::new(),
            min_version: None,
            max_version: None,
            cipher_suites: None,
            key_exchange_groups: None,
            session_tickets: true,
        }
    }
}

/// Parses a comma-separated ALPN list (`h2,http/1.1`).
pub fn parse_alpn(list: &str) -> Vec<Vec<u8>> {
    list.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.as_bytes().to_vec())
        .collect()
}

/// Parses a comma-separated list of hex IANA cipher suite ids (`1301,c02b`).
pub fn parse_ciphers(list: &str) -> Result<Vec<u16>, String> {
    list.split(',')
        .map(|h| u16::from_str_radix(h.trim().trim_start_matches("0x"), 16))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cipher suites are hex ids like 1301,c02b: {e}"))
}

/// Parses a comma-separated list of key-exchange groups, each an IANA name
/// the provider supports (`X25519MLKEM768,x25519`, in any case) or a hex id
/// (`11ec`), into IANA ids.
pub fn parse_groups(list: &str) -> Result<Vec<u16>, String> {
    let supported = tls::supported_key_exchange_groups();
    list.split(',')
        .map(str::trim)
        .map(|item| {
            supported
                .iter()
                .find(|g| g.name.eq_ignore_ascii_case(item))
                .map(|g| g.id)
                .or_else(|| u16::from_str_radix(item.trim_start_matches("0x"), 16).ok())
                .ok_or_else(|| {
                    let names: Vec<&str> = supported.iter().map(|g| g.name.as_str()).collect();
                    format!(
                        "{item:?} is not a key-exchange group this provider supports ({}) nor a hex id",
                        names.join(", ")
                    )
                })
        })
        .collect()
}

/// The name of a protocol version as people write it.
pub fn version_name(v: Option<tls::ProtocolVersion>) -> &'static str {
    match v {
        Some(tls::ProtocolVersion::Tls12) => "TLSv1.2",
        Some(tls::ProtocolVersion::Tls13) => "TLSv1.3",
        None => "none",
    }
}

/// Size of one read from the transport: several records per call into the host.
const READ_CHUNK: usize = 64 * 1024;

/// A TLS connection over a transport `S`.
pub struct TlsStream<S> {
    conn: Connection,
    sock: S,
    /// Ciphertext read from the transport; `inbuf[in_start..in_end]` is not yet fed.
    inbuf: Vec<u8>,
    in_start: usize,
    in_end: usize,
    transport_eof: bool,
    /// Calls made to the provider so far (see [`TlsStream::provider_calls`]).
    calls: Cell<u64>,
}

impl<S: Read + Write> TlsStream<S> {
    /// Wraps `sock` and completes the handshake.
    pub fn handshake(conn: Connection, sock: S) -> Result<Self, Error> {
        let mut s = Self {
            conn,
            sock,
            inbuf: Vec::new(),
            in_start: 0,
            in_end: 0,
            transport_eof: false,
            calls: Cell::new(0),
        };
        loop {
            let progress = s.call().handshake();
            s.flush()?;
            match progress? {
                Progress::Done => return Ok(s),
                Progress::WantWrite => {}
                Progress::WantRead => s.fill()?,
            }
        }
    }

    /// The connection, for what was negotiated.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// How many calls this stream has made to the provider (each crosses the
    /// component boundary, copying its arguments): handshake, feed, eof, read,
    /// write, take and shutdown. Calls made through [`Self::connection`] are not
    /// counted. The difference over a transfer, divided by its size, is the
    /// stream's cost in calls per byte.
    pub fn provider_calls(&self) -> u64 {
        self.calls.get()
    }

    /// The connection, for a call this stream makes (counted).
    fn call(&self) -> &Connection {
        self.calls.set(self.calls.get() + 1);
        &self.conn
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.sock
    }

    /// Sends all waiting ciphertext to the transport.
    pub fn flush(&mut self) -> Result<(), Error> {
        // Everything waiting, in one call: a provider hands its whole buffer
        // over when `max` covers it (no copy), and its buffer is bounded by the
        // policy far below u32::MAX.
        let out = self.call().take(u32::MAX);
        if !out.is_empty() {
            self.sock
                .write_all(&out)
                .map_err(|e| self.transport_failed(e))?;
        }
        self.sock.flush().map_err(|e| self.transport_failed(e))
    }

    /// The transport failed under the connection (a reset, a broken pipe;
    /// WASI reports most of these as a bare I/O error): for TLS that is the
    /// transport ending without the peer's close_notify, so it is reported as
    /// ragged-eof, with the transport's words, whichever call met it first —
    /// the same on every provider, whatever the timing. The connection is told
    /// that no more ciphertext comes.
    fn transport_failed(&mut self, e: io::Error) -> Error {
        if matches!(
            e.kind(),
            io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
        ) {
            return Error::Io(e);
        }
        if !self.transport_eof {
            self.transport_eof = true;
            let _ = self.call().eof();
        }
        Error::Tls(tls::Error {
            kind: ErrorKind::RaggedEof,
            message: format!("the transport failed without the peer's close_notify ({e})"),
        })
    }

    /// Feeds buffered ciphertext, reading more from the transport when none is
    /// left. Signals end of input at the transport's EOF.
    fn fill(&mut self) -> Result<(), Error> {
        if self.in_start == self.in_end {
            if self.transport_eof {
                // Already signalled: the next call reports closed / ragged-eof.
                return Ok(());
            }
            // One buffer for the connection's life: no allocation per read.
            if self.inbuf.is_empty() {
                self.inbuf = vec![0; READ_CHUNK];
            }
            let n = self
                .sock
                .read(&mut self.inbuf)
                .map_err(|e| self.transport_failed(e))?;
            (self.in_start, self.in_end) = (0, n);
            if n == 0 {
                self.transport_eof = true;
                return self.call().eof().map_err(|e| self.failed(e));
            }
        }
        let taken = self
            .call()
            .feed(&self.inbuf[self.in_start..self.in_end])
            .map_err(|e| self.failed(e))? as usize;
        self.in_start += taken;
        Ok(())
    }

    /// After a TLS error: sends what the connection still holds (the fatal
    /// alert that goes with the error) before the caller closes the transport.
    fn failed(&mut self, e: tls::Error) -> Error {
        let _ = self.flush();
        Error::Tls(e)
    }

    /// Sends close_notify and waits for the peer's (two-phase shutdown).
    pub fn shutdown(&mut self) -> Result<(), Error> {
        loop {
            let progress = self.call().shutdown();
            self.flush()?;
            match progress? {
                Progress::Done => return Ok(()),
                Progress::WantWrite => {}
                Progress::WantRead => {
                    // Discard application data still in flight.
                    while let Ok(ReadOutcome::Data(_)) = self.call().read(64 * 1024) {}
                    self.fill()?;
                }
            }
        }
    }

    /// Sends close_notify without waiting for the peer's, and returns the transport.
    pub fn close(mut self) -> Result<S, Error> {
        let progress = self.call().shutdown();
        self.flush()?;
        progress?;
        Ok(self.sock)
    }
}

impl<S: Read + Write> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let max = u32::try_from(buf.len()).unwrap_or(u32::MAX);
            match self.call().read(max) {
                Ok(ReadOutcome::Data(d)) => {
                    let n = d.len().min(buf.len());
                    buf[..n].copy_from_slice(&d[..n]);
                    return Ok(n);
                }
                Ok(ReadOutcome::WantWrite) => self.flush()?,
                Ok(ReadOutcome::WantRead) => {
                    self.flush()?;
                    self.fill()?;
                }
                Err(e) if matches!(e.kind, ErrorKind::Closed) => return Ok(0),
                Err(e) => return Err(self.failed(e).into()),
            }
        }
    }
}

impl<S: Read + Write> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Bounded pieces: the whole argument crosses the component boundary.
        let piece = &buf[..buf.len().min(64 * 1024)];
        loop {
            match self.call().write(piece).map_err(|e| self.failed(e))? {
                WriteOutcome::Written(n) if n > 0 => {
                    self.flush()?;
                    return Ok(n as usize);
                }
                WriteOutcome::Written(_) | WriteOutcome::WantWrite => self.flush()?,
                WriteOutcome::WantRead => self.fill()?,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(TlsStream::flush(self)?)
    }
}

/// The chain a server presents, from its command line: `--cert` and `--key`
/// (PEM files the component can read) or `--identity NAME` (the host's chain
/// and key, which the component never sees). An empty `cert` or `key` is an
/// option not given.
pub fn server_chain(
    cert: &str,
    key: &str,
    identity: Option<&str>,
) -> Result<tls::SigningChain, String> {
    match (cert.is_empty() && key.is_empty(), identity) {
        (true, Some(name)) => Ok(tls::SigningChain::host_identity(name)),
        (false, Some(_)) => Err("--identity replaces --cert and --key".into()),
        (_, None) if cert.is_empty() || key.is_empty() => {
            Err("--cert and --key (or --identity) are required".into())
        }
        (_, None) => Ok(tls::SigningChain::new(
            vec![read_file(cert)?],
            read_file(key)?,
        )),
    }
}

/// Reads a file the component can see (a preopened directory), naming it in
/// the error.
pub fn read_file(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path)
        .map_err(|e| format!("cannot read {path}: {e} (is its directory preopened, e.g. --dir .?)"))
}

//! One TLS connection driven as a memory channel.

use std::io::{self, BufRead, Write};
use std::sync::Arc;

use crate::config::{CipherSuite, ProtocolVersion};
use crate::session::ConnectionSessions;
use crate::{Error, ErrorKind, Permit, Result, Session, Stage};

/// Result of a step that may need the caller to move bytes (WIT `progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Complete.
    Done,
    /// Feed more ciphertext.
    WantRead,
    /// Take the waiting ciphertext.
    WantWrite,
}

/// Result of [`Connection::read`] (WIT `read-outcome`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Plaintext (empty only when asked for zero bytes).
    Data(Vec<u8>),
    /// Feed more ciphertext.
    WantRead,
    /// Take the waiting ciphertext first.
    WantWrite,
}

/// Result of [`Connection::write`] (WIT `write-outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// This many bytes were accepted.
    Written(u32),
    /// The handshake needs peer bytes first.
    WantRead,
    /// The outgoing buffer is full.
    WantWrite,
}

/// What `request-key-update` depends on.
pub struct KeyUpdateState {
    /// The handshake is complete.
    pub handshake_complete: bool,
    /// The negotiated version.
    pub version: Option<ProtocolVersion>,
    /// Our close_notify was sent.
    pub close_sent: bool,
    /// Ciphertext waiting to be taken.
    pub pending: usize,
    /// The most ciphertext held before writes stop.
    pub max_buffered: usize,
}

/// Checks that a connection in `state` may send a KeyUpdate (TLS 1.3, after
/// the handshake, before shutdown, with room for it), for every provider.
pub fn check_key_update(state: &KeyUpdateState) -> Result<()> {
    if !state.handshake_complete {
        return Err(Error::misuse(
            "request-key-update before the handshake is complete",
        ));
    }
    if state.version != Some(ProtocolVersion::Tls13) {
        return Err(Error::misuse("request-key-update needs TLS 1.3"));
    }
    if state.close_sent {
        return Err(Error::misuse("request-key-update after shutdown"));
    }
    if state.pending >= state.max_buffered {
        return Err(Error::limit(format!(
            "request-key-update: {} bytes of ciphertext wait to be taken \
             (max-buffered-bytes is {}); take and send them first",
            state.pending, state.max_buffered
        )));
    }
    Ok(())
}

/// Checks `export-keying-material`'s arguments against the interface's bounds
/// (length 1 to [`MAX_EXPORT_LEN`], label 1 to [`MAX_EXPORT_LABEL_LEN`] bytes,
/// context at most [`MAX_EXPORT_CONTEXT_LEN`]), for every provider.
pub fn check_export(label: &[u8], context: Option<&[u8]>, length: u32) -> Result<()> {
    if length == 0 || length > MAX_EXPORT_LEN {
        return Err(Error::misuse(format!(
            "export-keying-material length {length} is outside 1..={MAX_EXPORT_LEN}"
        )));
    }
    if label.is_empty() || label.len() > MAX_EXPORT_LABEL_LEN {
        return Err(Error::misuse(format!(
            "export-keying-material label is {} bytes; it must be 1 to \
             {MAX_EXPORT_LABEL_LEN} bytes (TLS 1.3 puts it in a 255-byte HKDF label)",
            label.len()
        )));
    }
    if let Some(context) = context.filter(|c| c.len() > MAX_EXPORT_CONTEXT_LEN) {
        return Err(Error::misuse(format!(
            "export-keying-material context is {} bytes; it must be at most \
             {MAX_EXPORT_CONTEXT_LEN} (its length is a 16-bit field)",
            context.len()
        )));
    }
    Ok(())
}

impl ReadOutcome {
    /// What `read` answers while the handshake is at `progress` (`None` once
    /// it is done).
    pub fn waiting(progress: Progress) -> Option<Self> {
        match progress {
            Progress::Done => None,
            Progress::WantRead => Some(Self::WantRead),
            Progress::WantWrite => Some(Self::WantWrite),
        }
    }
}

impl WriteOutcome {
    /// What `write` answers before taking any of `len` bytes of plaintext
    /// while the handshake is at `progress` and `pending` bytes of ciphertext
    /// wait (of at most `max_buffered`): the handshake's progress until it is
    /// done, then `want-write` while the buffer is full; `None` when the
    /// plaintext may go.
    pub fn before_writing(
        progress: Progress,
        pending: usize,
        max_buffered: usize,
        len: usize,
    ) -> Option<Self> {
        match progress {
            Progress::Done if pending >= max_buffered && len > 0 => Some(Self::WantWrite),
            Progress::Done => None,
            Progress::WantRead => Some(Self::WantRead),
            Progress::WantWrite => Some(Self::WantWrite),
        }
    }
}

/// The most keying material one export may ask for.
pub const MAX_EXPORT_LEN: u32 = 16 * 1024;

/// The longest exporter label: TLS 1.3 puts it in an HKDF label after "tls13 ",
/// in at most 255 bytes (RFC 8446 §7.1); TLS 1.2 is held to the same bound.
pub const MAX_EXPORT_LABEL_LEN: usize = 249;

/// The longest exporter context: its length is a 16-bit field (RFC 5705 §4).
pub const MAX_EXPORT_CONTEXT_LEN: usize = 0xffff;

/// A TLS connection: rustls plus a bounded outgoing buffer, a sticky error and
/// the end-of-input and shutdown state the interface defines.
pub struct Connection {
    tls: rustls::Connection,
    /// Ciphertext waiting to be taken, starting at `out_start`.
    outgoing: Vec<u8>,
    out_start: usize,
    /// Most ciphertext bytes held before `write` stops accepting plaintext.
    max_buffered: usize,
    /// The first fatal error; every later call returns it.
    failed: Option<Error>,
    /// `eof` was signalled.
    eof: bool,
    /// Our close_notify was queued.
    close_sent: bool,
    /// The peer's close_notify arrived.
    peer_closed: bool,
    /// Decrypted plaintext waiting to be read.
    plaintext_pending: usize,
    /// On a client: the name connected to.
    client_server_name: Option<String>,
    /// The path the verifier built for the peer's certificate, end-entity
    /// first (empty until then, and when nothing was verified).
    verified_chain: Vec<Vec<u8>>,
    /// On a client made with `connect_with`: the session it offered and the
    /// ones its server issues.
    pub(crate) sessions: Option<Arc<ConnectionSessions>>,
    /// This connection's share of the instance's admission.
    _permit: Permit,
}

impl Connection {
    pub(crate) fn new(
        tls: rustls::Connection,
        max_buffered: usize,
        client_server_name: Option<String>,
        permit: Permit,
    ) -> Self {
        let mut c = Self {
            tls,
            outgoing: Vec::new(),
            out_start: 0,
            max_buffered,
            failed: None,
            eof: false,
            close_sent: false,
            peer_closed: false,
            plaintext_pending: 0,
            client_server_name,
            verified_chain: Vec::new(),
            sessions: None,
            _permit: permit,
        };
        c.flush_tls();
        c
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn fail(&mut self, err: Error) -> Error {
        // rustls queued the alert that goes with the error: keep it takeable.
        self.flush_tls();
        self.failed = Some(err.clone());
        err
    }

    /// Moves all ciphertext rustls produced into the outgoing buffer.
    fn flush_tls(&mut self) {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.outgoing) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    fn outgoing_len(&self) -> usize {
        self.outgoing.len() - self.out_start
    }

    fn process(&mut self) -> Result<()> {
        crate::verify::clear_notes();
        match self.tls.process_new_packets() {
            Ok(state) => {
                if let Some(path) = crate::verify::take_verified() {
                    self.verified_chain = path.into_iter().map(|c| c.to_vec()).collect();
                }
                self.plaintext_pending = state.plaintext_bytes_to_read();
                if state.peer_has_closed() {
                    self.peer_closed = true;
                }
                self.flush_tls();
                Ok(())
            }
            Err(e) => Err(self.fail(Error::from_rustls_about(&e, crate::verify::take_rejected()))),
        }
    }

    /// Feeds ciphertext from the network; returns how much was accepted.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<u32> {
        self.check()?;
        if self.eof {
            return Err(Error::feed_after_eof());
        }
        let total = data.len();
        while !data.is_empty() {
            match self.tls.read_tls(&mut data) {
                Ok(0) => break,
                Ok(_) => self.process()?,
                // rustls refuses more input while its buffers are full (unread
                // plaintext, or a partial record at its size limit).
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => return Err(self.fail(Error::new(ErrorKind::Protocol, e.to_string()))),
            }
        }
        Ok(u32::try_from(total - data.len()).unwrap_or(u32::MAX))
    }

    /// Signals the end of the transport.
    pub fn eof(&mut self) -> Result<()> {
        self.check()?;
        if !self.eof {
            self.eof = true;
            let _ = self.tls.read_tls(&mut io::empty());
            self.process()?;
        }
        Ok(())
    }

    /// Takes up to `max` bytes of ciphertext.
    pub fn take(&mut self, max: u32) -> Vec<u8> {
        let n = self.outgoing_len().min(max as usize);
        if self.out_start == 0 && n == self.outgoing.len() {
            // Everything at once (the common case): hand the buffer over, no copy.
            return std::mem::take(&mut self.outgoing);
        }
        let out = self.outgoing[self.out_start..self.out_start + n].to_vec();
        self.out_start += n;
        if self.out_start == self.outgoing.len() {
            self.outgoing.clear();
            self.out_start = 0;
            if self.outgoing.capacity() > self.max_buffered.max(1 << 16) {
                self.outgoing = Vec::new();
            }
        } else if self.out_start > self.outgoing.len() / 2 {
            self.outgoing.drain(..self.out_start);
            self.out_start = 0;
        }
        out
    }

    /// Ciphertext waiting to be taken.
    pub fn pending_ciphertext(&self) -> u32 {
        u32::try_from(self.outgoing_len()).unwrap_or(u32::MAX)
    }

    /// Advances the handshake.
    pub fn handshake(&mut self) -> Result<Progress> {
        self.check()?;
        if !self.tls.is_handshaking() {
            return Ok(Progress::Done);
        }
        if self.outgoing_len() > 0 {
            return Ok(Progress::WantWrite);
        }
        if self.eof {
            return Err(self.fail(Error::ragged(Stage::Handshake)));
        }
        Ok(Progress::WantRead)
    }

    /// Whether the handshake is complete.
    pub fn is_handshake_complete(&self) -> bool {
        !self.tls.is_handshaking()
    }

    /// Reads up to `max` bytes of plaintext.
    pub fn read(&mut self, max: u32) -> Result<ReadOutcome> {
        if let Some(waiting) = ReadOutcome::waiting(self.handshake()?) {
            return Ok(waiting);
        }
        if max == 0 {
            return Ok(ReadOutcome::Data(Vec::new()));
        }
        // One copy, straight out of rustls's buffer, across all the records it
        // holds decrypted (up to `max`): one call where a record at a time
        // took one per record.
        let max = max as usize;
        let mut data = Vec::with_capacity(max.min(self.plaintext_pending.max(1)));
        let mut reader = self.tls.reader();
        // What ended reading with nothing read: the peer's close_notify
        // (`Ok`), no more plaintext yet, a ragged end, an error.
        let mut ended = None;
        loop {
            match reader.fill_buf() {
                Ok(chunk) if !chunk.is_empty() => {
                    let n = chunk.len().min(max - data.len());
                    data.extend_from_slice(&chunk[..n]);
                    reader.consume(n);
                    if data.len() == max {
                        break;
                    }
                }
                // Nothing more now: what was read is the answer; the end (or
                // an error) shows at the next call.
                _ if !data.is_empty() => break,
                other => {
                    ended = Some(other.map(|_| ()));
                    break;
                }
            }
        }
        match ended {
            None => {
                self.plaintext_pending = self.plaintext_pending.saturating_sub(data.len());
                Ok(ReadOutcome::Data(data))
            }
            Some(Ok(())) => Err(Error::closed()),
            Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WantRead),
            Some(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(self.fail(Error::ragged(Stage::Data)))
            }
            Some(Err(e)) => Err(self.fail(Error::new(ErrorKind::Protocol, e.to_string()))),
        }
    }

    /// Encrypts plaintext; short writes allowed.
    pub fn write(&mut self, data: &[u8]) -> Result<WriteOutcome> {
        self.check()?;
        if self.close_sent {
            return Err(Error::write_after_shutdown());
        }
        let progress = self.handshake()?;
        let pending = self.outgoing_len();
        if let Some(early) =
            WriteOutcome::before_writing(progress, pending, self.max_buffered, data.len())
        {
            return Ok(early);
        }
        let room = self.max_buffered.saturating_sub(pending);
        let n = match self.tls.writer().write(&data[..data.len().min(room)]) {
            Ok(n) => n,
            Err(e) => return Err(self.fail(Error::new(ErrorKind::Protocol, e.to_string()))),
        };
        self.flush_tls();
        Ok(WriteOutcome::Written(u32::try_from(n).unwrap_or(u32::MAX)))
    }

    /// Plaintext ready to read.
    pub fn pending_plaintext(&self) -> u32 {
        u32::try_from(self.plaintext_pending).unwrap_or(u32::MAX)
    }

    /// Two-phase shutdown.
    pub fn shutdown(&mut self) -> Result<Progress> {
        self.check()?;
        if !self.close_sent {
            self.close_sent = true;
            self.tls.send_close_notify();
            self.flush_tls();
        }
        if self.outgoing_len() > 0 {
            Ok(Progress::WantWrite)
        } else if self.peer_closed {
            Ok(Progress::Done)
        } else if self.eof {
            Err(Error::ragged(Stage::Shutdown))
        } else {
            Ok(Progress::WantRead)
        }
    }

    /// Whether the peer's close_notify arrived.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Negotiated version.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.tls
            .protocol_version()
            .and_then(ProtocolVersion::from_rustls)
    }

    /// Negotiated cipher suite.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.tls
            .negotiated_cipher_suite()
            .map(CipherSuite::from_rustls)
    }

    /// Agreed ALPN protocol.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.tls.alpn_protocol().map(<[u8]>::to_vec)
    }

    /// The peer's chain, DER, end-entity first.
    pub fn peer_certificates(&self) -> Vec<Vec<u8>> {
        self.tls
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.to_vec()).collect())
            .unwrap_or_default()
    }

    /// The path the verifier built from the peer's certificate to a trust
    /// anchor, DER, end-entity first and ending with the anchor's certificate;
    /// a pinned certificate (or an anchor presented as the end entity) is a
    /// path of one. Empty when nothing was verified on this connection: no
    /// peer certificate, the `insecure` interface without verification, a
    /// resumed session (verified when it was first made), or an opaque platform
    /// verifier that does not report paths.
    pub fn verified_chain(&self) -> Vec<Vec<u8>> {
        self.verified_chain.clone()
    }

    /// SNI seen (server) or name connected to (client).
    pub fn server_name(&self) -> Option<String> {
        match &self.tls {
            rustls::Connection::Server(s) => s.server_name().map(str::to_owned),
            rustls::Connection::Client(_) => self.client_server_name.clone(),
        }
    }

    /// On a client made with `connect_with`: the newest session its server
    /// issued (a TLS 1.3 server sends tickets after the handshake, so this can
    /// change as data is read). `None` before that, on servers, and on
    /// `connect` connections (their sessions go to the context's cache). Each
    /// session handed out counts against the policy (`resource-limit` when
    /// the application holds too many).
    pub fn session(&self) -> Result<Option<Session>> {
        match &self.sessions {
            Some(sessions) => sessions.newest(),
            None => Ok(None),
        }
    }

    /// Whether this connection resumed an earlier session.
    pub fn resumed(&self) -> bool {
        self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// RFC 5705 / RFC 8446 §7.5 exporter. The label must be 1 to 249 bytes, the
    /// context at most 65,535 bytes; TLS 1.2 connections always negotiated the
    /// extended master secret (RFC 7627 §5.4), which the engine requires.
    pub fn export_keying_material(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        length: u32,
    ) -> Result<Vec<u8>> {
        self.check()?;
        if self.tls.is_handshaking() {
            return Err(Error::misuse(
                "export-keying-material before the handshake is complete",
            ));
        }
        check_export(label, context, length)?;
        let out = vec![0u8; length as usize];
        self.tls
            .export_keying_material(out, label, context)
            .map_err(|e| Error::misuse(format!("export-keying-material: {e}")))
    }

    /// Sends a TLS 1.3 KeyUpdate.
    pub fn request_key_update(&mut self) -> Result<()> {
        self.check()?;
        check_key_update(&KeyUpdateState {
            handshake_complete: !self.tls.is_handshaking(),
            version: self.protocol_version(),
            close_sent: self.close_sent,
            pending: self.outgoing_len(),
            max_buffered: self.max_buffered,
        })?;
        // rustls refuses a KeyUpdate while a peer's handshake message is half
        // received, and sends a fatal alert when it does: the connection is then
        // failed like any other, the alert takeable.
        if let Err(e) = self.tls.refresh_traffic_keys() {
            return Err(self.fail(Error::from_rustls(&e)));
        }
        self.flush_tls();
        Ok(())
    }
}

//! One TLS connection driven as a memory channel.

use std::io::{self, BufRead, Write};
use std::sync::Arc;

use crate::config::{CipherSuite, KeyExchangeGroup, ProtocolVersion};
use crate::session::ConnectionSessions;
use crate::{ConnectionState, Error, ErrorKind, Permit, Result, Stage};

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
    /// What every provider's connection keeps the same way.
    state: ConnectionState,
    /// `eof` was signalled.
    eof: bool,
    /// Decrypted plaintext waiting to be read.
    plaintext_pending: usize,
    /// The path the verifier built for the peer's certificate, end-entity
    /// first (empty until then, and when nothing was verified).
    verified_chain: Vec<Vec<u8>>,
    /// On a client made with `connect_with`: the session it offered and the
    /// ones its server issues.
    pub(crate) sessions: Option<Arc<ConnectionSessions>>,
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
            state: ConnectionState::new(max_buffered, client_server_name, permit),
            eof: false,
            plaintext_pending: 0,
            verified_chain: Vec::new(),
            sessions: None,
        };
        c.flush_tls();
        c
    }

    fn check(&self) -> Result<()> {
        self.state.check()
    }

    fn fail(&mut self, err: Error) -> Error {
        // rustls queued the alert that goes with the error: keep it takeable.
        self.flush_tls();
        self.state.fail(err)
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
        let recording = crate::verify::Recording::start();
        let processed = self.tls.process_new_packets();
        let notes = recording.finish();
        match processed {
            Ok(state) => {
                if let Some(path) = notes.verified {
                    self.verified_chain = path.into_iter().map(|c| c.to_vec()).collect();
                }
                self.plaintext_pending = state.plaintext_bytes_to_read();
                if state.peer_has_closed() {
                    self.state.peer_closed = true;
                }
                self.flush_tls();
                Ok(())
            }
            Err(e) => Err(self.fail(Error::from_rustls_about(&e, notes.rejected))),
        }
    }
}

/// The interface's calls (`wit/tls.wit` documents each).
impl crate::provider::TlsConnection for Connection {
    fn feed(&mut self, mut data: &[u8]) -> Result<u32> {
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

    fn eof(&mut self) -> Result<()> {
        self.check()?;
        if !self.eof {
            self.eof = true;
            let _ = self.tls.read_tls(&mut io::empty());
            self.process()?;
        }
        Ok(())
    }

    fn take(&mut self, max: u32) -> Vec<u8> {
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
            if self.outgoing.capacity() > self.state.max_buffered.max(1 << 16) {
                self.outgoing = Vec::new();
            }
        } else if self.out_start > self.outgoing.len() / 2 {
            self.outgoing.drain(..self.out_start);
            self.out_start = 0;
        }
        out
    }

    fn pending_ciphertext(&self) -> u32 {
        u32::try_from(self.outgoing_len()).unwrap_or(u32::MAX)
    }

    fn handshake(&mut self) -> Result<Progress> {
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

    fn is_handshake_complete(&self) -> bool {
        !self.tls.is_handshaking()
    }

    fn read(&mut self, max: u32) -> Result<ReadOutcome> {
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

    fn write(&mut self, data: &[u8]) -> Result<WriteOutcome> {
        self.state.may_write()?;
        let progress = self.handshake()?;
        let pending = self.outgoing_len();
        if let Some(early) = self.state.before_writing(progress, pending, data.len()) {
            return Ok(early);
        }
        let room = self.state.max_buffered.saturating_sub(pending);
        let n = match self.tls.writer().write(&data[..data.len().min(room)]) {
            Ok(n) => n,
            Err(e) => return Err(self.fail(Error::new(ErrorKind::Protocol, e.to_string()))),
        };
        self.flush_tls();
        Ok(WriteOutcome::Written(u32::try_from(n).unwrap_or(u32::MAX)))
    }

    fn pending_plaintext(&self) -> u32 {
        u32::try_from(self.plaintext_pending).unwrap_or(u32::MAX)
    }

    fn shutdown(&mut self) -> Result<Progress> {
        self.check()?;
        if !self.state.close_sent {
            self.state.close_sent = true;
            self.tls.send_close_notify();
            self.flush_tls();
        }
        if self.outgoing_len() > 0 {
            Ok(Progress::WantWrite)
        } else if self.state.peer_closed {
            Ok(Progress::Done)
        } else if self.eof {
            Err(Error::ragged(Stage::Shutdown))
        } else {
            Ok(Progress::WantRead)
        }
    }

    fn peer_closed(&self) -> bool {
        self.state.peer_closed
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.tls
            .protocol_version()
            .and_then(ProtocolVersion::from_rustls)
    }

    fn cipher_suite(&self) -> Option<CipherSuite> {
        self.tls
            .negotiated_cipher_suite()
            .map(CipherSuite::from_rustls)
    }

    fn key_exchange_group(&self) -> Option<KeyExchangeGroup> {
        self.tls
            .negotiated_key_exchange_group()
            .map(KeyExchangeGroup::from_rustls)
    }

    fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.tls.alpn_protocol().map(<[u8]>::to_vec)
    }

    fn peer_certificates(&self) -> Vec<Vec<u8>> {
        self.tls
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.to_vec()).collect())
            .unwrap_or_default()
    }

    fn verified_chain(&self) -> Vec<Vec<u8>> {
        self.verified_chain.clone()
    }

    fn server_name(&self) -> Option<String> {
        match &self.tls {
            rustls::Connection::Server(s) => s.server_name().map(str::to_owned),
            rustls::Connection::Client(_) => self.state.client_server_name.clone(),
        }
    }

    fn resumed(&self) -> bool {
        self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    fn session(&self) -> Result<Option<Box<dyn crate::provider::TlsSession>>> {
        match &self.sessions {
            Some(sessions) => Ok(sessions
                .newest()?
                .map(|s| Box::new(s) as Box<dyn crate::provider::TlsSession>)),
            None => Ok(None),
        }
    }

    fn export_keying_material(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        length: u32,
    ) -> Result<Vec<u8>> {
        self.state
            .check_export(!self.tls.is_handshaking(), label, context, length)?;
        let out = vec![0u8; length as usize];
        self.tls
            .export_keying_material(out, label, context)
            .map_err(|e| Error::misuse(format!("export-keying-material: {e}")))
    }

    fn request_key_update(&mut self) -> Result<()> {
        self.state.check_key_update(
            !self.tls.is_handshaking(),
            self.protocol_version(),
            self.outgoing_len(),
        )?;
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

//! One connection: an `SslStream` over its [`Channel`], driven by the
//! interface's calls.

use std::sync::Arc;

use crate::Channel;
use crate::SUITES;
use crate::error::{self, from_ssl_error, from_stack};
use crate::session;
use crate::verify::Pins;
use memtls_engine::{
    Admission, CipherSuite, ConnectionState, Error, ErrorKind, KeyExchangeGroup, Permit, Progress,
    ProtocolVersion, ReadOutcome, Result, Stage, WriteOutcome,
};
use openssl::ssl::{
    ErrorCode, NameType, ShutdownResult, ShutdownState, Ssl, SslStream, SslVersion,
};

/// The largest TLS record on the wire.
pub(crate) const RECORD: usize = 16 * 1024 + 256 + 5;

/// The most ciphertext held unprocessed: two full records, so that a `read`
/// after a `feed` finds the record decrypted ahead and the next one (OpenSSL
/// holds at most one more while it decrypts).
pub(crate) const MAX_INCOMING: usize = 2 * RECORD;

/// The most plaintext decrypted ahead of `read`.
pub(crate) const MAX_PLAINTEXT: usize = 16 * 1024;

impl Drop for Connection {
    fn drop(&mut self) {
        // OpenSSL forgets the session of a connection freed without a
        // close_notify (and makes it unresumable for clients holding it); the
        // interface lets an application drop a healthy connection, or one whose
        // transport merely ended, and still resume its session, as the rustls
        // providers do.
        let healthy = self
            .state
            .check()
            .map_or_else(|e| e.kind == ErrorKind::RaggedEof, |()| true);
        if self.handshaken && healthy {
            self.stream
                .set_shutdown(ShutdownState::SENT | ShutdownState::RECEIVED);
        }
    }
}

/// One TLS connection as a memory channel, on OpenSSL.
pub struct Connection {
    stream: SslStream<Channel>,
    /// What every provider's connection keeps the same way.
    state: ConnectionState,
    handshaken: bool,
    /// Some ciphertext was taken (after that, alerts are OpenSSL's to send).
    sent_any: bool,
    plaintext: Vec<u8>,
    /// Made with `connect-with`: the newest session its server issued, and
    /// the admission that counts the ones handed out.
    pub(crate) sessions: Option<(session::Newest, Admission)>,
    /// On a client: the context's pins, when it has any.
    pub(crate) pins: Option<Arc<Pins>>,
    /// On a client whose context verifies nothing (`insecure`).
    pub(crate) unverified: bool,
}

impl Connection {
    pub(crate) fn new(
        mut ssl: Ssl,
        admission: &Admission,
        client_server_name: Option<String>,
        permit: Permit,
    ) -> Result<Self> {
        crate::notes::attach(&mut ssl)?;
        let stream =
            SslStream::new(ssl, Channel::default()).map_err(|e| from_stack("connection", &e))?;
        let mut c = Self {
            stream,
            state: ConnectionState::new(
                admission.policy().max_buffered_bytes,
                client_server_name,
                permit,
            ),
            handshaken: false,
            sent_any: false,
            plaintext: Vec::new(),
            sessions: None,
            pins: None,
            unverified: false,
        };
        if c.state.client_server_name.is_some() {
            // The ClientHello, ready to take.
            c.advance()?;
        }
        Ok(c)
    }

    fn check(&self) -> Result<()> {
        self.state.check()
    }

    fn fail(&mut self, err: Error) -> Error {
        self.state.fail(err)
    }

    /// A failed OpenSSL call on this connection as the interface's error.
    fn error_of(&self, e: &openssl::ssl::Error) -> Error {
        from_ssl_error(e, self.stream.ssl(), self.channel().eof, self.handshaken)
    }

    fn channel(&self) -> &Channel {
        self.stream.get_ref()
    }

    fn outgoing_len(&self) -> usize {
        self.channel().outgoing.len()
    }

    /// Runs the handshake as far as the buffered ciphertext allows, then
    /// decrypts what it can ahead of `read` (bounded), so that alerts and the
    /// peer's close_notify are seen when they arrive.
    fn advance(&mut self) -> Result<()> {
        if !self.handshaken {
            crate::notes::clear(self.stream.ssl());
            match self.stream.do_handshake() {
                Ok(()) => self.handshaken = true,
                Err(e) if e.code() == ErrorCode::WANT_READ => return Ok(()),
                Err(e) => {
                    let err = self.error_of(&e);
                    if err.kind == ErrorKind::RaggedEof {
                        // `handshake` reports it.
                        return Ok(());
                    }
                    self.queue_alert_if_silent(&err);
                    return Err(self.fail(err));
                }
            }
        }
        let mut plaintext = std::mem::take(&mut self.plaintext);
        let decrypted = self.decrypt(&mut plaintext, MAX_PLAINTEXT);
        self.plaintext = plaintext;
        decrypted
    }

    /// Decrypts the ciphertext fed so far onto `out` until it holds `limit`
    /// bytes (OpenSSL gives one record per call). An error after some
    /// plaintext is kept for the call after that plaintext was read.
    fn decrypt(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<()> {
        while !self.state.peer_closed && out.len() < limit {
            let start = out.len();
            out.resize(start + (limit - start).min(MAX_PLAINTEXT), 0);
            crate::notes::clear(self.stream.ssl());
            let read = self.stream.ssl_read(&mut out[start..]);
            out.truncate(start + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(_) => {}
                Err(e) if e.code() == ErrorCode::WANT_READ => break,
                Err(e) if e.code() == ErrorCode::ZERO_RETURN => self.state.peer_closed = true,
                Err(e) => {
                    let err = self.error_of(&e);
                    if err.kind == ErrorKind::RaggedEof {
                        // `read` and `shutdown` report it once the plaintext
                        // before it was read.
                        break;
                    }
                    if out.is_empty() {
                        return Err(self.fail(err));
                    }
                    // Plaintext decrypted before the error is still readable.
                    self.state.fail(err);
                    break;
                }
            }
        }
        Ok(())
    }

    /// OpenSSL fails some handshakes without telling the peer (a plaintext
    /// HTTP request, a record header it cannot parse: `SSL_AD_NO_ALERT`); the
    /// interface promises peers our fatal alerts, so before anything was
    /// encrypted a plaintext `decode_error` alert goes out instead.
    fn queue_alert_if_silent(&mut self, err: &Error) {
        if matches!(
            err.kind,
            ErrorKind::AlertSent(_) | ErrorKind::AlertReceived(_)
        ) {
            return;
        }
        if self.sent_any || self.outgoing_len() > 0 {
            return;
        }
        const DECODE_ERROR: u8 = 50;
        self.stream
            .get_mut()
            .outgoing
            .extend_from_slice(&[21, 3, 3, 0, 2, 2, DECODE_ERROR]);
    }
}

/// The interface's calls (`wit/tls.wit` documents each).
impl memtls_engine::TlsConnection for Connection {
    fn feed(&mut self, data: &[u8]) -> Result<u32> {
        self.check()?;
        if self.channel().eof {
            return Err(Error::feed_after_eof());
        }
        let held = self.channel().incoming.len() - self.channel().in_start;
        let n = data.len().min(MAX_INCOMING.saturating_sub(held));
        self.stream.get_mut().incoming.extend_from_slice(&data[..n]);
        self.advance()?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn eof(&mut self) -> Result<()> {
        self.check()?;
        if !self.channel().eof {
            self.stream.get_mut().eof = true;
            self.advance()?;
        }
        Ok(())
    }

    fn take(&mut self, max: u32) -> Vec<u8> {
        self.sent_any |= max > 0 && self.outgoing_len() > 0;
        let out = &mut self.stream.get_mut().outgoing;
        let n = out.len().min(max as usize);
        if n == out.len() {
            return std::mem::take(out);
        }
        out.drain(..n).collect()
    }

    fn pending_ciphertext(&self) -> u32 {
        u32::try_from(self.outgoing_len()).unwrap_or(u32::MAX)
    }

    fn handshake(&mut self) -> Result<Progress> {
        self.check()?;
        if self.handshaken {
            return Ok(Progress::Done);
        }
        self.advance()?;
        if self.handshaken {
            Ok(Progress::Done)
        } else if self.outgoing_len() > 0 {
            Ok(Progress::WantWrite)
        } else if self.channel().eof {
            Err(self.fail(Error::ragged(Stage::Handshake)))
        } else {
            Ok(Progress::WantRead)
        }
    }

    fn is_handshake_complete(&self) -> bool {
        self.handshaken
    }

    fn read(&mut self, max: u32) -> Result<ReadOutcome> {
        let max = max as usize;
        let ahead = self.plaintext.len().min(max);
        // Room for what the held ciphertext can decrypt to, without reallocating.
        let mut data = Vec::with_capacity(max.min(ahead + MAX_INCOMING));
        data.extend(self.plaintext.drain(..ahead));
        if data.is_empty() {
            if let Some(waiting) = ReadOutcome::waiting(self.handshake()?) {
                return Ok(waiting);
            }
            if max == 0 {
                return Ok(ReadOutcome::Data(data));
            }
        }
        // After an error, the plaintext before it is read first.
        if !self.state.has_failed() && self.plaintext.is_empty() {
            self.decrypt(&mut data, max)?;
        }
        if !data.is_empty() {
            return Ok(ReadOutcome::Data(data));
        }
        if self.state.peer_closed {
            return Err(Error::closed());
        }
        if self.channel().eof {
            return Err(self.fail(Error::ragged(Stage::Data)));
        }
        Ok(ReadOutcome::WantRead)
    }

    fn write(&mut self, data: &[u8]) -> Result<WriteOutcome> {
        self.state.may_write()?;
        let progress = self.handshake()?;
        let pending = self.outgoing_len();
        if let Some(early) = self.state.before_writing(progress, pending, data.len()) {
            return Ok(early);
        }
        if data.is_empty() {
            return Ok(WriteOutcome::Written(0));
        }
        // Record by record (16 KiB of plaintext seals to at most 16,640
        // bytes) while the outgoing buffer has room.
        let mut written = 0;
        while written < data.len() {
            let room = self.state.max_buffered.saturating_sub(self.outgoing_len());
            if written > 0 && room < RECORD {
                break;
            }
            let n = (data.len() - written).min(room.max(1)).min(16 * 1024);
            crate::notes::clear(self.stream.ssl());
            match self.stream.ssl_write(&data[written..written + n]) {
                Ok(n) => written += n,
                Err(e) => {
                    let err = self.error_of(&e);
                    return Err(self.fail(err));
                }
            }
        }
        Ok(WriteOutcome::Written(
            u32::try_from(written).unwrap_or(u32::MAX),
        ))
    }

    fn pending_plaintext(&self) -> u32 {
        u32::try_from(self.plaintext.len()).unwrap_or(u32::MAX)
    }

    fn shutdown(&mut self) -> Result<Progress> {
        self.check()?;
        if !self.state.close_sent {
            self.state.close_sent = true;
            crate::notes::clear(self.stream.ssl());
            match self.stream.shutdown() {
                Ok(ShutdownResult::Received) => self.state.peer_closed = true,
                Ok(ShutdownResult::Sent) => {}
                Err(e) if e.code() == ErrorCode::WANT_READ => {}
                Err(e) => {
                    let err = self.error_of(&e);
                    return Err(self.fail(err));
                }
            }
        }
        if self.outgoing_len() > 0 {
            Ok(Progress::WantWrite)
        } else if self.state.peer_closed {
            Ok(Progress::Done)
        } else if self.channel().eof {
            Err(Error::ragged(Stage::Shutdown))
        } else {
            // The peer's close_notify may be in what was fed since.
            self.advance()?;
            Ok(if self.state.peer_closed {
                Progress::Done
            } else {
                Progress::WantRead
            })
        }
    }

    fn peer_closed(&self) -> bool {
        self.state.peer_closed
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        if !self.handshaken {
            return None;
        }
        match self.stream.ssl().version2()? {
            SslVersion::TLS1_3 => Some(ProtocolVersion::Tls13),
            SslVersion::TLS1_2 => Some(ProtocolVersion::Tls12),
            _ => None,
        }
    }

    fn cipher_suite(&self) -> Option<CipherSuite> {
        if !self.handshaken {
            return None;
        }
        let id = u16::from_be_bytes(self.stream.ssl().current_cipher()?.protocol_id());
        let (_, name, _) = SUITES.iter().find(|s| s.0 == id)?;
        Some(CipherSuite {
            id,
            name: (*name).into(),
        })
    }

    fn key_exchange_group(&self) -> Option<KeyExchangeGroup> {
        crate::ffi::negotiated_group(self.stream.ssl()).map(KeyExchangeGroup::from_id)
    }

    fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.stream
            .ssl()
            .selected_alpn_protocol()
            .map(<[u8]>::to_vec)
    }

    fn peer_certificates(&self) -> Vec<Vec<u8>> {
        let ssl = self.stream.ssl();
        let mut out: Vec<Vec<u8>> = Vec::new();
        // A server's view of the chain leaves out the client's certificate.
        if self.state.client_server_name.is_none()
            && let Some(leaf) = ssl.peer_certificate()
        {
            out.extend(leaf.to_der().ok());
        }
        if let Some(chain) = ssl.peer_cert_chain() {
            out.extend(chain.iter().filter_map(|c| c.to_der().ok()));
        }
        out
    }

    fn verified_chain(&self) -> Vec<Vec<u8>> {
        let ssl = self.stream.ssl();
        if !self.handshaken
            || self.unverified
            || ssl.verify_result() != openssl::x509::X509VerifyResult::OK
        {
            return Vec::new();
        }
        let Some(leaf) = ssl.peer_certificate().and_then(|c| c.to_der().ok()) else {
            return Vec::new();
        };
        // A pinned certificate is a path of one, as on the other providers.
        if self.pins.as_ref().is_some_and(|p| p.certs.contains(&leaf)) {
            return vec![leaf];
        }
        ssl.verified_chain()
            .map(|c| c.iter().filter_map(|c| c.to_der().ok()).collect())
            .unwrap_or_default()
    }

    fn server_name(&self) -> Option<String> {
        self.state.client_server_name.clone().or_else(|| {
            self.stream
                .ssl()
                .servername(NameType::HOST_NAME)
                .map(str::to_owned)
        })
    }

    fn resumed(&self) -> bool {
        self.handshaken && self.stream.ssl().session_reused()
    }

    fn session(&self) -> Result<Option<Box<dyn memtls_engine::TlsSession>>> {
        let Some((newest, admission)) = &self.sessions else {
            return Ok(None);
        };
        // A resumed TLS 1.2 handshake issues no new session (OpenSSL calls no
        // new-session callback): the session it resumed is the newest.
        let ssl = self.stream.ssl();
        if ssl.session_reused()
            && ssl.version2() == Some(SslVersion::TLS1_2)
            && let (Some(session), Some(name)) = (ssl.session(), &self.state.client_server_name)
        {
            newest.keep_if_empty(name, session.to_owned());
        }
        Ok(newest
            .handed_out(admission)?
            .map(|s| Box::new(s) as Box<dyn memtls_engine::TlsSession>))
    }

    fn export_keying_material(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        length: u32,
    ) -> Result<Vec<u8>> {
        self.state
            .check_export(self.handshaken, label, context, length)?;
        // OpenSSL's TLS 1.2 PRF takes a seed of at most 1024 bytes: the label,
        // both randoms and the context with its length.
        const TLS12_PRF_MAX_SEED: usize = 1024;
        let seed = label.len() + 64 + context.map_or(0, |c| 2 + c.len());
        if self.protocol_version() == Some(ProtocolVersion::Tls12) && seed > TLS12_PRF_MAX_SEED {
            return Err(Error::misuse(format!(
                "export-keying-material: on TLS 1.2 OpenSSL's PRF takes at most \
                 {TLS12_PRF_MAX_SEED} bytes of label, randoms and context, and this call \
                 needs {seed}: shorten the label or the context"
            )));
        }
        let mut out = vec![0u8; length as usize];
        let (context_ptr, context_len, use_context) = match context {
            Some(c) => (c.as_ptr(), c.len(), 1),
            None => (std::ptr::null(), 0, 0),
        };
        // SAFETY: the SSL is this connection's, live; `out`, `label` and the
        // context are valid for the lengths given (the label is bytes, as RFC
        // 5705 has it; the openssl crate would insist on UTF-8).
        let derived = unsafe {
            openssl_sys::SSL_export_keying_material(
                crate::ffi::ssl_ptr(self.stream.ssl()),
                out.as_mut_ptr(),
                out.len(),
                label.as_ptr().cast(),
                label.len(),
                context_ptr,
                context_len,
                use_context,
            )
        };
        if derived != 1 {
            let stack = openssl::error::ErrorStack::get();
            return Err(Error::misuse(format!(
                "export-keying-material: OpenSSL could not derive {length} bytes for this \
                 label and context ({})",
                error::describe(&stack)
            )));
        }
        Ok(out)
    }

    fn request_key_update(&mut self) -> Result<()> {
        self.state.check_key_update(
            self.handshaken,
            self.protocol_version(),
            self.outgoing_len(),
        )?;
        // SAFETY: the pointer is this connection's live `SSL`; SSL_key_update
        // only schedules the update, which the handshake call below sends.
        let scheduled = unsafe {
            crate::ffi::SSL_key_update(
                crate::ffi::ssl_ptr(self.stream.ssl()),
                crate::ffi::SSL_KEY_UPDATE_REQUESTED,
            )
        };
        if scheduled != 1 {
            return Err(Error::misuse(
                "request-key-update: OpenSSL refused (a KeyUpdate is already pending)",
            ));
        }
        crate::notes::clear(self.stream.ssl());
        match self.stream.do_handshake() {
            Ok(()) => Ok(()),
            Err(e) if e.code() == ErrorCode::WANT_READ => Ok(()),
            Err(e) => {
                let err = self.error_of(&e);
                Err(self.fail(err))
            }
        }
    }
}

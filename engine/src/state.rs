//! What every provider's connection keeps the same way, and the rules on it:
//! the sticky error, the shutdown flags, the bound on buffered ciphertext,
//! the client's server name, its place in the instance's admission — and
//! what `write`, `request-key-update` and `export-keying-material` check
//! before the library is asked. The rustls and the OpenSSL connections both
//! hold one.

use crate::connection::{MAX_EXPORT_CONTEXT_LEN, MAX_EXPORT_LABEL_LEN, MAX_EXPORT_LEN};
use crate::{Error, Permit, Progress, ProtocolVersion, Result, WriteOutcome};

/// One connection's shared state.
#[derive(Debug)]
pub struct ConnectionState {
    /// Most ciphertext bytes held before `write` stops accepting plaintext.
    pub max_buffered: usize,
    /// On a client: the name connected to.
    pub client_server_name: Option<String>,
    /// Our close_notify was queued.
    pub close_sent: bool,
    /// The peer's close_notify arrived.
    pub peer_closed: bool,
    /// The first fatal error; every later call returns it.
    failed: Option<Error>,
    /// This connection's share of the instance's admission.
    _permit: Permit,
}

impl ConnectionState {
    /// A new connection's state, holding `permit`.
    pub fn new(max_buffered: usize, client_server_name: Option<String>, permit: Permit) -> Self {
        Self {
            max_buffered,
            client_server_name,
            close_sent: false,
            peer_closed: false,
            failed: None,
            _permit: permit,
        }
    }

    /// The sticky error, if the connection failed.
    pub fn check(&self) -> Result<()> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Whether the connection failed.
    pub fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Records `err` as the connection's sticky error and returns it.
    pub fn fail(&mut self, err: Error) -> Error {
        self.failed = Some(err.clone());
        err
    }

    /// `write`'s first check: not failed, not shut down.
    pub fn may_write(&self) -> Result<()> {
        self.check()?;
        if self.close_sent {
            return Err(Error::write_after_shutdown());
        }
        Ok(())
    }

    /// What `write` answers before taking any of `len` bytes of plaintext
    /// while the handshake is at `progress` and `pending` bytes of ciphertext
    /// wait: the handshake's progress until it is done, then `want-write`
    /// while the buffer is full; `None` when the plaintext may go.
    pub fn before_writing(
        &self,
        progress: Progress,
        pending: usize,
        len: usize,
    ) -> Option<WriteOutcome> {
        match progress {
            Progress::Done if pending >= self.max_buffered && len > 0 => {
                Some(WriteOutcome::WantWrite)
            }
            Progress::Done => None,
            Progress::WantRead => Some(WriteOutcome::WantRead),
            Progress::WantWrite => Some(WriteOutcome::WantWrite),
        }
    }

    /// Whether a KeyUpdate may be sent now: TLS 1.3 (`version`), after the
    /// handshake (`handshake_complete`), before shutdown, with room for it
    /// beside the `pending` bytes of ciphertext.
    pub fn check_key_update(
        &self,
        handshake_complete: bool,
        version: Option<ProtocolVersion>,
        pending: usize,
    ) -> Result<()> {
        self.check()?;
        if !handshake_complete {
            return Err(Error::misuse(
                "request-key-update before the handshake is complete",
            ));
        }
        if version != Some(ProtocolVersion::Tls13) {
            return Err(Error::misuse("request-key-update needs TLS 1.3"));
        }
        if self.close_sent {
            return Err(Error::misuse("request-key-update after shutdown"));
        }
        if pending >= self.max_buffered {
            return Err(Error::limit(format!(
                "request-key-update: {pending} bytes of ciphertext wait to be taken \
                 (max-buffered-bytes is {}); take and send them first",
                self.max_buffered
            )));
        }
        Ok(())
    }

    /// Whether keying material may be exported now: after the handshake
    /// (`handshake_complete`), with arguments within the interface's bounds
    /// (length 1 to [`MAX_EXPORT_LEN`], label 1 to [`MAX_EXPORT_LABEL_LEN`]
    /// bytes, context at most [`MAX_EXPORT_CONTEXT_LEN`]).
    pub fn check_export(
        &self,
        handshake_complete: bool,
        label: &[u8],
        context: Option<&[u8]>,
        length: u32,
    ) -> Result<()> {
        self.check()?;
        if !handshake_complete {
            return Err(Error::misuse(
                "export-keying-material before the handshake is complete",
            ));
        }
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
}

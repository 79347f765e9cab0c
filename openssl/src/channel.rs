//! The memory channel under one connection: ciphertext in, ciphertext out.

use std::io::{self, Read, Write};

/// The memory channel under one `SslStream`: ciphertext fed in, ciphertext to
/// take out, and whether the transport ended.
#[derive(Debug, Default)]
pub struct Channel {
    pub(crate) incoming: Vec<u8>,
    pub(crate) in_start: usize,
    pub(crate) outgoing: Vec<u8>,
    pub(crate) eof: bool,
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = &self.incoming[self.in_start..];
        if available.is_empty() {
            // Even after `eof`: the connection reports the transport's end
            // itself (ragged or not). Told of it, OpenSSL would treat it as a
            // fatal error and forget the session, which the interface keeps
            // resumable as the rustls providers do (RFC 5246 no longer asks
            // otherwise).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.in_start += n;
        if self.in_start == self.incoming.len() {
            self.incoming.clear();
            self.in_start = 0;
        }
        Ok(n)
    }
}

impl Write for Channel {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.outgoing.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

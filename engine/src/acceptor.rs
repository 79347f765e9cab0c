//! A server connection's first step when the server chooses its configuration
//! by what the client asks for: read the ClientHello, say what it contains, then
//! continue as a connection of the server context the caller picks (CPython's
//! `sni_callback`, PEP 543's SNI callback).

use std::io;
use std::sync::Arc;

use crate::{Admission, Connection, Error, ErrorKind, Permit, Result, ServerContext};

/// What a client asked for in its ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The name the client sent (SNI), if any.
    pub server_name: Option<String>,
    /// The ALPN protocols the client offered, in its order.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// The cipher suites the client offered, as IANA ids, in its order.
    pub cipher_suites: Vec<u16>,
    /// The key-exchange groups the client supports, as IANA ids, in its
    /// order.
    pub key_exchange_groups: Vec<u16>,
}

/// An incoming server connection before its configuration is chosen.
pub struct Acceptor {
    reading: rustls::server::Acceptor,
    accepted: Option<(rustls::server::Accepted, ClientHello)>,
    /// The alert for a refused hello, waiting to be taken.
    outgoing: Vec<u8>,
    failed: Option<Error>,
    max_buffered: usize,
    /// Handed to the connection `accept` makes (none once it has).
    permit: Option<Permit>,
    /// For another TLS library ([`Acceptor::start_for_hand_over`]): the
    /// ciphertext taken so far, to be fed to its connection.
    taken: Option<Vec<u8>>,
}

impl Acceptor {
    /// Starts reading a ClientHello, admitted by `admission` as a connection
    /// (the permit passes to the connection `accept` makes).
    pub fn start(admission: &Admission) -> Result<Self> {
        let permit = admission.connection()?;
        Ok(Self {
            reading: rustls::server::Acceptor::default(),
            accepted: None,
            outgoing: Vec::new(),
            failed: None,
            max_buffered: admission.policy().max_buffered_bytes,
            permit: Some(permit),
            taken: None,
        })
    }

    /// Like [`Acceptor::start`], for a provider on another TLS library: the
    /// acceptor reads the ClientHello as usual and keeps the ciphertext it
    /// took, which [`Acceptor::hand_over`] gives to that library's connection.
    pub fn start_for_hand_over(admission: &Admission) -> Result<Self> {
        let mut a = Self::start(admission)?;
        a.taken = Some(Vec::new());
        Ok(a)
    }

    /// For an acceptor made with [`Acceptor::start_for_hand_over`], once the
    /// ClientHello is complete: the ciphertext taken (the ClientHello and
    /// anything after it in the same reads) and the connection's place under
    /// the policy. The acceptor is then done; a failure of the connection
    /// that continues is reported with [`Acceptor::failed_with`].
    pub fn hand_over(&mut self) -> Result<(Vec<u8>, Permit)> {
        self.check()?;
        if self.taken.is_none() {
            return Err(Error::misuse(
                "this acceptor was not started for another library's connection",
            ));
        }
        if self.accepted.take().is_none() {
            return Err(Error::misuse(
                "the ClientHello is not complete yet: feed more ciphertext first",
            ));
        }
        let taken = self.taken.take().expect("checked: started for hand-over");
        let permit = self.permit.take().expect("checked: not yet accepted");
        Ok((taken, permit))
    }

    /// The connection continuing from [`Acceptor::hand_over`] failed with
    /// `err`, and `alert` (its ciphertext) is to be taken here.
    pub fn failed_with(&mut self, err: Error, alert: Vec<u8>) -> Error {
        self.outgoing.extend_from_slice(&alert);
        self.fail(err)
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None if self.permit.is_none() => Err(Error::misuse(
                "this acceptor has already become a connection: use that connection",
            )),
            None => Ok(()),
        }
    }

    fn fail(&mut self, err: Error) -> Error {
        self.failed = Some(err.clone());
        err
    }

    /// Takes ciphertext from the client until the ClientHello is complete;
    /// returns how much was taken (nothing once the hello is complete: the rest
    /// goes to the connection `accept` makes).
    pub fn feed(&mut self, mut data: &[u8]) -> Result<u32> {
        self.check()?;
        let (total, start) = (data.len(), data);
        while self.accepted.is_none() && !data.is_empty() {
            match self.reading.read_tls(&mut data) {
                Ok(0) => break,
                Ok(_) => self.poll()?,
                // rustls's buffer is full: a ClientHello that large is refused
                // by `poll` once it is complete, so this is back-pressure.
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => return Err(self.fail(Error::new(ErrorKind::Protocol, e.to_string()))),
            }
        }
        let took = total - data.len();
        if let Some(taken) = &mut self.taken {
            taken.extend_from_slice(&start[..took]);
        }
        Ok(u32::try_from(took).unwrap_or(u32::MAX))
    }

    fn poll(&mut self) -> Result<()> {
        match self.reading.accept() {
            Ok(None) => Ok(()),
            Ok(Some(accepted)) => {
                let hello = {
                    let h = accepted.client_hello();
                    ClientHello {
                        server_name: h.server_name().map(str::to_owned),
                        alpn_protocols: h
                            .alpn()
                            .map(|names| names.map(<[u8]>::to_vec).collect())
                            .unwrap_or_default(),
                        cipher_suites: h.cipher_suites().iter().map(|s| u16::from(*s)).collect(),
                        key_exchange_groups: h
                            .named_groups()
                            .unwrap_or_default()
                            .iter()
                            .map(|g| u16::from(*g))
                            .collect(),
                    }
                };
                self.accepted = Some((accepted, hello));
                Ok(())
            }
            Err((e, mut alert)) => {
                let _ = alert.write_all(&mut self.outgoing);
                Err(self.fail(Error::from_rustls(&e)))
            }
        }
    }

    /// The ClientHello, once it is complete.
    pub fn client_hello(&self) -> Option<&ClientHello> {
        self.accepted.as_ref().map(|(_, hello)| hello)
    }

    /// The transport closed: an error unless the ClientHello is complete.
    pub fn eof(&mut self) -> Result<()> {
        self.check()?;
        if self.accepted.is_none() {
            return Err(self.fail(Error::new(
                ErrorKind::RaggedEof,
                "the transport closed before the ClientHello was complete",
            )));
        }
        Ok(())
    }

    /// Refuses the client with a fatal alert of this description (RFC 8446
    /// §6), queued to be taken; the acceptor is then finished.
    pub fn refuse(&mut self, description: u8) -> Result<()> {
        self.check()?;
        // An alert before any keys are agreed is a plaintext record: content
        // type 21, legacy version TLS 1.2, length 2, level fatal (2).
        self.outgoing
            .extend_from_slice(&[21, 3, 3, 0, 2, 2, description]);
        let name = crate::alert_name(description);
        self.fail(Error::new(
            ErrorKind::Protocol,
            format!("the server refused the client with the {name} alert"),
        ));
        Ok(())
    }

    /// Continues the handshake as a connection of `context`, once the
    /// ClientHello is complete. When `context` cannot serve this client (no
    /// common version, suite or ALPN protocol) the error comes with an alert
    /// waiting to be taken here.
    pub fn accept(&mut self, context: &ServerContext) -> Result<Connection> {
        self.check()?;
        let Some((accepted, _)) = self.accepted.take() else {
            return Err(Error::misuse(
                "the ClientHello is not complete yet: feed more ciphertext first",
            ));
        };
        match accepted.into_connection(Arc::clone(&context.tls)) {
            Ok(tls) => {
                let permit = self.permit.take().expect("checked: not yet accepted");
                Ok(Connection::new(tls.into(), self.max_buffered, None, permit))
            }
            Err((e, mut alert)) => {
                let _ = alert.write_all(&mut self.outgoing);
                Err(self.fail(Error::from_rustls(&e)))
            }
        }
    }

    /// Hands out up to `max` bytes of waiting ciphertext (an alert).
    pub fn take(&mut self, max: u32) -> Vec<u8> {
        let n = self.outgoing.len().min(max as usize);
        self.outgoing.drain(..n).collect()
    }

    /// How many bytes of ciphertext are waiting.
    pub fn pending_ciphertext(&self) -> u32 {
        u32::try_from(self.outgoing.len()).unwrap_or(u32::MAX)
    }
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("client_hello", &self.client_hello())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

//! The wasi:tls adapter: a component that exports the `wasi:tls` 0.3 draft's
//! client (`wasi:tls/client@0.3.0-draft`, `wasi:tls/types@0.3.0-draft`) and
//! imports `memtls:tls`. A program written against wasi:tls gets its TLS from
//! a memtls provider: composed with the guest provider it needs no TLS from its
//! host at all; on the native or openssl provider it runs under the embedder's
//! memtls policy. The program does not change.
//!
//! How the draft maps onto the memory channel:
//!
//! - `send(cleartext)` and `receive(ciphertext)` only set the streams aside and
//!   hand back the other ends; `connect(server-name)` opens a `memtls:tls`
//!   connection on this instance's client context and runs the handshake over
//!   them. Its result is the handshake's: a refusal comes back as an `error`
//!   whose debug string is memtls's sentence, after the fatal alert memtls
//!   queued has been sent to the peer.
//! - After the handshake, the two directions run on in the task `connect`
//!   started: plaintext from `cleartext` is written to the connection and the
//!   ciphertext taken from it goes out; ciphertext from the transport is fed
//!   in and the plaintext read from it goes to the application. Every step
//!   waits for its reader, so nothing buffers more than a chunk plus what the
//!   connection itself holds (bounded by the policy).
//! - The end of `cleartext` sends close_notify and then ends the ciphertext
//!   stream; `send`'s future resolves then. `receive`'s future resolves ok
//!   after the peer's close_notify and with an error when the transport ended
//!   without one (a truncation the application should know about).
//!
//! Trust is `system` trust: what the embedder's policy makes of it (the base
//! roots and the extra anchors it adds, `memtls run --ca-file`).

#![warn(missing_docs)]

use std::cell::RefCell;
use std::rc::Rc;

use futures::lock::Mutex;

// Generated from the documented WIT; some generated items carry no docs.
#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "memtls:wasi-tls/adapter",
        path: "wit",
        with: { "memtls:tls/tls@0.1.0": memtls_stream::tls },
        generate_all,
    });
}

use bindings::exports::wasi::tls::client::{Connector, Guest as ClientGuest, GuestConnector};
use bindings::exports::wasi::tls::types::{Error, Guest as TypesGuest, GuestError};
use bindings::{wit_future, wit_stream};
use memtls_stream::tls as memtls;
use wit_bindgen::{FutureReader, FutureWriter, StreamReader, StreamResult, StreamWriter};

/// The exported component.
pub struct Adapter;

bindings::export!(Adapter with_types_in bindings);

impl TypesGuest for Adapter {
    type Error = Failure;
}

impl ClientGuest for Adapter {
    type Connector = Setup;
}

/// Bytes moved per step, each way: at most this much plaintext is read from the
/// application, and ciphertext read from the transport, before it is handed on.
const CHUNK: usize = 64 * 1024;

/// Why a connection failed: the `error` resource's representation. Its debug
/// string is the sentence memtls (or this adapter) wrote, followed by the
/// memtls error kind in brackets (`[certificate-rejected(unknown-issuer)]`),
/// which is all a wasi:tls program has to branch on.
pub struct Failure(String);

impl GuestError for Failure {
    fn to_debug_string(&self) -> String {
        self.0.clone()
    }
}

impl From<memtls::Error> for Failure {
    fn from(e: memtls::Error) -> Self {
        Failure(format!(
            "{} [{}]",
            e.message,
            memtls_stream::kind_name(&e.kind)
        ))
    }
}

impl Failure {
    fn new(message: impl Into<String>) -> Self {
        Failure(message.into())
    }

    fn resource(self) -> Error {
        Error::new(self)
    }
}

/// The result a side's future carries.
type Outcome = Result<(), Error>;

/// A side's future. Its writer is always written by the adapter: on the
/// sending and receiving tasks, or by [`settle`]; an unwritten writer dropped
/// outside a task traps (wit-bindgen 0.61 can only write from a task), so
/// none is ever dropped: see [`orphan`]. The default value is only a backstop.
fn outcome_future() -> (FutureWriter<Outcome>, FutureReader<Outcome>) {
    wit_future::new(|| Err(Failure::new("the connector went away").resource()))
}

/// Writes `Err(message)` to `done` in the background (needs a task: only
/// `connect` has one).
fn settle(done: FutureWriter<Outcome>, message: String) {
    wit_bindgen::spawn_local(async move {
        let _ = done.write(Err(Failure::new(message).resource())).await;
    });
}

thread_local! {
    /// Futures whose answer is known but which a synchronous call could not
    /// write (a refused second `send`, a connector dropped before `connect`):
    /// the next `connect` on this instance writes them.
    static ORPHANS: RefCell<Vec<(FutureWriter<Outcome>, String)>> = const { RefCell::new(Vec::new()) };
}

/// Keeps `done` for the next `connect` to settle with `message`.
fn orphan(done: FutureWriter<Outcome>, message: &str) {
    ORPHANS.with(|o| o.borrow_mut().push((done, message.to_string())));
}

/// Settles every orphaned future (from inside `connect`'s task).
fn settle_orphans() {
    for (done, message) in ORPHANS.with(|o| std::mem::take(&mut *o.borrow_mut())) {
        settle(done, message);
    }
}

/// What `send` set aside: the application's plaintext, the ciphertext stream
/// handed back, and the future reporting how sending ended.
struct SendSide {
    cleartext: StreamReader<u8>,
    ciphertext: StreamWriter<u8>,
    done: FutureWriter<Outcome>,
}

/// What `receive` set aside: the transport's ciphertext, the plaintext stream
/// handed back, and the future reporting how receiving ended.
struct ReceiveSide {
    ciphertext: StreamReader<u8>,
    cleartext: StreamWriter<u8>,
    done: FutureWriter<Outcome>,
}

/// A connector: the streams `send` and `receive` set up, waiting for `connect`.
pub struct Setup {
    send: RefCell<Option<SendSide>>,
    receive: RefCell<Option<ReceiveSide>>,
}

impl Drop for Setup {
    /// A connector dropped before `connect`: its futures are answered by the
    /// next `connect` (a drop cannot write them).
    fn drop(&mut self) {
        const DROPPED: &str = "the connector was dropped before connect";
        if let Some(side) = self.send.take() {
            orphan(side.done, DROPPED);
        }
        if let Some(side) = self.receive.take() {
            orphan(side.done, DROPPED);
        }
    }
}

impl Setup {
    /// A second `send` or `receive`: the stream it was given is dropped, the
    /// stream handed back is empty, and its future says why once this instance
    /// next runs `connect` (this synchronous call cannot write it).
    fn refused(&self) -> (StreamReader<u8>, FutureReader<Outcome>) {
        let (writer, reader) = wit_stream::new();
        drop(writer);
        let (done, result) = outcome_future();
        orphan(
            done,
            "send and receive may each be called once per connector",
        );
        (reader, result)
    }
}

impl GuestConnector for Setup {
    fn new() -> Self {
        Setup {
            send: RefCell::new(None),
            receive: RefCell::new(None),
        }
    }

    fn send(&self, cleartext: StreamReader<u8>) -> (StreamReader<u8>, FutureReader<Outcome>) {
        let mut slot = self.send.borrow_mut();
        if slot.is_some() {
            return self.refused();
        }
        let (ciphertext, out) = wit_stream::new();
        let (done, result) = outcome_future();
        *slot = Some(SendSide {
            cleartext,
            ciphertext,
            done,
        });
        (out, result)
    }

    fn receive(&self, ciphertext: StreamReader<u8>) -> (StreamReader<u8>, FutureReader<Outcome>) {
        let mut slot = self.receive.borrow_mut();
        if slot.is_some() {
            return self.refused();
        }
        let (cleartext, out) = wit_stream::new();
        let (done, result) = outcome_future();
        *slot = Some(ReceiveSide {
            ciphertext,
            cleartext,
            done,
        });
        (out, result)
    }

    async fn connect(this: Connector, server_name: String) -> Result<(), Error> {
        let setup = this.get::<Setup>();
        let (send, receive) = (setup.send.take(), setup.receive.take());
        drop(this);
        settle_orphans();
        const BOTH: &str =
            "connect needs the connector's send and receive streams: call both first";
        let (send, receive) = match (send, receive) {
            (Some(send), Some(receive)) => (send, receive),
            (send, receive) => {
                let dones = send.map(|s| s.done).into_iter();
                for done in dones.chain(receive.map(|r| r.done)) {
                    settle(done, BOTH.into());
                }
                return Err(Failure::new(BOTH).resource());
            }
        };
        let connection = match client_context().and_then(|c| c.connect(&server_name)) {
            Ok(connection) => connection,
            Err(e) => {
                let Failure(message) = Failure::from(e);
                settle(send.done, message.clone());
                settle(receive.done, message.clone());
                return Err(Failure::new(message).resource());
            }
        };
        let link = Rc::new(Link {
            connection,
            out: Mutex::new(Some(send.ciphertext)),
        });
        let mut incoming = Incoming {
            transport: receive.ciphertext,
            unfed: Vec::new(),
            ended: false,
        };
        if let Err(failure) = link.handshake(&mut incoming).await {
            // The alert (if memtls queued one) went out with the last flush;
            // now the ciphertext stream ends, and both sides report the refusal.
            link.close_out().await;
            settle(send.done, failure.0.clone());
            settle(receive.done, failure.0.clone());
            return Err(failure.resource());
        }
        wit_bindgen::spawn_local(sending(link.clone(), send.cleartext, send.done));
        wit_bindgen::spawn_local(receiving(link, incoming, receive.cleartext, receive.done));
        Ok(())
    }
}

thread_local! {
    /// This instance's client context (made on first use, then shared by every
    /// connection, and with it the session cache).
    static CONTEXT: RefCell<Option<Rc<memtls::ClientContext>>> = const { RefCell::new(None) };
}

/// The client context every connection uses: `system` trust, as the
/// embedder's policy defines it, and the provider's defaults otherwise.
fn client_context() -> Result<Rc<memtls::ClientContext>, memtls::Error> {
    CONTEXT.with(|slot| {
        if let Some(context) = slot.borrow().as_ref() {
            return Ok(context.clone());
        }
        let context = Rc::new(memtls::ClientContext::create(&memtls::ClientConfig::new(
            memtls::TrustStore::system(),
        ))?);
        *slot.borrow_mut() = Some(context.clone());
        Ok(context)
    })
}

/// One connection and the ciphertext stream its records go out on. Both
/// directions write to that stream, so it sits behind an async lock: whoever
/// holds it takes everything pending, in order.
struct Link {
    connection: memtls::Connection,
    out: Mutex<Option<StreamWriter<u8>>>,
}

/// The ciphertext coming in from the transport, and what the connection has
/// not accepted of it yet.
struct Incoming {
    transport: StreamReader<u8>,
    unfed: Vec<u8>,
    ended: bool,
}

impl Incoming {
    /// Feeds the connection: what it did not take last time, else the next
    /// chunk from the transport; at the transport's end, tells it so (`eof`).
    /// Returns false when nothing more will ever come.
    async fn feed(&mut self, connection: &memtls::Connection) -> Result<bool, Failure> {
        if self.unfed.is_empty() {
            if self.ended {
                return Ok(false);
            }
            let (status, chunk) = self.transport.read(Vec::with_capacity(CHUNK)).await;
            match status {
                StreamResult::Complete(_) => self.unfed = chunk,
                StreamResult::Dropped | StreamResult::Cancelled => {
                    self.ended = true;
                    connection.eof()?;
                    return Ok(true);
                }
            }
        }
        let taken = connection.feed(&self.unfed)? as usize;
        self.unfed.drain(..taken.min(self.unfed.len()));
        Ok(true)
    }
}

impl Link {
    /// Sends every ciphertext byte the connection has waiting. When the
    /// stream's reader has gone, there is nobody left to send to: an error.
    async fn flush(&self) -> Result<(), Failure> {
        // Taken under the lock, so that records go out in the order they were
        // made; each `take` hands over everything waiting (no copy).
        let mut out = self.out.lock().await;
        loop {
            let records = self.connection.take(u32::MAX);
            if records.is_empty() {
                return Ok(());
            }
            let Some(stream) = out.as_mut() else {
                // Sending has ended (close_notify went out): nothing more may.
                return Ok(());
            };
            if !stream.write_all(records).await.is_empty() {
                *out = None;
                return Err(Failure::new(
                    "the transport stopped taking ciphertext (the reader of send's stream went away)",
                ));
            }
        }
    }

    /// Ends the ciphertext stream.
    async fn close_out(&self) {
        self.out.lock().await.take();
    }

    /// Sends what a failed step left pending: the fatal alert telling the peer
    /// why (the interface's rule after any error), then passes the error on.
    async fn failed<T>(&self, result: Result<T, Failure>) -> Result<T, Failure> {
        if result.is_err() {
            let _ = self.flush().await;
        }
        result
    }

    /// Runs the handshake, sending what it produces (the peer's fatal alert
    /// included, when it fails) and feeding what the transport brings.
    async fn handshake(&self, incoming: &mut Incoming) -> Result<(), Failure> {
        let result = self.handshake_steps(incoming).await;
        self.failed(result).await
    }

    async fn handshake_steps(&self, incoming: &mut Incoming) -> Result<(), Failure> {
        loop {
            let progress = self.connection.handshake();
            self.flush().await?;
            match progress? {
                memtls::Progress::Done => return Ok(()),
                memtls::Progress::WantWrite => {}
                memtls::Progress::WantRead => {
                    if !incoming.feed(&self.connection).await? {
                        // The transport ended and memtls was told; it answers
                        // with its own error on the next step, or this one.
                        let progress = self.connection.handshake();
                        self.flush().await?;
                        progress?;
                        return Err(Failure::new(
                            "the transport ended before the handshake was complete",
                        ));
                    }
                }
            }
        }
    }

    /// Writes all of `data` to the connection, sending its records as they are
    /// made (a full connection accepts more once they are taken).
    async fn write(&self, mut data: &[u8]) -> Result<(), Failure> {
        while !data.is_empty() {
            match self.connection.write(data)? {
                memtls::WriteOutcome::Written(n) => data = &data[(n as usize).min(data.len())..],
                memtls::WriteOutcome::WantWrite => {}
                // Not after a completed handshake; let the receiving side run.
                memtls::WriteOutcome::WantRead => wit_bindgen::yield_async().await,
            }
            self.flush().await?;
        }
        Ok(())
    }
}

/// The sending side after the handshake: the application's plaintext is
/// encrypted and sent until its stream ends; then close_notify, then the end
/// of the ciphertext stream.
async fn sending(link: Rc<Link>, mut cleartext: StreamReader<u8>, done: FutureWriter<Outcome>) {
    let outcome = async {
        loop {
            let (status, chunk) = cleartext.read(Vec::with_capacity(CHUNK)).await;
            match status {
                StreamResult::Complete(_) => link.write(&chunk).await?,
                StreamResult::Dropped | StreamResult::Cancelled => break,
            }
        }
        match link.connection.shutdown() {
            // The peer's side is over already (its close_notify, or the
            // transport's end, which receiving reports): close_notify goes
            // out if it still can, and sending is done.
            Err(e)
                if matches!(
                    e.kind,
                    memtls::ErrorKind::Closed | memtls::ErrorKind::RaggedEof
                ) => {}
            other => {
                other?;
            }
        }
        link.flush().await?;
        link.close_out().await;
        Ok::<(), Failure>(())
    }
    .await;
    let outcome = link.failed(outcome).await;
    drop(cleartext);
    let _ = done.write(outcome.map_err(Failure::resource)).await;
}

/// The receiving side after the handshake: ciphertext from the transport is
/// fed in and the plaintext handed to the application, until the peer's
/// close_notify (ok), the transport's end without it (an error: the data may
/// be truncated), or a failure (its alert sent first).
async fn receiving(
    link: Rc<Link>,
    mut incoming: Incoming,
    mut cleartext: StreamWriter<u8>,
    done: FutureWriter<Outcome>,
) {
    let outcome = async {
        loop {
            let step = link.connection.read(CHUNK as u32);
            link.flush().await?;
            match step {
                Ok(memtls::ReadOutcome::Data(plaintext)) => {
                    if !cleartext.write_all(plaintext).await.is_empty() {
                        // The application stopped reading: nothing to deliver to.
                        return Ok(());
                    }
                }
                Ok(memtls::ReadOutcome::WantRead) => {
                    if !incoming.feed(&link.connection).await? {
                        return Err(Failure::new(
                            "the transport ended and the connection asks for more",
                        ));
                    }
                }
                Ok(memtls::ReadOutcome::WantWrite) => {}
                Err(e) if matches!(e.kind, memtls::ErrorKind::Closed) => return Ok(()),
                Err(e) => return Err(Failure::from(e)),
            }
        }
    }
    .await;
    let outcome = link.failed(outcome).await;
    drop(cleartext);
    drop(incoming);
    let _ = done.write(outcome.map_err(Failure::resource)).await;
}

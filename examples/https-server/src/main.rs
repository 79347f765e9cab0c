//! `https-server`: a concurrent HTTPS/1.1 server in one WASI 0.2 component.
//!
//! Many connections at once on one thread: non-blocking wasi:sockets streams,
//! one `wasi:io/poll` call per turn of the event loop (WASI 0.2 `poll`, not
//! WASI 0.3 async), TLS through memtls's memory channel. Each connection is a
//! state machine that moves ciphertext between its TCP streams and its memtls
//! connection and answers HTTP/1.1 requests, keep-alive and pipelined.
//!
//! ```text
//! https-server (--cert PATH --key PATH | --identity NAME) [options]
//!   --listen ADDR             address to listen on (default 127.0.0.1:8443)
//!   --max-open N              connections held at once (default 1000); more
//!                             wait in the listen backlog
//!   --backlog N               listen backlog (default 1024)
//!   --handshake-timeout SECS  a connection must finish its handshake within
//!                             this time of being accepted (default 10)
//!   --idle-timeout SECS       a connection that makes no progress (no request
//!                             read, no response byte taken) for this long is
//!                             closed (default 30)
//!   --bulk-bytes N            size of the /bulk response (default 1048576)
//!   --stop-on-stdin-eof       shut down cleanly when standard input ends
//! ```
//!
//! Routes: `GET /` a small page, `GET /bulk` `--bulk-bytes` bytes, `GET /stats`
//! the server's counters as JSON; `HEAD` as `GET` without the body. A request
//! with a body, a head over 8 KiB or a malformed request line is answered with
//! its 4xx status and the connection closed.
//!
//! Every buffer is bounded: ciphertext is read in pieces of one TLS record and
//! read again only once fed; plaintext is written into the connection only
//! while it holds less than 64 KiB of ciphertext; a request head is at most
//! 8 KiB. A clean shutdown (`--stop-on-stdin-eof`) stops accepting, lets every
//! response in progress finish, closes every connection with close_notify and
//! prints the counters as a `memtls-result` report.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use memtls_stream::tls::{
    self, Connection, ErrorKind, Progress, ReadOutcome, ServerConfig, ServerContext, WriteOutcome,
};
use memtls_stream::{kind_name, server_chain};
use wasip2::clocks::monotonic_clock;
use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::network::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasip2::sockets::tcp::{ShutdownType, TcpSocket};
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

/// Ciphertext read from TCP at once: one full TLS record with its overhead.
const READ_CHUNK: u64 = 16 * 1024 + 512;
/// Ciphertext taken from the connection at once.
const TAKE_CHUNK: u32 = 64 * 1024;
/// Plaintext is written into a connection only while it holds less ciphertext
/// than this (backpressure from a slow reader).
const MAX_PENDING_CIPHERTEXT: u32 = 64 * 1024;
/// Plaintext written into a connection per call.
const WRITE_PIECE: usize = 16 * 1024;
/// The longest request head (request line and headers).
const MAX_HEAD: usize = 8 * 1024;
/// Connections accepted per turn of the loop (the others wait for the next).
const ACCEPTS_PER_TURN: usize = 64;
/// Steps one connection may take per turn (fairness between connections).
const STEPS_PER_TURN: usize = 64;
/// How long a closing connection may take to send its last bytes.
const CLOSE_GRACE_NS: u64 = 2_000_000_000;
/// How long a clean shutdown waits for responses in progress.
const SHUTDOWN_GRACE_NS: u64 = 10_000_000_000;
/// The small response's body.
const SMALL_BODY: &[u8] = b"hello from memtls\n";
/// The bulk response's body, repeated.
static BULK_PATTERN: [u8; WRITE_PIECE] = [b'x'; WRITE_PIECE];

struct Args {
    listen: SocketAddr,
    cert: String,
    key: String,
    identity: Option<String>,
    max_open: usize,
    backlog: u64,
    handshake_timeout_ns: u64,
    idle_timeout_ns: u64,
    bulk_bytes: usize,
    stop_on_stdin_eof: bool,
}

fn seconds(name: &str, value: &str) -> Result<u64, String> {
    match value.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok((s * 1e9) as u64),
        _ => Err(format!(
            "{name} takes a number of seconds between 0 and 86400, not {value:?}"
        )),
    }
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{name} takes a whole number, not {value:?}"))
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
        cert: String::new(),
        key: String::new(),
        identity: None,
        max_open: 1000,
        backlog: 1024,
        handshake_timeout_ns: 10_000_000_000,
        idle_timeout_ns: 30_000_000_000,
        bulk_bytes: 1 << 20,
        stop_on_stdin_eof: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                a.listen = v.parse().map_err(|_| {
                    format!("--listen takes an address like 127.0.0.1:8443, not {v:?}")
                })?
            }
            "--cert" => a.cert = value("--cert")?,
            "--key" => a.key = value("--key")?,
            "--identity" => a.identity = Some(value("--identity")?),
            "--max-open" => a.max_open = number("--max-open", &value("--max-open")?)?,
            "--backlog" => a.backlog = number("--backlog", &value("--backlog")?)?,
            "--handshake-timeout" => {
                a.handshake_timeout_ns =
                    seconds("--handshake-timeout", &value("--handshake-timeout")?)?
            }
            "--idle-timeout" => {
                a.idle_timeout_ns = seconds("--idle-timeout", &value("--idle-timeout")?)?
            }
            "--bulk-bytes" => a.bulk_bytes = number("--bulk-bytes", &value("--bulk-bytes")?)?,
            "--stop-on-stdin-eof" => a.stop_on_stdin_eof = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.max_open == 0 {
        return Err("--max-open must be at least 1".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    match parse_args().and_then(|args| Server::start(args)?.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("https-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the server has done, reported by `/stats` and at shutdown.
#[derive(Default)]
struct Counters {
    /// Connections open now.
    open: u64,
    accepted: u64,
    peak_open: u64,
    handshakes: u64,
    resumed: u64,
    requests: u64,
    bytes_sent: u64,
    closed_by_client: u64,
    handshake_timeouts: u64,
    idle_timeouts: u64,
    tls_errors: u64,
    transport_errors: u64,
    refused: u64,
    /// TLS errors by kind (`protocol`, `alert-received(…)`…): first seen first.
    error_kinds: Vec<(String, u64)>,
}

impl Counters {
    fn json(&self) -> serde_json::Value {
        let kinds: serde_json::Map<String, serde_json::Value> = self
            .error_kinds
            .iter()
            .map(|(k, n)| (k.clone(), serde_json::json!(n)))
            .collect();
        serde_json::json!({
            "open": self.open,
            "peak_open": self.peak_open,
            "accepted": self.accepted,
            "handshakes": self.handshakes,
            "resumed": self.resumed,
            "requests": self.requests,
            "bytes_sent": self.bytes_sent,
            "closed_by_client": self.closed_by_client,
            "handshake_timeouts": self.handshake_timeouts,
            "idle_timeouts": self.idle_timeouts,
            "tls_errors": self.tls_errors,
            "transport_errors": self.transport_errors,
            "refused": self.refused,
            "error_kinds": kinds,
        })
    }

    fn count(&mut self, end: &End) {
        match end {
            End::Finished => {}
            End::ClientClosed => self.closed_by_client += 1,
            End::HandshakeTimeout => self.handshake_timeouts += 1,
            End::IdleTimeout => self.idle_timeouts += 1,
            End::Transport => self.transport_errors += 1,
            End::Tls(kind) => {
                self.tls_errors += 1;
                match self.error_kinds.iter_mut().find(|(k, _)| k == kind) {
                    Some((_, n)) => *n += 1,
                    None => self.error_kinds.push((kind.clone(), 1)),
                }
            }
        }
    }
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq)]
enum End {
    /// The server closed it after its last response (or at shutdown).
    Finished,
    /// The client closed it between requests.
    ClientClosed,
    HandshakeTimeout,
    IdleTimeout,
    /// TCP failed under it (a reset, a broken pipe).
    Transport,
    /// A TLS error of this kind (the alert that goes with it was sent).
    Tls(String),
}

struct Server {
    args: Args,
    context: ServerContext,
    listener: Option<(Pollable, TcpSocket)>,
    stdin: Option<(Pollable, InputStream)>,
    conns: Vec<Conn>,
    counters: Counters,
    /// Set once a clean shutdown began: the time by which it must be over.
    stopping: Option<u64>,
}

fn socket_address(addr: SocketAddr) -> (IpAddressFamily, IpSocketAddress) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            let [a, b, c, d] = ip.octets();
            (
                IpAddressFamily::Ipv4,
                IpSocketAddress::Ipv4(Ipv4SocketAddress {
                    port: addr.port(),
                    address: (a, b, c, d),
                }),
            )
        }
        IpAddr::V6(ip) => {
            let [a, b, c, d, e, f, g, h] = ip.segments();
            (
                IpAddressFamily::Ipv6,
                IpSocketAddress::Ipv6(Ipv6SocketAddress {
                    port: addr.port(),
                    flow_info: 0,
                    address: (a, b, c, d, e, f, g, h),
                    scope_id: 0,
                }),
            )
        }
    }
}

fn show_address(addr: &IpSocketAddress) -> String {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (w, x, y, z) = a.address;
            format!("{w}.{x}.{y}.{z}:{}", a.port)
        }
        IpSocketAddress::Ipv6(a) => {
            let (p, q, r, s, t, u, v, w) = a.address;
            format!(
                "[{}]:{}",
                std::net::Ipv6Addr::new(p, q, r, s, t, u, v, w),
                a.port
            )
        }
    }
}

/// Waits on `socket` until `finish` stops saying would-block.
fn finish<T>(
    socket: &TcpSocket,
    finish: impl Fn() -> Result<T, ErrorCode>,
) -> Result<T, ErrorCode> {
    let ready = socket.subscribe();
    loop {
        match finish() {
            Err(ErrorCode::WouldBlock) => ready.block(),
            other => return other,
        }
    }
}

fn listen(addr: SocketAddr, backlog: u64) -> Result<TcpSocket, String> {
    let failed = |what: &str, e: ErrorCode| {
        format!(
            "cannot listen on {addr}: {what}: {} ({})",
            e.name(),
            e.message()
        )
    };
    let network = wasip2::sockets::instance_network::instance_network();
    let (family, local) = socket_address(addr);
    let socket = create_tcp_socket(family).map_err(|e| failed("socket", e))?;
    socket
        .start_bind(&network, local)
        .map_err(|e| failed("bind", e))?;
    finish(&socket, || socket.finish_bind()).map_err(|e| failed("bind", e))?;
    // The host may clamp the backlog; a refusal here is not fatal.
    let _ = socket.set_listen_backlog_size(backlog.max(1));
    socket.start_listen().map_err(|e| failed("listen", e))?;
    finish(&socket, || socket.finish_listen()).map_err(|e| failed("listen", e))?;
    Ok(socket)
}

impl Server {
    fn start(args: Args) -> Result<Self, String> {
        let config = ServerConfig {
            alpn_protocols: vec![b"http/1.1".to_vec()],
            ..ServerConfig::new(server_chain(
                &args.cert,
                &args.key,
                args.identity.as_deref(),
            )?)
        };
        let context = ServerContext::create(&config)
            .map_err(|e| format!("configuration refused: {}", e.message))?;
        let socket = listen(args.listen, args.backlog)?;
        let local = socket
            .local_address()
            .map(|a| show_address(&a))
            .unwrap_or_else(|_| args.listen.to_string());
        println!("memtls-listening {local}");
        let stdin = args.stop_on_stdin_eof.then(|| {
            let input = wasip2::cli::stdin::get_stdin();
            (input.subscribe(), input)
        });
        Ok(Server {
            args,
            context,
            listener: Some((socket.subscribe(), socket)),
            stdin,
            conns: Vec::new(),
            counters: Counters::default(),
            stopping: None,
        })
    }

    fn run(mut self) -> Result<(), String> {
        loop {
            let now = monotonic_clock::now();
            if let Some(by) = self.stopping
                && (self.conns.is_empty() || now >= by)
            {
                break;
            }
            let (ready, accept, stdin) = self.wait(now);
            let now = monotonic_clock::now();
            if stdin {
                self.read_stdin(now);
            }
            if accept {
                self.accept(now);
            }
            self.counters.open = self.conns.len() as u64;
            let mut ended = Vec::new();
            for (i, conn) in self.conns.iter_mut().enumerate() {
                let end = if ready.get(i).copied().unwrap_or(false) || conn.deadline <= now {
                    conn.step(&self.args, &mut self.counters, now, self.stopping.is_some())
                } else {
                    None
                };
                if let Some(end) = end {
                    ended.push((i, end));
                }
            }
            for (i, end) in ended.into_iter().rev() {
                self.counters.count(&end);
                self.conns.swap_remove(i);
            }
        }
        // Whatever is left after the grace period is dropped (TCP closed).
        self.conns.clear();
        self.counters.open = 0;
        report::print(report::Tag::Result, &self.counters.json());
        Ok(())
    }

    /// Polls what can make progress: the listener (while there is room), stdin,
    /// each connection's streams (read while it wants ciphertext, write while
    /// it holds some) and a timer for the nearest deadline. Returns which
    /// connections are ready, and whether the listener and stdin are.
    fn wait(&self, now: u64) -> (Vec<bool>, bool, bool) {
        #[derive(Clone, Copy)]
        enum Owner {
            Listener,
            Stdin,
            Conn(usize),
            Timer,
        }
        let mut pollables: Vec<&Pollable> = Vec::with_capacity(2 * self.conns.len() + 3);
        let mut owners = Vec::with_capacity(pollables.capacity());
        if let Some((ready, _)) = &self.listener
            && self.stopping.is_none()
            && self.conns.len() < self.args.max_open
        {
            pollables.push(ready);
            owners.push(Owner::Listener);
        }
        if let Some((ready, _)) = &self.stdin {
            pollables.push(ready);
            owners.push(Owner::Stdin);
        }
        let mut deadline = self.stopping.unwrap_or(u64::MAX);
        for (i, conn) in self.conns.iter().enumerate() {
            deadline = deadline.min(conn.deadline);
            if conn.wants_input() {
                pollables.push(&conn.readable);
                owners.push(Owner::Conn(i));
            }
            if conn.wants_output() {
                pollables.push(&conn.writable);
                owners.push(Owner::Conn(i));
            }
        }
        let timer = (deadline != u64::MAX).then(|| {
            monotonic_clock::subscribe_duration(deadline.saturating_sub(now).max(1_000_000))
        });
        if let Some(t) = &timer {
            pollables.push(t);
            owners.push(Owner::Timer);
        }
        let mut conns = vec![false; self.conns.len()];
        let (mut accept, mut stdin) = (false, false);
        if pollables.is_empty() {
            return (conns, accept, stdin);
        }
        for index in poll(&pollables) {
            match owners[index as usize] {
                Owner::Listener => accept = true,
                Owner::Stdin => stdin = true,
                Owner::Conn(i) => conns[i] = true,
                Owner::Timer => {}
            }
        }
        (conns, accept, stdin)
    }

    /// Reads what stdin has; at its end a clean shutdown begins.
    fn read_stdin(&mut self, now: u64) {
        let Some((_, input)) = &self.stdin else {
            return;
        };
        match input.read(4096) {
            Ok(_) => {}
            Err(_) => {
                self.stdin = None;
                self.begin_shutdown(now);
            }
        }
    }

    /// Stops accepting; every connection closes after its response in progress.
    fn begin_shutdown(&mut self, now: u64) {
        if self.stopping.is_none() {
            self.stopping = Some(now + SHUTDOWN_GRACE_NS);
            self.listener = None;
            for conn in &mut self.conns {
                // Idle connections close at their next step; busy ones after
                // their response.
                conn.deadline = now;
            }
        }
    }

    fn accept(&mut self, now: u64) {
        let Some((_, listener)) = &self.listener else {
            return;
        };
        for _ in 0..ACCEPTS_PER_TURN {
            if self.conns.len() >= self.args.max_open {
                return;
            }
            let (socket, input, output) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(ErrorCode::WouldBlock) => return,
                Err(e) => {
                    // A connection that failed before it was accepted (reset
                    // in the backlog): nothing to serve.
                    self.counters.transport_errors += 1;
                    eprintln!("https-server: accept: {} ({})", e.name(), e.message());
                    return;
                }
            };
            self.counters.accepted += 1;
            let tls = match self.context.accept() {
                Ok(tls) => tls,
                Err(e) => {
                    // Over the policy's limit of connections: refused, TCP closed.
                    self.counters.refused += 1;
                    eprintln!("https-server: connection refused: {}", e.message);
                    let _ = socket.shutdown(ShutdownType::Both);
                    continue;
                }
            };
            self.conns.push(Conn {
                readable: input.subscribe(),
                writable: output.subscribe(),
                tls,
                input,
                output,
                socket,
                phase: Phase::Handshake,
                deadline: now + self.args.handshake_timeout_ns,
                cipher_in: Vec::new(),
                in_pos: 0,
                cipher_out: Vec::new(),
                out_pos: 0,
                eof: false,
                request: Vec::new(),
                response: None,
                close_after: false,
                hold_output: false,
            });
            self.counters.peak_open = self.counters.peak_open.max(self.conns.len() as u64);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Handshake,
    Open,
    /// Sending the last bytes (a response, close_notify, an alert), then
    /// flushing; the connection then ends as said.
    Closing {
        end: End,
        flushing: bool,
    },
}

/// A response being written: its head, then its body.
struct Response {
    head: Vec<u8>,
    head_sent: usize,
    body: Body,
}

enum Body {
    Static(&'static [u8]),
    Owned(Vec<u8>),
    /// This many bytes of the bulk pattern.
    Bulk(usize),
}

impl Response {
    /// The next plaintext to write (empty when done).
    fn piece(&self) -> &[u8] {
        if self.head_sent < self.head.len() {
            let end = self.head.len().min(self.head_sent + WRITE_PIECE);
            return &self.head[self.head_sent..end];
        }
        match &self.body {
            Body::Static(b) => b,
            Body::Owned(b) => b,
            Body::Bulk(left) => &BULK_PATTERN[..(*left).min(WRITE_PIECE)],
        }
    }

    fn advance(&mut self, n: usize) {
        if self.head_sent < self.head.len() {
            self.head_sent += n;
            return;
        }
        match &mut self.body {
            Body::Static(b) => *b = &b[n..],
            Body::Owned(b) => {
                b.drain(..n);
            }
            Body::Bulk(left) => *left -= n,
        }
    }
}

/// One connection: its TCP streams, its memtls connection and where it is.
/// The pollables come first: they are dropped before the streams they watch,
/// and the streams before their socket.
struct Conn {
    readable: Pollable,
    writable: Pollable,
    tls: Connection,
    input: InputStream,
    output: OutputStream,
    socket: TcpSocket,
    phase: Phase,
    /// When this connection times out (monotonic nanoseconds).
    deadline: u64,
    /// Ciphertext read from TCP; `cipher_in[in_pos..]` is not yet fed.
    cipher_in: Vec<u8>,
    in_pos: usize,
    /// Ciphertext taken from the connection; `cipher_out[out_pos..]` is not
    /// yet written to TCP.
    cipher_out: Vec<u8>,
    out_pos: usize,
    /// TCP's end of input was seen (and signalled to the connection).
    eof: bool,
    /// Plaintext of the next request head, as it arrives.
    request: Vec<u8>,
    response: Option<Response>,
    /// Close once the response in progress is sent.
    close_after: bool,
    /// Ciphertext stays in the connection until the first response (see
    /// where the handshake completes).
    hold_output: bool,
}

impl Conn {
    /// Whether this connection waits for ciphertext (everything read so far
    /// fed, the peer still sending).
    fn wants_input(&self) -> bool {
        !self.eof
            && self.in_pos >= self.cipher_in.len()
            && !matches!(self.phase, Phase::Closing { .. })
    }

    /// Whether this connection waits for TCP to take more (or to flush).
    fn wants_output(&self) -> bool {
        self.out_pos < self.cipher_out.len()
            || matches!(self.phase, Phase::Closing { flushing: true, .. })
    }

    /// Moves this connection as far as it can go now. Returns how it ended,
    /// once it has.
    fn step(
        &mut self,
        args: &Args,
        counters: &mut Counters,
        now: u64,
        stopping: bool,
    ) -> Option<End> {
        if self.deadline <= now {
            match &self.phase {
                Phase::Handshake if !stopping => return Some(End::HandshakeTimeout),
                Phase::Handshake => return Some(End::Finished),
                Phase::Closing { end, .. } => return Some(end.clone()),
                Phase::Open if stopping && self.response.is_none() => {
                    self.close(End::Finished, now, true)
                }
                Phase::Open if stopping => {
                    // Closes after the response in progress.
                    self.close_after = true;
                    self.deadline = now + args.idle_timeout_ns;
                }
                Phase::Open if self.response.is_none() && self.request.is_empty() => {
                    // Idle keep-alive connection: closed with close_notify.
                    self.close(End::IdleTimeout, now, true)
                }
                Phase::Open => return Some(End::IdleTimeout),
            }
        }
        for _ in 0..STEPS_PER_TURN {
            let mut progress = match self.send(counters) {
                Ok(p) => p,
                Err(()) => return Some(End::Transport),
            };
            if let Phase::Closing { end, flushing } = &mut self.phase {
                if self.out_pos < self.cipher_out.len() {
                    if !progress {
                        return None;
                    }
                    continue;
                }
                // Everything handed to TCP: flush it, then wait for the flush.
                if !*flushing {
                    *flushing = true;
                    if self.output.flush().is_err() {
                        return Some(end.clone());
                    }
                }
                return match self.output.check_write() {
                    Ok(0) => None,
                    _ => {
                        let _ = self.socket.shutdown(ShutdownType::Both);
                        Some(end.clone())
                    }
                };
            }
            match self.receive(now) {
                Ok(p) => progress |= p,
                Err(end) => return Some(end),
            }
            match self.phase {
                Phase::Handshake => match self.tls.handshake() {
                    Ok(Progress::Done) => {
                        counters.handshakes += 1;
                        if self.tls.resumed() {
                            counters.resumed += 1;
                        }
                        self.phase = Phase::Open;
                        self.deadline = now + args.idle_timeout_ns;
                        progress = true;
                        // The session tickets wait for the first response,
                        // to leave in the same TCP write: two small writes in
                        // a row meet Nagle's algorithm and the client's
                        // delayed ACK (40 ms stalls), and WASI 0.2 cannot
                        // set TCP_NODELAY. An HTTP client speaks first, so
                        // nothing waits for them.
                        self.hold_output = true;
                        if let Err(end) = self.serve(args, counters, now, stopping) {
                            return Some(end);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.fail(e, now);
                        progress = true;
                    }
                },
                Phase::Open => match self.serve(args, counters, now, stopping) {
                    Ok(p) => progress |= p,
                    Err(end) => return Some(end),
                },
                Phase::Closing { .. } => progress = true,
            }
            if !progress {
                return None;
            }
        }
        None
    }

    /// After a TLS error: the alert it queued is sent, then the connection ends.
    fn fail(&mut self, e: tls::Error, now: u64) {
        self.close(End::Tls(kind_name(&e.kind)), now, false);
    }

    /// Begins closing: close_notify queued (when asked), the rest sent.
    fn close(&mut self, end: End, now: u64, close_notify: bool) {
        if close_notify {
            let _ = self.tls.shutdown();
        }
        self.hold_output = false;
        self.phase = Phase::Closing {
            end,
            flushing: false,
        };
        self.deadline = now + CLOSE_GRACE_NS;
    }

    /// Writes waiting ciphertext to TCP, taking more from the connection when
    /// all of it is written: as much as TCP permits at once (wasmtime permits
    /// 64 KiB), so that each write is as large as it can be — every write
    /// that is not a multiple of the segment size ends in a small segment,
    /// and without TCP_NODELAY (which WASI 0.2 cannot set) a small segment
    /// waits for the peer's acknowledgement of the one before. `Err` when TCP
    /// failed.
    fn send(&mut self, counters: &mut Counters) -> Result<bool, ()> {
        let mut progress = false;
        loop {
            let waiting = self.out_pos < self.cipher_out.len();
            if !waiting && (self.hold_output || self.tls.pending_ciphertext() == 0) {
                return Ok(progress);
            }
            let permitted = match self.output.check_write() {
                Ok(0) => return Ok(progress),
                Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
                Err(_) => return Err(()),
            };
            if !waiting {
                let max = u32::try_from(permitted).unwrap_or(u32::MAX).min(TAKE_CHUNK);
                // While a response is still being written, only whole
                // writes: its last write carries the rest.
                if self.response.is_some() && self.tls.pending_ciphertext() < max {
                    return Ok(progress);
                }
                self.cipher_out = self.tls.take(max);
                self.out_pos = 0;
            }
            let n = (self.cipher_out.len() - self.out_pos).min(permitted);
            if self
                .output
                .write(&self.cipher_out[self.out_pos..self.out_pos + n])
                .is_err()
            {
                return Err(());
            }
            self.out_pos += n;
            counters.bytes_sent += n as u64;
            progress = true;
            if self.out_pos >= self.cipher_out.len() {
                // Release the buffer: idle connections hold none.
                self.cipher_out = Vec::new();
                self.out_pos = 0;
            }
        }
    }

    /// Feeds ciphertext, reading more from TCP when everything read is fed.
    fn receive(&mut self, now: u64) -> Result<bool, End> {
        if self.in_pos >= self.cipher_in.len() {
            if self.eof {
                return Ok(false);
            }
            match self.input.read(READ_CHUNK) {
                Ok(data) if data.is_empty() => return Ok(false),
                Ok(data) => {
                    self.cipher_in = data;
                    self.in_pos = 0;
                }
                Err(StreamError::Closed) => {
                    self.eof = true;
                    self.cipher_in = Vec::new();
                    self.in_pos = 0;
                    if let Err(e) = self.tls.eof() {
                        self.fail(e, now);
                    }
                    return Ok(true);
                }
                Err(StreamError::LastOperationFailed(_)) => return Err(End::Transport),
            }
        }
        match self.tls.feed(&self.cipher_in[self.in_pos..]) {
            Ok(taken) => {
                self.in_pos += taken as usize;
                if self.in_pos >= self.cipher_in.len() {
                    self.cipher_in = Vec::new();
                    self.in_pos = 0;
                }
                Ok(taken > 0)
            }
            Err(e) => {
                self.fail(e, now);
                Ok(true)
            }
        }
    }

    /// Reads requests and writes responses, one at a time, in order.
    fn serve(
        &mut self,
        args: &Args,
        counters: &mut Counters,
        now: u64,
        stopping: bool,
    ) -> Result<bool, End> {
        let mut progress = false;
        loop {
            if let Some(response) = &mut self.response {
                let piece = response.piece();
                if piece.is_empty() {
                    self.response = None;
                    self.deadline = now + args.idle_timeout_ns;
                    progress = true;
                    if self.close_after {
                        self.close(End::Finished, now, true);
                        return Ok(true);
                    }
                    continue;
                }
                if self.tls.pending_ciphertext() >= MAX_PENDING_CIPHERTEXT {
                    return Ok(progress);
                }
                match self.tls.write(piece) {
                    Ok(WriteOutcome::Written(n)) if n > 0 => {
                        response.advance(n as usize);
                        self.deadline = now + args.idle_timeout_ns;
                        progress = true;
                    }
                    Ok(_) => return Ok(progress),
                    Err(e) => {
                        self.fail(e, now);
                        return Ok(true);
                    }
                }
                continue;
            }
            if let Some(end) = head_end(&self.request) {
                let head: Vec<u8> = self.request.drain(..end).collect();
                counters.requests += 1;
                let (response, close) = respond(&head, args, counters, stopping);
                self.hold_output = false;
                self.response = Some(response);
                self.close_after = close;
                progress = true;
                continue;
            }
            if self.request.len() >= MAX_HEAD {
                self.request.clear();
                self.response = Some(simple(431, "Request Header Fields Too Large", true));
                self.hold_output = false;
                self.close_after = true;
                progress = true;
                continue;
            }
            let room = (MAX_HEAD - self.request.len()) as u32;
            match self.tls.read(room) {
                Ok(ReadOutcome::Data(d)) => {
                    self.request.extend_from_slice(&d);
                    self.deadline = now + args.idle_timeout_ns;
                    progress = true;
                }
                Ok(_) => return Ok(progress),
                Err(e) => {
                    return match e.kind {
                        // Between requests, with close_notify or without (many
                        // clients just close TCP): the client is done.
                        ErrorKind::Closed | ErrorKind::RaggedEof if self.request.is_empty() => {
                            Err(End::ClientClosed)
                        }
                        _ => {
                            self.fail(e, now);
                            Ok(true)
                        }
                    };
                }
            }
        }
    }
}

/// Where the request head in `buf` ends (after its blank line), if it is complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// A response with a short text body.
fn simple(status: u16, reason: &str, close: bool) -> Response {
    let body = format!("{status} {reason}\n").into_bytes();
    let length = body.len();
    response(
        status,
        reason,
        "text/plain",
        Body::Owned(body),
        length,
        close,
        false,
    )
}

fn response(
    status: u16,
    reason: &str,
    content_type: &str,
    body: Body,
    length: usize,
    close: bool,
    head_only: bool,
) -> Response {
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nServer: memtls-https-server\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: {}\r\n\r\n",
        if close { "close" } else { "keep-alive" }
    )
    .into_bytes();
    Response {
        head,
        head_sent: 0,
        body: if head_only { Body::Static(b"") } else { body },
    }
}

/// The response to a request head, and whether the connection closes after it.
fn respond(head: &[u8], args: &Args, counters: &Counters, stopping: bool) -> (Response, bool) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (simple(400, "Bad Request", true), true);
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return (simple(505, "HTTP Version Not Supported", true), true),
    };
    let mut close = http10 || stopping;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return (simple(400, "Bad Request", true), true);
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && !stopping {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") && value != "0" {
            return (simple(413, "Content Too Large", true), true);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return (simple(501, "Not Implemented", true), true);
        }
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return (simple(405, "Method Not Allowed", close), close),
    };
    let path = target.split('?').next().unwrap_or_default();
    let r = match path {
        "/" => response(
            200,
            "OK",
            "text/plain",
            Body::Static(SMALL_BODY),
            SMALL_BODY.len(),
            close,
            head_only,
        ),
        "/bulk" => response(
            200,
            "OK",
            "application/octet-stream",
            Body::Bulk(args.bulk_bytes),
            args.bulk_bytes,
            close,
            head_only,
        ),
        "/stats" => {
            let body = counters.json().to_string().into_bytes();
            let len = body.len();
            response(
                200,
                "OK",
                "application/json",
                Body::Owned(body),
                len,
                close,
                head_only,
            )
        }
        _ => simple(404, "Not Found", close),
    };
    (r, close)
}

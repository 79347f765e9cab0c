//! `memtls-wasi-tls-client`: the `https-get` workload over wasmtime's own
//! `wasi:tls/types@0.2.0-draft` instead of memtls, for the benchmark suite.
//!
//! ```text
//! memtls-wasi-tls-client HOST PORT SERVER_NAME REPEAT
//! ```
//!
//! Makes REPEAT connections, one after another, to HOST:PORT (an IP address, or a
//! name resolved through wasi:sockets): TCP through wasi:sockets, the TLS
//! handshake through wasi:tls (verifying SERVER_NAME, which is also the SNI and
//! the `Host` header), an HTTP/1.1 `GET /` with `Connection: close`, the whole
//! response read to its end, then close_notify. It prints one line
//!
//! ```text
//! memtls-result {"status":"200","handshake_ms":<median>,"transfer_ms":<median>,"first_byte_ms":<median>,"body_bytes":<n>,"mbps":<MB/s>,"eof":"clean","repeat":<n>}
//! ```
//!
//! with the keys `https-get` uses and their meanings: `handshake_ms` runs from
//! before the TCP connect to the end of the TLS handshake as the client sees it,
//! `transfer_ms` from the request written to the end of the response; `mbps` is
//! body bytes (10^6) per second at the median transfer time. `first_byte_ms`
//! (request written to the first response bytes) is extra: it is where waits
//! before the server answers show up (see the note in `fetch`). Errors are
//! reported on stderr with exit status 1.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Instant;

use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
    Network,
};
use wasip2::sockets::tcp::TcpSocket;
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

use report::gets::{Args, Round};

mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "client",
        features: ["tls"],
        with: {
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:tls/types@0.2.0-draft": generate,
        },
    });
}

use bindings::wasi::tls::types::{ClientConnection, ClientHandshake};

const USAGE: &str = "usage: memtls-wasi-tls-client HOST PORT SERVER_NAME REPEAT";

/// Bytes asked for per read of the plaintext stream (what `https-get` reads).
const READ_SIZE: u64 = 64 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = Args::parse(&args)
        .map_err(|e| format!("{e}\n{USAGE}"))
        .and_then(|a| run(&a));
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("memtls-wasi-tls-client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<String, String> {
    let network = wasip2::sockets::instance_network::instance_network();
    let addresses = addresses(&network, &args.host)?;
    let mut rounds = Vec::new();
    for round in 1..=args.repeat {
        let r = fetch(&network, &addresses, args)
            .map_err(|e| format!("connection {round} of {}: {e}", args.repeat))?;
        rounds.push(r);
    }
    report::gets::summary(&rounds)
}

/// HOST as an address, or the addresses wasi:sockets resolves it to.
fn addresses(network: &Network, host: &str) -> Result<Vec<IpAddress>, String> {
    if let Ok(ip) = host
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
    {
        return Ok(vec![match ip {
            IpAddr::V4(a) => {
                let [a, b, c, d] = a.octets();
                IpAddress::Ipv4((a, b, c, d))
            }
            IpAddr::V6(a) => {
                let [a, b, c, d, e, f, g, h] = a.segments();
                IpAddress::Ipv6((a, b, c, d, e, f, g, h))
            }
        }]);
    }
    let stream = resolve_addresses(network, host)
        .map_err(|e| format!("cannot resolve {host}: {}", error_code(e)))?;
    let pollable = stream.subscribe();
    let mut found = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(address)) => found.push(address),
            Ok(None) => break,
            Err(ErrorCode::WouldBlock) => pollable.block(),
            Err(e) => return Err(format!("cannot resolve {host}: {}", error_code(e))),
        }
    }
    if found.is_empty() {
        return Err(format!("{host} has no addresses"));
    }
    Ok(found)
}

fn error_code(e: ErrorCode) -> String {
    format!("{} ({})", e.name(), e.message())
}

fn show(address: IpAddress, port: u16) -> String {
    match address {
        IpAddress::Ipv4((a, b, c, d)) => format!("{a}.{b}.{c}.{d}:{port}"),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => {
            format!(
                "[{}]:{port}",
                std::net::Ipv6Addr::new(a, b, c, d, e, f, g, h)
            )
        }
    }
}

fn stream_error(e: StreamError) -> String {
    match e {
        StreamError::Closed => "the stream is closed".into(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    }
}

/// A TCP connection through wasi:sockets: the socket and its streams.
struct Tcp {
    socket: TcpSocket,
    input: InputStream,
    output: OutputStream,
}

fn connect(network: &Network, addresses: &[IpAddress], port: u16) -> Result<Tcp, String> {
    let mut last = String::from("no address to connect to");
    for address in addresses {
        match connect_one(network, *address, port) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn connect_one(network: &Network, address: IpAddress, port: u16) -> Result<Tcp, String> {
    let (family, remote) = match address {
        IpAddress::Ipv4(address) => (
            IpAddressFamily::Ipv4,
            IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address }),
        ),
        IpAddress::Ipv6(address) => (
            IpAddressFamily::Ipv6,
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port,
                flow_info: 0,
                address,
                scope_id: 0,
            }),
        ),
    };
    let failed = |e: ErrorCode| {
        format!(
            "cannot connect to {}: {}",
            show(address, port),
            error_code(e)
        )
    };
    let socket = create_tcp_socket(family).map_err(failed)?;
    socket.start_connect(network, remote).map_err(failed)?;
    let (input, output) = {
        let pollable = socket.subscribe();
        loop {
            match socket.finish_connect() {
                Ok(streams) => break streams,
                Err(ErrorCode::WouldBlock) => pollable.block(),
                Err(e) => return Err(failed(e)),
            }
        }
    };
    Ok(Tcp {
        socket,
        input,
        output,
    })
}

/// A TLS connection through wasi:tls: the connection and its plaintext streams
/// (children of the connection: dropped before it).
struct Tls {
    input: InputStream,
    output: OutputStream,
    connection: ClientConnection,
}

fn handshake(server_name: &str, input: InputStream, output: OutputStream) -> Result<Tls, String> {
    let handshake = ClientHandshake::new(server_name, input, output);
    let future = ClientHandshake::finish(handshake);
    let pollable = future.subscribe();
    loop {
        match future.get() {
            None => pollable.block(),
            Some(Ok(Ok((connection, input, output)))) => {
                return Ok(Tls {
                    input,
                    output,
                    connection,
                });
            }
            Some(Ok(Err(e))) => {
                return Err(format!(
                    "TLS handshake for {server_name} failed: {}",
                    e.to_debug_string()
                ));
            }
            Some(Err(())) => return Err("the handshake's result was already taken".into()),
        }
    }
}

fn fetch(network: &Network, addresses: &[IpAddress], args: &Args) -> Result<Round, String> {
    let start = Instant::now();
    let tcp = connect(network, addresses, args.port)?;
    let tls = handshake(&args.server_name, tcp.input, tcp.output)?;
    let handshake_ms = start.elapsed().as_secs_f64() * 1e3;

    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: memtls-wasi-tls-client\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n",
        args.server_name
    );
    write_all(&tls.output, request.as_bytes()).map_err(|e| format!("sending the request: {e}"))?;
    // Note: with wasmtime-wasi-tls each TLS record goes to the TCP stream as a
    // write of its own, and wasi:sockets leaves Nagle's algorithm on. The client's
    // last handshake flight is two records (ChangeCipherSpec, Finished), so the
    // Finished and the request wait in the kernel for the ACK of the first, which
    // the server delays (~40 ms on Linux). The client has already counted the
    // handshake as done: the wait lands between the request and the first byte.
    let start = Instant::now();
    let mut first_byte_ms = None;
    let mut response = Vec::new();
    loop {
        match tls.input.blocking_read(READ_SIZE) {
            Ok(chunk) => {
                if first_byte_ms.is_none() && !chunk.is_empty() {
                    first_byte_ms = Some(start.elapsed().as_secs_f64() * 1e3);
                }
                response.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break,
            Err(e) => return Err(format!("reading the response: {}", stream_error(e))),
        }
    }
    let transfer_ms = start.elapsed().as_secs_f64() * 1e3;

    // close_notify, and wait until it is out before letting go of the streams.
    tls.connection.close_output();
    tls.output.subscribe().block();
    let Tls {
        input,
        output,
        connection,
    } = tls;
    drop((input, output));
    drop(connection);
    drop(tcp.socket);

    let (status, body_bytes) = report::gets::parse_response(&response)?;
    Ok(Round {
        handshake_ms,
        transfer_ms,
        first_byte_ms: first_byte_ms.unwrap_or(transfer_ms),
        status,
        body_bytes,
        // wasi:tls 0.2 reports the end of the plaintext stream either way.
        clean: true,
    })
}

/// Writes all of `bytes` and flushes, in pieces the stream accepts.
fn write_all(output: &OutputStream, mut bytes: &[u8]) -> Result<(), String> {
    while !bytes.is_empty() {
        let n = output.check_write().map_err(stream_error)?;
        if n == 0 {
            output.subscribe().block();
            continue;
        }
        let n = bytes.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        output.write(&bytes[..n]).map_err(stream_error)?;
        bytes = &bytes[n..];
    }
    output.flush().map_err(stream_error)?;
    loop {
        match output.check_write() {
            Ok(0) => output.subscribe().block(),
            Ok(_) => return Ok(()),
            Err(e) => return Err(stream_error(e)),
        }
    }
}

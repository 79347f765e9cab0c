//! `memtls-wasi-tls-p3-client`: an HTTPS GET written against the wasi:tls 0.3
//! draft (`wasi:tls/client@0.3.0-draft`) and WASI 0.3 sockets, knowing nothing
//! of memtls. It runs wherever something serves wasi:tls 0.3: wasmtime's own
//! host (wasmtime-wasi-tls, p3) or the memtls adapter (`memtls run`, or
//! composed by `memtls compose`).
//!
//! ```text
//! memtls-wasi-tls-p3-client HOST PORT SERVER_NAME REPEAT
//! ```
//!
//! Makes REPEAT connections, one after another, to HOST:PORT (an IP address or
//! a name resolved through wasi:sockets): TCP through wasi:sockets, the
//! ciphertext streams handed to a wasi:tls connector, the handshake verifying
//! SERVER_NAME (also the SNI and the `Host` header), an HTTP/1.1 `GET /` with
//! `Connection: close`, the response read until the plaintext stream ends, then
//! the plaintext stream closed (close_notify). It prints one line
//!
//! ```text
//! memtls-result {"status":"200","handshake_ms":…,"transfer_ms":…,"first_byte_ms":…,"body_bytes":…,"mbps":…,"eof":"clean","repeat":…}
//! ```
//!
//! with the keys the other clients use; `eof` is `clean` when the receiving
//! side ended with the server's close_notify (its future resolved ok) and
//! `ragged` when it ended without (the future's error; its debug string is
//! printed on stderr as `receive ended: …`). A refused handshake prints
//! `TLS handshake for NAME failed: …` with the error's debug string, and the
//! exit status is 1.

use std::future::IntoFuture;
use std::net::IpAddr;
use std::time::Instant;

use wasip3::sockets::ip_name_lookup::resolve_addresses;
use wasip3::sockets::types::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
    TcpSocket,
};
use wit_bindgen::StreamResult;

use report::gets::{Args, Round};

mod bindings {
    wit_bindgen::generate!({
        path: "../../wasi-tls/wit/deps/wasi-tls",
        world: "wasi:tls/imports@0.3.0-draft",
        generate_all,
    });
}

use bindings::wasi::tls::client::Connector;

const USAGE: &str = "usage: memtls-wasi-tls-p3-client HOST PORT SERVER_NAME REPEAT\n       \
                     memtls-wasi-tls-p3-client --misuse HOST PORT";

/// Bytes asked for per read of the plaintext stream.
const READ_SIZE: usize = 64 * 1024;

struct Component;

wasip3::cli::command::export!(Component);

impl wasip3::exports::cli::run::Guest for Component {
    async fn run() -> Result<(), ()> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let result = match args.first().map(String::as_str) {
            Some("--misuse") => match &args[1..] {
                [host, port] => misuse(host, port).await,
                _ => Err(format!("--misuse takes HOST PORT\n{USAGE}")),
            },
            _ => match Args::parse(&args) {
                Ok(args) => run(&args).await,
                Err(e) => Err(format!("{e}\n{USAGE}")),
            },
        };
        match result {
            Ok(line) => {
                println!("{line}");
                Ok(())
            }
            Err(e) => {
                eprintln!("memtls-wasi-tls-p3-client: {e}");
                Err(())
            }
        }
    }
}

fn main() {}

async fn run(args: &Args) -> Result<String, String> {
    let addresses = addresses(&args.host).await?;
    let mut rounds = Vec::new();
    for round in 1..=args.repeat {
        let r = fetch(&addresses, args)
            .await
            .map_err(|e| format!("connection {round} of {}: {e}", args.repeat))?;
        rounds.push(r);
    }
    report::gets::summary(&rounds)
}

/// HOST as an address, or the addresses wasi:sockets resolves it to.
async fn addresses(host: &str) -> Result<Vec<IpAddress>, String> {
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
    let found = resolve_addresses(host.to_string())
        .await
        .map_err(|e| format!("cannot resolve {host}: {e:?}"))?;
    if found.is_empty() {
        return Err(format!("{host} has no addresses"));
    }
    Ok(found)
}

async fn connect(addresses: &[IpAddress], port: u16) -> Result<TcpSocket, String> {
    let mut last = String::from("no address to connect to");
    for address in addresses {
        let (family, remote) = match *address {
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
        let failed = |e: ErrorCode| format!("cannot connect to {remote:?}: {e:?}");
        let socket = TcpSocket::create(family).map_err(failed)?;
        match socket.connect(remote).await {
            Ok(()) => return Ok(socket),
            Err(e) => last = failed(e),
        }
    }
    Err(last)
}

async fn fetch(addresses: &[IpAddress], args: &Args) -> Result<Round, String> {
    let start = Instant::now();
    let socket = connect(addresses, args.port).await?;

    // The transport's ciphertext goes into the connector, its ciphertext goes
    // out on the socket; the application keeps the plaintext ends.
    let (from_peer, tcp_received) = socket.receive();
    let connector = Connector::new();
    let (mut request_tx, request_rx) = bindings::wit_stream::new();
    let (to_peer, sent) = connector.send(request_rx);
    let (mut response, received) = connector.receive(from_peer);
    let tcp_sent = socket.send(to_peer);

    if let Err(e) = Connector::connect(connector, args.server_name.clone()).await {
        let why = format!(
            "TLS handshake for {} failed: {}",
            args.server_name,
            e.to_debug_string()
        );
        // What the connector sent last (the alert telling the server why) is
        // still on its way: let the socket deliver it before giving up.
        drop(request_tx);
        drop(response);
        let _ = futures::join!(sent.into_future(), tcp_sent.into_future());
        return Err(why);
    }
    let handshake_ms = start.elapsed().as_secs_f64() * 1e3;

    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: memtls-wasi-tls-p3-client\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n",
        args.server_name
    );
    if !request_tx.write_all(request.into_bytes()).await.is_empty() {
        return Err("the connector stopped taking plaintext".into());
    }
    let start = Instant::now();
    let mut first_byte_ms = None;
    let mut body = Vec::new();
    loop {
        let (status, chunk) = response.read(Vec::with_capacity(READ_SIZE)).await;
        match status {
            StreamResult::Complete(_) => {
                if first_byte_ms.is_none() && !chunk.is_empty() {
                    first_byte_ms = Some(start.elapsed().as_secs_f64() * 1e3);
                }
                body.extend_from_slice(&chunk);
            }
            StreamResult::Dropped | StreamResult::Cancelled => break,
        }
    }
    let transfer_ms = start.elapsed().as_secs_f64() * 1e3;
    // The response has ended: close_notify (the end of the plaintext we send),
    // then wait for both sides and the socket to finish. (The receiving side
    // may be over only once the transport is: a server that waits for our
    // close_notify before closing TCP would otherwise never get it.)
    drop(request_tx);
    drop(response);
    let (received, sent, tcp_sent) = futures::join!(
        received.into_future(),
        sent.into_future(),
        tcp_sent.into_future()
    );
    let ragged = received.err().map(|e| e.to_debug_string());
    if let Some(why) = &ragged {
        eprintln!("receive ended: {why}");
    }
    // After a ragged end the server may have reset the connection already:
    // what it said was read, so a failure to close is reported, not fatal.
    let closing = sent
        .map_err(|e| format!("sending ended with: {}", e.to_debug_string()))
        .and_then(|()| tcp_sent.map_err(|e| format!("the socket's send failed: {e:?}")));
    match (closing, &ragged) {
        (Ok(()), _) => {}
        (Err(e), None) => return Err(e),
        (Err(e), Some(_)) => eprintln!("closing after the ragged end: {e}"),
    }
    // The socket's receive side ends with an error when the peer resets; what
    // mattered (the plaintext) has been read.
    let _ = tcp_received.await;
    drop(socket);

    let (status, body_bytes) = report::gets::parse_response(&body)?;
    Ok(Round {
        handshake_ms,
        transfer_ms,
        first_byte_ms: first_byte_ms.unwrap_or(transfer_ms),
        status,
        body_bytes,
        clean: ragged.is_none(),
    })
}

/// The connector used against its rules and with extreme arguments; one
/// report whose fields say, for each case, `ok` or `error: ` and the error's
/// debug string:
///
/// - `send_twice`: the second `send`'s future;
/// - `dropped_before_connect`: `send`'s and `receive`'s futures when the
///   connector is dropped without `connect` (both answered by the next
///   `connect` the program makes);
/// - `connect_without_receive`, `connect_without_send`: `connect` after only
///   one of the two;
/// - `empty_name`, `huge_name` (1 MiB), `ip_name` (`127.0.0.1`, which the
///   server's certificate does not name), `invalid_name` (`a..b`): `connect`
///   over a TCP connection to HOST:PORT.
async fn misuse(host: &str, port: &str) -> Result<String, String> {
    let port: u16 = port
        .parse()
        .map_err(|_| format!("PORT must be a number, not {port:?}"))?;
    let addresses = addresses(host).await?;
    let said = |r: Result<(), bindings::wasi::tls::types::Error>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("error: {}", e.to_debug_string()),
    };
    let mut fields = Vec::new();

    // A second send, and a connector dropped before connect: synchronous
    // calls, so their futures are answered by the next connect (below).
    let connector = Connector::new();
    let (_w1, r1) = bindings::wit_stream::new();
    let (_w2, r2) = bindings::wit_stream::new();
    let (_out1, _first) = connector.send(r1);
    let (_out2, second) = connector.send(r2);
    drop(connector);
    let connector = Connector::new();
    let (_w1, r1) = bindings::wit_stream::new();
    let (_w2, r2) = bindings::wit_stream::new();
    let (_out1, sent) = connector.send(r1);
    let (_out2, received) = connector.receive(r2);
    drop(connector);

    let connector = Connector::new();
    let (_w, r) = bindings::wit_stream::new();
    let _sent = connector.send(r);
    fields.push((
        "connect_without_receive",
        said(Connector::connect(connector, "localhost".into()).await),
    ));
    let connector = Connector::new();
    let (_w, r) = bindings::wit_stream::new();
    let _received = connector.receive(r);
    fields.push((
        "connect_without_send",
        said(Connector::connect(connector, "localhost".into()).await),
    ));

    for (case, name) in [
        ("empty_name", String::new()),
        ("huge_name", "a".repeat(1 << 20)),
        ("ip_name", "127.0.0.1".to_string()),
        ("invalid_name", "a..b".to_string()),
    ] {
        let socket = connect(&addresses, port).await?;
        let (from_peer, _tcp_received) = socket.receive();
        let connector = Connector::new();
        let (request_tx, request_rx) = bindings::wit_stream::new();
        let (to_peer, sent) = connector.send(request_rx);
        let (response, _received) = connector.receive(from_peer);
        let tcp_sent = socket.send(to_peer);
        let result = Connector::connect(connector, name).await;
        drop((request_tx, response));
        let _ = futures::join!(sent.into_future(), tcp_sent.into_future());
        fields.push((case, said(result)));
    }
    fields.push(("send_twice", said(second.await)));
    let (sent, received) = futures::join!(sent.into_future(), received.into_future());
    fields.push(("dropped_before_connect", said(sent.and(received))));
    let mut report = report::json!({});
    for (case, outcome) in fields {
        report[case] = report::json!(outcome);
    }
    Ok(report::line(report::Tag::Result, &report))
}

//! `tls-echo-server`: listens through wasi:sockets, serves TLS with memtls and
//! echoes what it receives. Certificate and key are read from preopened files.
//!
//! ```text
//! tls-echo-server (--cert PATH --key PATH | --identity NAME) [options]
//!   --identity NAME        serve as the host identity NAME: the host signs with
//!                          its key, which this program never sees
//!   --listen ADDR          address to listen on (default 127.0.0.1:4433)
//!   --client-ca PATH       require client certificates issued by this CA (PEM)
//!   --optional-client-auth with --client-ca: ask, but do not require
//!   --alpn LIST            comma-separated ALPN protocols to accept
//!   --tls12 | --tls13      only this version
//!   --cipher IDS           accept only these suites (comma-separated IANA ids, hex)
//!   --groups LIST          accept only these key-exchange groups, preferred first
//!                          (IANA names or hex ids: X25519MLKEM768 alone requires
//!                          post-quantum key exchange)
//!   --no-tickets           no session tickets (TLS 1.2 resumes by session id)
//!   --key-update           send a TLS 1.3 KeyUpdate right after each handshake
//!   --max-connections N    exit after N connections (default: run forever)
//!   --smtp-starttls        speak SMTP and upgrade with STARTTLS before echoing
//!   --http                 answer one HTTP request per connection, instead of
//!                          echoing, with a page naming the version, suite and
//!                          key-exchange group (what a browser shows)
//! ```
//!
//! One connection at a time. For each it prints a `memtls-accepted` report (`memtls-report`)
//! or `memtls-error kind=... message=...` on stdout.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

use memtls_stream::tls::{ClientAuth, ProtocolVersion, ServerConfig, ServerContext, TrustStore};
use memtls_stream::{
    Error, TlsStream, kind_name, parse_alpn, parse_ciphers, parse_groups, read_file, server_chain,
    tls_error, version_name,
};

struct Args {
    listen: String,
    cert: String,
    key: String,
    identity: Option<String>,
    client_ca: Option<String>,
    optional_client_auth: bool,
    alpn: Vec<Vec<u8>>,
    version: Option<ProtocolVersion>,
    max_connections: Option<u64>,
    smtp: bool,
    http: bool,
    ciphers: Option<Vec<u16>>,
    groups: Option<Vec<u16>>,
    tickets: bool,
    key_update: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        listen: "127.0.0.1:4433".into(),
        cert: String::new(),
        key: String::new(),
        identity: None,
        client_ca: None,
        optional_client_auth: false,
        alpn: vec![],
        version: None,
        max_connections: None,
        smtp: false,
        http: false,
        ciphers: None,
        groups: None,
        tickets: true,
        key_update: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => a.listen = value("--listen")?,
            "--cert" => a.cert = value("--cert")?,
            "--key" => a.key = value("--key")?,
            "--identity" => a.identity = Some(value("--identity")?),
            "--client-ca" => a.client_ca = Some(value("--client-ca")?),
            "--optional-client-auth" => a.optional_client_auth = true,
            "--alpn" => a.alpn = parse_alpn(&value("--alpn")?),
            "--tls12" => a.version = Some(ProtocolVersion::Tls12),
            "--tls13" => a.version = Some(ProtocolVersion::Tls13),
            "--max-connections" => {
                a.max_connections = Some(
                    value("--max-connections")?
                        .parse()
                        .map_err(|_| "--max-connections takes a number")?,
                )
            }
            "--smtp-starttls" => a.smtp = true,
            "--http" => a.http = true,
            "--cipher" => a.ciphers = Some(parse_ciphers(&value("--cipher")?)?),
            "--groups" => a.groups = Some(parse_groups(&value("--groups")?)?),
            "--no-tickets" => a.tickets = false,
            "--key-update" => a.key_update = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls-echo-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let client_auth = match &args.client_ca {
        None => ClientAuth::None,
        Some(path) => {
            let trust = TrustStore::anchors(vec![read_file(path)?]);
            if args.optional_client_auth {
                ClientAuth::Optional(trust)
            } else {
                ClientAuth::Required(trust)
            }
        }
    };
    let config = ServerConfig {
        client_auth,
        alpn_protocols: args.alpn.clone(),
        min_version: args.version,
        max_version: args.version,
        cipher_suites: args.ciphers.clone(),
        key_exchange_groups: args.groups.clone(),
        session_tickets: args.tickets,
        ..ServerConfig::new(server_chain(
            &args.cert,
            &args.key,
            args.identity.as_deref(),
        )?)
    };
    let context = ServerContext::create(&config)
        .map_err(|e| format!("configuration refused: {}", e.message))?;
    let listener = TcpListener::bind(&args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    println!(
        "memtls-listening {}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let _ = io::stdout().flush();
    let mut served = 0u64;
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        if let Err(e) = serve(&context, stream, &args) {
            match e {
                Error::Tls(t) => println!(
                    "memtls-error kind={} message={}",
                    kind_name(&t.kind),
                    t.message
                ),
                Error::Io(io) => match tls_error(&io) {
                    // A TLS error that came through std::io keeps its kind.
                    Some(t) => println!(
                        "memtls-error kind={} message={}",
                        kind_name(&t.kind),
                        t.message
                    ),
                    None => println!("memtls-error kind=io message={io}"),
                },
            }
        }
        let _ = io::stdout().flush();
        served += 1;
        if args.max_connections.is_some_and(|max| served >= max) {
            break;
        }
    }
    Ok(())
}

/// Reads one CRLF-terminated line byte by byte, so nothing after it (the TLS
/// ClientHello after STARTTLS) is consumed.
fn read_line(s: &mut TcpStream) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if s.read(&mut byte)? == 0 {
            return Ok(None);
        }
        line.push(byte[0]);
        if line.ends_with(b"\n") || line.len() > 4096 {
            return Ok(Some(String::from_utf8_lossy(&line).trim_end().to_string()));
        }
    }
}

/// The plaintext SMTP phase up to STARTTLS. Returns false if the client left.
fn smtp_until_starttls(s: &mut TcpStream) -> io::Result<bool> {
    s.write_all(b"220 memtls-echo ESMTP ready\r\n")?;
    while let Some(line) = read_line(s)? {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => s.write_all(b"250-memtls-echo\r\n250-PIPELINING\r\n250 STARTTLS\r\n")?,
            "HELO" => s.write_all(b"250 memtls-echo\r\n")?,
            "STARTTLS" => {
                s.write_all(b"220 Ready to start TLS\r\n")?;
                return Ok(true);
            }
            "QUIT" => {
                s.write_all(b"221 Bye\r\n")?;
                return Ok(false);
            }
            "NOOP" => s.write_all(b"250 OK\r\n")?,
            _ => s.write_all(b"530 Must issue a STARTTLS command first\r\n")?,
        }
    }
    Ok(false)
}

/// Answers one HTTP/1.1 request (its head read, at most 64 KiB) with a page
/// saying what the connection negotiated, then closes.
fn answer_http(mut tls: TlsStream<TcpStream>) -> Result<(), Error> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 64 * 1024 {
            return Err(Error::Io(io::Error::other(
                "an HTTP request head over 64 KiB",
            )));
        }
        match tls.read(&mut buf)? {
            0 => return Ok(()),
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    let c = tls.connection();
    let page = format!(
        "<html><body><p id=\"tls\">memtls {} {} {}</p></body></html>\n",
        version_name(c.protocol_version()),
        c.cipher_suite().map(|s| s.name).unwrap_or_default(),
        c.key_exchange_group().map(|g| g.name).unwrap_or_default(),
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    tls.write_all(response.as_bytes())?;
    tls.close()?;
    Ok(())
}

fn serve(context: &ServerContext, mut stream: TcpStream, args: &Args) -> Result<(), Error> {
    let (smtp, key_update) = (args.smtp, args.key_update);
    if smtp && !smtp_until_starttls(&mut stream)? {
        return Ok(());
    }
    let conn = context.accept()?;
    let mut tls = TlsStream::handshake(conn, stream)?;
    let c = tls.connection();
    report::print(
        report::Tag::Accepted,
        &report::json!({
            "version": version_name(c.protocol_version()),
            "cipher": c.cipher_suite().map(|s| s.name).unwrap_or_default(),
            "group": c.key_exchange_group().map(|g| g.name).unwrap_or_default(),
            "alpn": c
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .unwrap_or_else(|| "none".into()),
            "sni": c.server_name().unwrap_or_else(|| "none".into()),
            "client_cert": if c.peer_certificates().is_empty() { "no" } else { "yes" },
            "resumed": c.resumed(),
            "smtp": smtp,
        }),
    );
    let _ = io::stdout().flush();
    if key_update {
        tls.connection().request_key_update()?;
        tls.flush()?;
    }
    if args.http {
        return answer_http(tls);
    }
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(Error::Io(e)),
        };
        if smtp {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            for line in text.lines() {
                if line.trim().eq_ignore_ascii_case("QUIT") {
                    tls.write_all(b"221 Bye\r\n")?;
                    tls.close()?;
                    return Ok(());
                }
                // RFC 3207: the client starts over with EHLO; answer every
                // command with 250 and its own text (the echo).
                tls.write_all(format!("250 {}\r\n", line.trim()).as_bytes())?;
            }
        } else {
            tls.write_all(&buf[..n])?;
        }
    }
    let _ = tls.close();
    Ok(())
}

//! `https-get`: an HTTP/1.1 GET (or a POST of a given size) over TLS. TCP comes from wasi:sockets (std::net),
//! TLS from whichever memtls provider the host links.
//!
//! ```text
//! https-get [options] https://HOST[:PORT]/PATH
//!   --ca-file PATH        trust these CA certificates (PEM) instead of the system's
//!   --also-system         with --ca-file: trust the system's roots too
//!   --pin PATH            trust exactly this (e.g. self-signed) server certificate
//!   --client-cert PATH    present this certificate chain (PEM) ...
//!   --client-key PATH     ... with this key
//!   --identity NAME       present the host identity NAME instead: the host signs
//!                         with its key, which this program never sees
//!   --alpn LIST           comma-separated ALPN protocols (default http/1.1)
//!   --tls12 | --tls13     only this version
//!   --cipher IDS          offer only these cipher suites (comma-separated IANA ids, hex)
//!   --groups LIST         offer only these key-exchange groups, preferred first
//!                         (IANA names or hex ids, e.g. x25519,secp256r1)
//!   --repeat N            fetch N times from one context (resumption); prints resumed=...
//!   --key-update          send a TLS 1.3 KeyUpdate before the request
//!   --sni NAME            connect to the URL's host but verify (and send SNI) as NAME
//!   --body                print the body too
//!   --show-chain          print the verified chain, one `verified-chain: HEX` line
//!                         per certificate (DER), end-entity first
//!   --insecure            no verification at all (needs a host that allows it)
//!   --upload BYTES        POST that many bytes instead of a GET (for measuring sends)
//! ```
//!
//! Prints the status line, headers, what TLS negotiated and, last, a
//! `memtls-result` report (`memtls-report`) for programs that drive it: times,
//! and how many calls the stream made to the provider while receiving
//! (`transfer_calls`) and, with `--upload`, while sending (`upload_calls`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Instant;

use memtls_stream::tls::{ClientConfig, ClientContext, ProtocolVersion, SigningChain, TrustStore};
use memtls_stream::{
    TlsStream, insecure, parse_alpn, parse_ciphers, parse_groups, read_file, version_name,
};

struct Args {
    url: String,
    ca_file: Option<String>,
    also_system: bool,
    pin: Option<String>,
    client_cert: Option<String>,
    client_key: Option<String>,
    identity: Option<String>,
    alpn: Vec<Vec<u8>>,
    version: Option<ProtocolVersion>,
    ciphers: Option<Vec<u16>>,
    groups: Option<Vec<u16>>,
    repeat: u32,
    key_update: bool,
    sni: Option<String>,
    body: bool,
    show_chain: bool,
    insecure: bool,
    upload: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        ca_file: None,
        also_system: false,
        pin: None,
        client_cert: None,
        client_key: None,
        identity: None,
        alpn: vec![b"http/1.1".to_vec()],
        version: None,
        ciphers: None,
        groups: None,
        repeat: 1,
        key_update: false,
        sni: None,
        body: false,
        show_chain: false,
        insecure: false,
        upload: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--ca-file" => a.ca_file = Some(value("--ca-file")?),
            "--also-system" => a.also_system = true,
            "--pin" => a.pin = Some(value("--pin")?),
            "--client-cert" => a.client_cert = Some(value("--client-cert")?),
            "--client-key" => a.client_key = Some(value("--client-key")?),
            "--identity" => a.identity = Some(value("--identity")?),
            "--alpn" => a.alpn = parse_alpn(&value("--alpn")?),
            "--tls12" => a.version = Some(ProtocolVersion::Tls12),
            "--tls13" => a.version = Some(ProtocolVersion::Tls13),
            "--cipher" => a.ciphers = Some(parse_ciphers(&value("--cipher")?)?),
            "--groups" => a.groups = Some(parse_groups(&value("--groups")?)?),
            "--repeat" => {
                a.repeat = value("--repeat")?
                    .parse()
                    .map_err(|_| "--repeat takes a number")?
            }
            "--key-update" => a.key_update = true,
            "--sni" => a.sni = Some(value("--sni")?),
            "--body" => a.body = true,
            "--show-chain" => a.show_chain = true,
            "--insecure" => a.insecure = true,
            "--upload" => {
                a.upload = value("--upload")?
                    .parse()
                    .map_err(|_| "--upload takes a number of bytes")?
            }
            "-h" | "--help" => return Err(String::new()),
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => a.url = other.to_string(),
        }
    }
    if a.url.is_empty() {
        return Err("give a URL: https://HOST[:PORT]/PATH".into());
    }
    Ok(a)
}

fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url}: only https:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h.trim_matches(|c| c == '[' || c == ']').to_string(),
            p.parse().map_err(|_| format!("bad port {p}"))?,
        ),
        _ => (authority.to_string(), 443),
    };
    Ok((host, port, path.to_string()))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("https-get: {e}");
            }
            eprintln!(
                "usage: https-get [--ca-file PATH] [--pin PATH] [--alpn LIST] [--tls12|--tls13] [--cipher IDS] [--groups LIST] [--client-cert PATH --client-key PATH | --identity NAME] [--body] [--show-chain] [--insecure] [--upload BYTES] https://HOST[:PORT]/PATH"
            );
            return ExitCode::FAILURE;
        }
    };
    // Past the arguments, a failure is the connection's, not the usage's.
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("https-get: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let (host, port, path) = split_url(&args.url)?;
    let mut trust = TrustStore {
        system: args.ca_file.is_none() && args.pin.is_none() || args.also_system,
        anchors: vec![],
        pinned: vec![],
    };
    if let Some(f) = &args.ca_file {
        trust.anchors.push(read_file(f)?);
    }
    if let Some(f) = &args.pin {
        trust.pinned.push(read_file(f)?);
    }
    let certificate_chain = match (&args.client_cert, &args.client_key, &args.identity) {
        (None, None, None) => None,
        (None, None, Some(name)) => Some(SigningChain::host_identity(name)),
        (Some(c), Some(k), None) => Some(SigningChain::new(vec![read_file(c)?], read_file(k)?)),
        (_, _, Some(_)) => return Err("--identity replaces --client-cert and --client-key".into()),
        _ => return Err("--client-cert and --client-key go together".into()),
    };
    let config = ClientConfig {
        certificate_chain,
        alpn_protocols: args.alpn.clone(),
        min_version: args.version,
        max_version: args.version,
        cipher_suites: args.ciphers.clone(),
        key_exchange_groups: args.groups.clone(),
        ..ClientConfig::new(trust)
    };
    let context = if args.insecure {
        insecure::client_context_without_verification(&config)
    } else {
        ClientContext::create(&config)
    }
    .map_err(|e| format!("configuration refused: {}", e.message))?;

    for round in 1..=args.repeat {
        let start = Instant::now();
        let tcp = TcpStream::connect((host.as_str(), port))
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let connect_ms = start.elapsed().as_secs_f64() * 1e3;
        let conn = context
            .connect(args.sni.as_deref().unwrap_or(&host))
            .map_err(|e| e.message)?;
        let mut tls = TlsStream::handshake(conn, tcp)
            .map_err(|e| format!("handshake with {host}:{port} failed: {e}"))?;
        let handshake_ms = start.elapsed().as_secs_f64() * 1e3;
        let c = tls.connection();
        let version = version_name(c.protocol_version());
        let cipher = c.cipher_suite().map(|s| s.name).unwrap_or_default();
        let group = c
            .key_exchange_group()
            .map_or_else(|| "none".into(), |g| g.name);
        let alpn = c
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_else(|| "none".into());
        let resumed = c.resumed();
        println!(
            "TLS: {version} {cipher} group {group} ALPN {alpn} resumed={resumed} (handshake {handshake_ms:.1} ms)"
        );
        if args.show_chain {
            for der in c.verified_chain() {
                let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                println!("verified-chain: {hex}");
            }
        }
        if args.key_update {
            c.request_key_update()
                .map_err(|e| format!("key update: {}", e.message))?;
        }

        // With --upload, a POST of that many bytes; its time runs from the
        // body's first byte to the response's first (the server answers once it
        // has read the whole body).
        let (method, length) = match args.upload {
            0 => ("GET", String::new()),
            n => ("POST", format!("Content-Length: {n}\r\n")),
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: memtls-https-get\r\nAccept: */*\r\n{length}Connection: close\r\n\r\n"
        );
        tls.write_all(request.as_bytes())
            .map_err(|e| format!("sending the request: {e}"))?;
        let upload_start = Instant::now();
        let calls = tls.provider_calls();
        let chunk = vec![b'u'; args.upload.min(64 * 1024)];
        let mut left = args.upload;
        while left > 0 {
            let n = left.min(chunk.len());
            tls.write_all(&chunk[..n])
                .map_err(|e| format!("sending the request body: {e}"))?;
            left -= n;
        }
        let upload_calls = tls.provider_calls() - calls;
        let mut upload_ms = None;
        let start = Instant::now();
        let calls = tls.provider_calls();
        // The head is kept; the body only with --body (otherwise it is counted).
        let mut response = Vec::new();
        let mut head_end: Option<usize> = None;
        let mut body_len = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let eof = loop {
            match tls.read(&mut buf) {
                Ok(0) => break "clean",
                Ok(n) if head_end.is_some() => {
                    body_len += n;
                    if args.body {
                        response.extend_from_slice(&buf[..n]);
                    }
                }
                Ok(n) => {
                    if upload_ms.is_none() {
                        upload_ms = Some(upload_start.elapsed().as_secs_f64() * 1e3);
                    }
                    response.extend_from_slice(&buf[..n]);
                    if let Some(at) = response.windows(4).position(|w| w == b"\r\n\r\n") {
                        head_end = Some(at);
                        body_len = response.len() - at - 4;
                        if !args.body {
                            response.truncate(at + 4);
                        }
                    } else if response.len() > 1 << 20 {
                        return Err("the response has no header end in its first MiB".into());
                    }
                }
                // Like Python's suppress_ragged_eofs: HTTP with Connection: close
                // ends at the transport's end; say which it was.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break "ragged",
                Err(e) => return Err(format!("reading the response: {e}")),
            }
        };
        let transfer_ms = start.elapsed().as_secs_f64() * 1e3;
        let transfer_calls = tls.provider_calls() - calls;
        let split = head_end.ok_or("the response has no header end")?;
        let head = String::from_utf8_lossy(&response[..split]);
        let body = &response[split + 4..];
        // The status line's second word.
        let status = head.split_whitespace().nth(1).unwrap_or("?").to_string();
        println!("{head}");
        println!();
        if args.body {
            println!("{}", String::from_utf8_lossy(body));
        } else {
            println!("({body_len} bytes of body)");
        }
        let ms = |v: f64| (v * 100.0).round() / 100.0;
        let mut result = report::json!({
            "status": status, "version": version, "cipher": cipher, "group": group, "alpn": alpn,
            "connect_ms": ms(connect_ms), "handshake_ms": ms(handshake_ms),
            "body_bytes": body_len, "transfer_ms": ms(transfer_ms), "eof": eof,
            "transfer_calls": transfer_calls, "resumed": resumed, "round": round,
        });
        if args.upload > 0 {
            result["upload_bytes"] = args.upload.into();
            result["upload_ms"] = ms(upload_ms.unwrap_or_default()).into();
            result["upload_calls"] = upload_calls.into();
        }
        report::print(report::Tag::Result, &result);
    }
    Ok(())
}

//! `starttls`: speaks SMTP in plaintext, issues STARTTLS and upgrades the same
//! TCP connection to TLS with memtls (the in-band upgrade a memory channel makes
//! natural), then talks SMTP over TLS and quits.
//!
//! ```text
//! starttls HOST:PORT [--ca-file PATH] [--name SERVER-NAME]
//! ```
//!
//! Prints the dialogue and a last line, a `memtls-result` report (`memtls-report`).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;

use memtls_stream::tls::{ClientConfig, ClientContext, TrustStore};
use memtls_stream::{TlsStream, read_file, version_name};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starttls: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads one SMTP reply (all its lines) and returns (code, text).
fn reply<R: Read>(r: &mut R) -> Result<(u16, String), String> {
    let mut text = String::new();
    loop {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\n") {
            if r.read(&mut byte)
                .map_err(|e| format!("reading a reply: {e}"))?
                == 0
            {
                return Err(format!("connection closed mid-reply after {text:?}"));
            }
            line.push(byte[0]);
        }
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        println!("S: {line}");
        let code = line
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or(format!("bad reply {line:?}"))?;
        text.push_str(line.get(4..).unwrap_or(""));
        text.push('\n');
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, text));
        }
    }
}

fn send<W: Write>(w: &mut W, line: &str) -> Result<(), String> {
    println!("C: {line}");
    w.write_all(format!("{line}\r\n").as_bytes())
        .and_then(|()| w.flush())
        .map_err(|e| format!("sending {line:?}: {e}"))
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let mut ca_file = None;
    let mut name = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ca-file" => ca_file = Some(args.next().ok_or("--ca-file needs a path")?),
            "--name" => name = Some(args.next().ok_or("--name needs a value")?),
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => addr = Some(other.to_string()),
        }
    }
    let addr = addr.ok_or("usage: starttls HOST:PORT [--ca-file PATH] [--name SERVER-NAME]")?;
    let host = addr
        .rsplit_once(':')
        .map_or(addr.as_str(), |(h, _)| h)
        .to_string();
    let name = name.unwrap_or(host);
    let trust = match &ca_file {
        Some(f) => TrustStore::anchors(vec![read_file(f)?]),
        None => TrustStore::system(),
    };
    let context = ClientContext::create(&ClientConfig::new(trust))
        .map_err(|e| format!("configuration refused: {}", e.message))?;

    let mut tcp =
        TcpStream::connect(&addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let (code, _) = reply(&mut tcp)?;
    if code != 220 {
        return Err(format!("greeting {code}"));
    }
    send(&mut tcp, "EHLO memtls.example")?;
    let (code, caps) = reply(&mut tcp)?;
    if code != 250
        || !caps
            .lines()
            .any(|l| l.trim().eq_ignore_ascii_case("STARTTLS"))
    {
        return Err(format!("the server does not offer STARTTLS ({code})"));
    }
    send(&mut tcp, "STARTTLS")?;
    let (code, _) = reply(&mut tcp)?;
    if code != 220 {
        return Err(format!("STARTTLS refused with {code}"));
    }
    // The same TCP connection, now carrying TLS.
    let conn = context.connect(&name).map_err(|e| e.message)?;
    let tls = TlsStream::handshake(conn, tcp)
        .map_err(|e| format!("TLS handshake after STARTTLS failed: {e}"))?;
    let c = tls.connection();
    let version = version_name(c.protocol_version());
    let cipher = c.cipher_suite().map(|s| s.name).unwrap_or_default();
    println!("-- TLS: {version} {cipher}");
    let mut tls = tls;
    send(&mut tls, "EHLO memtls.example")?;
    let (ehlo, _) = reply(&mut tls)?;
    send(&mut tls, "QUIT")?;
    let (quit, _) = reply(&mut tls)?;
    let _ = tls.close();
    report::print(
        report::Tag::Result,
        &report::json!({
            "starttls": "ok", "version": version, "cipher": cipher,
            "ehlo_after_tls": ehlo, "quit": quit,
        }),
    );
    let _ = io::stdout().flush();
    Ok(())
}

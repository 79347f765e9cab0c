//! Benchmark workloads, run through the interface and timed here (the host's
//! `memtls-bench` runs the same workloads on rustls directly as the baseline).
//! Both ends of every connection are on the same side of the interface, so each
//! figure covers a client and a server.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use crate::harness::{
    Connection, Fixtures, ProtocolVersion, ReadOutcome, WriteOutcome, anchors, chain,
    client_config, connect, err, send, server_config, tls,
};

/// Bytes per application write in the bulk workload.
const RECORD: usize = 16 * 1024;

thread_local! {
    /// Connection pairs kept open by `idle-hold`, so the host can measure them.
    static IDLE: RefCell<Vec<(Connection, Connection)>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn run(f: &Fixtures, workload: &str) -> Result<String, String> {
    let words: Vec<&str> = workload.split_whitespace().collect();
    let number = |i: usize| -> Result<u32, String> {
        words
            .get(i)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("bench {workload:?}: argument {i} must be a number"))
    };
    match words.first().copied() {
        Some("full") => full(
            f,
            words.get(1).copied().unwrap_or("server"),
            number(2)?,
            words.get(3).copied().unwrap_or("ca"),
        ),
        Some("resumed") => resumed(f, number(1)?),
        Some("bulk") => {
            let suite = words
                .get(1)
                .and_then(|w| u16::from_str_radix(w.trim_start_matches("0x"), 16).ok())
                .ok_or("bulk needs a suite id in hex")?;
            bulk(f, suite, number(2)?)
        }
        Some("idle-hold") => idle_hold(f, number(1)?),
        Some("idle-release") => {
            IDLE.with(|idle| idle.borrow_mut().clear());
            Ok("released=1".into())
        }
        _ => Err(format!("unknown bench workload {workload:?}")),
    }
}

/// `n` full handshakes with server chain `chain_name` issued by fixture CA `ca`: a
/// new client context each time (no session to resume).
fn full(f: &Fixtures, chain_name: &str, n: u32, ca: &str) -> Result<String, String> {
    let mut server = server_config(f)?;
    server.certificate_chains = vec![chain(f, chain_name)?];
    let server = tls::server_context(&server).map_err(err)?;
    let mut config = client_config(f)?;
    config.trust = anchors(f, ca)?;
    let start = Instant::now();
    for _ in 0..n {
        let client = tls::client_context(&config).map_err(err)?;
        let (_c, _s, pair) = connect(&client, &server, "localhost")?;
        pair.ok()?;
    }
    Ok(format!("ns={}", start.elapsed().as_nanos()))
}

/// `n` resumed handshakes (TLS 1.3 tickets) from one client context.
fn resumed(f: &Fixtures, n: u32) -> Result<String, String> {
    let server = tls::server_context(&server_config(f)?).map_err(err)?;
    let client = tls::client_context(&client_config(f)?).map_err(err)?;
    let handshake = || -> Result<bool, String> {
        let (c, s, pair) = connect(&client, &server, "localhost")?;
        pair.ok()?;
        // The server's tickets arrive with its first flight of data.
        send(&s, &c, b"t")?;
        Ok(c.resumed())
    };
    handshake()?;
    let start = Instant::now();
    let mut resumed = 0;
    for _ in 0..n {
        resumed += u32::from(handshake()?);
    }
    Ok(format!(
        "ns={} resumed={resumed}",
        start.elapsed().as_nanos()
    ))
}

/// `records` writes of 16 KiB with `suite`, each encrypted by the client and then
/// decrypted by the server, the two timed apart. Also counts the bytes that crossed
/// the interface boundary as list arguments and results.
fn bulk(f: &Fixtures, suite: u16, records: u32) -> Result<String, String> {
    let tls12 = suite >> 8 != 0x13;
    let version = tls12.then_some(ProtocolVersion::Tls12);
    let mut cc = client_config(f)?;
    cc.cipher_suites = Some(vec![suite]);
    cc.max_version = version;
    let mut sc = server_config(f)?;
    sc.cipher_suites = Some(vec![suite]);
    sc.max_version = version;
    let client = tls::client_context(&cc).map_err(err)?;
    let server = tls::server_context(&sc).map_err(err)?;
    let (c, s, pair) = connect(&client, &server, "localhost")?;
    pair.ok()?;
    send(&s, &c, b"t")?;
    let negotiated = c.cipher_suite().map(|cs| cs.id);
    if negotiated != Some(suite) {
        return Err(format!("negotiated {negotiated:?}, not {suite:#06x}"));
    }
    let plaintext = vec![0x5a_u8; RECORD];
    let mut boundary = 0_u64;
    let (mut encrypt, mut decrypt) = (Duration::ZERO, Duration::ZERO);
    let mut received = 0_usize;
    for _ in 0..records {
        // The client encrypts one record (timed as encryption), then the server
        // decrypts it (timed as decryption): each direction's cost, no storage.
        let start = Instant::now();
        let mut ciphertext = Vec::new();
        let mut off = 0;
        while off < RECORD {
            boundary += (RECORD - off) as u64;
            match c.write(&plaintext[off..]).map_err(err)? {
                WriteOutcome::Written(n) => off += n as usize,
                _ => return Err("write made no progress".into()),
            }
            let out = c.take(u32::MAX);
            boundary += out.len() as u64;
            ciphertext.push(out);
        }
        encrypt += start.elapsed();
        let start = Instant::now();
        for record in &ciphertext {
            let mut off = 0;
            while off < record.len() {
                boundary += (record.len() - off) as u64;
                off += s.feed(&record[off..]).map_err(err)? as usize;
                while let ReadOutcome::Data(d) = s.read(u32::MAX).map_err(err)? {
                    boundary += d.len() as u64;
                    received += d.len();
                }
            }
        }
        decrypt += start.elapsed();
    }
    let sent = RECORD * records as usize;
    if received != sent {
        return Err(format!("received {received} of {sent} bytes"));
    }
    Ok(format!(
        "encrypt_ns={} decrypt_ns={} bytes={sent} boundary={boundary} records={records}",
        encrypt.as_nanos(),
        decrypt.as_nanos()
    ))
}

/// Opens `n` handshaken, drained connection pairs and keeps them until
/// `idle-release`.
fn idle_hold(f: &Fixtures, n: u32) -> Result<String, String> {
    let server = tls::server_context(&server_config(f)?).map_err(err)?;
    let client = tls::client_context(&client_config(f)?).map_err(err)?;
    for _ in 0..n {
        let (c, s, pair) = connect(&client, &server, "localhost")?;
        pair.ok()?;
        send(&s, &c, b"t")?;
        IDLE.with(|idle| idle.borrow_mut().push((c, s)));
    }
    Ok(format!("held={}", IDLE.with(|idle| idle.borrow().len())))
}

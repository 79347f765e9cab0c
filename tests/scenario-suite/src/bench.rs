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

/// A benchmark workload (the runner's `workload`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// `count` full handshakes with server chain `chain` issued by fixture CA
    /// `ca`, a new client context each time.
    Full {
        /// The fixture prefix of the server's signing chain.
        chain: String,
        /// How many handshakes.
        count: u32,
        /// The fixture name of the CA the client trusts.
        ca: String,
        /// The key-exchange groups the client offers; `None`: the defaults.
        groups: Option<Vec<u16>>,
    },
    /// This many resumed handshakes (TLS 1.3 tickets) from one client context.
    Resumed(u32),
    /// `records` 16 KiB writes with cipher suite `suite`.
    Bulk {
        /// The IANA id of the suite.
        suite: u16,
        /// How many writes.
        records: u32,
    },
    /// Opens this many connection pairs and keeps them.
    IdleHold(u32),
    /// Drops the pairs kept.
    IdleRelease,
}

/// What a workload measured (the runner's `figures`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Figures {
    /// Of `Full` and `Resumed`.
    Handshakes {
        /// Wall time of all the handshakes, in nanoseconds.
        elapsed_ns: u64,
        /// How many resumed.
        resumed: u32,
    },
    /// Of `Bulk`.
    Bulk {
        /// Time spent encrypting, in nanoseconds.
        encrypt_ns: u64,
        /// Time spent decrypting, in nanoseconds.
        decrypt_ns: u64,
        /// Plaintext bytes sent.
        bytes: u64,
        /// Bytes that crossed the interface as arguments and results.
        boundary: u64,
        /// Writes made.
        records: u32,
    },
    /// Connection pairs held now.
    Held(u32),
}

pub(crate) fn run(f: &Fixtures, workload: &Workload) -> Result<Figures, String> {
    match workload {
        Workload::Full {
            chain,
            count,
            ca,
            groups,
        } => full(f, chain, *count, ca, groups.clone()),
        Workload::Resumed(n) => resumed(f, *n),
        Workload::Bulk { suite, records } => bulk(f, *suite, *records),
        Workload::IdleHold(n) => idle_hold(f, *n),
        Workload::IdleRelease => {
            IDLE.with(|idle| idle.borrow_mut().clear());
            Ok(Figures::Held(0))
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `n` full handshakes with server chain `chain_name` issued by fixture CA `ca`: a
/// new client context each time (no session to resume).
fn full(
    f: &Fixtures,
    chain_name: &str,
    n: u32,
    ca: &str,
    groups: Option<Vec<u16>>,
) -> Result<Figures, String> {
    let mut server = server_config(f)?;
    server.certificate_chains = vec![chain(f, chain_name)?];
    let server = tls::server_context(&server).map_err(err)?;
    let mut config = client_config(f)?;
    config.trust = anchors(f, ca)?;
    config.key_exchange_groups = groups;
    let start = Instant::now();
    for _ in 0..n {
        let client = tls::client_context(&config).map_err(err)?;
        let (_c, _s, pair) = connect(&client, &server, "localhost")?;
        pair.ok()?;
    }
    Ok(Figures::Handshakes {
        elapsed_ns: nanos(start.elapsed()),
        resumed: 0,
    })
}

/// `n` resumed handshakes (TLS 1.3 tickets) from one client context.
fn resumed(f: &Fixtures, n: u32) -> Result<Figures, String> {
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
    Ok(Figures::Handshakes {
        elapsed_ns: nanos(start.elapsed()),
        resumed,
    })
}

/// `records` writes of 16 KiB with `suite`, each encrypted by the client and then
/// decrypted by the server, the two timed apart. Also counts the bytes that crossed
/// the interface boundary as list arguments and results.
fn bulk(f: &Fixtures, suite: u16, records: u32) -> Result<Figures, String> {
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
    Ok(Figures::Bulk {
        encrypt_ns: nanos(encrypt),
        decrypt_ns: nanos(decrypt),
        bytes: sent as u64,
        boundary,
        records,
    })
}

/// Opens `n` handshaken, drained connection pairs and keeps them until
/// `idle-release`.
fn idle_hold(f: &Fixtures, n: u32) -> Result<Figures, String> {
    let server = tls::server_context(&server_config(f)?).map_err(err)?;
    let client = tls::client_context(&client_config(f)?).map_err(err)?;
    for _ in 0..n {
        let (c, s, pair) = connect(&client, &server, "localhost")?;
        pair.ok()?;
        send(&s, &c, b"t")?;
        IDLE.with(|idle| idle.borrow_mut().push((c, s)));
    }
    Ok(Figures::Held(IDLE.with(|idle| {
        u32::try_from(idle.borrow().len()).unwrap_or(u32::MAX)
    })))
}

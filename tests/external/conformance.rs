//! Conformance under hostile peers, judged from the peer's side: for each case of
//! `tests/external/conformance/tls_conformance.py` (malformed and truncated ClientHellos,
//! no common suite, group or signature scheme, unsupported and abused versions,
//! record overflow, corrupted and truncated records in TLS 1.2 and 1.3,
//! unexpected messages, ChangeCipherSpec misuse, ...), the alert the RFCs call
//! for and the alert that arrives on the wire. Against `tls-echo-server` on both
//! providers (a good client must succeed right after each case), and against
//! `https-get` on both providers facing a misbehaving server, and against a Python
//! `ssl` server in Wasm (`python/tests/conformance_peer.py`), blocking and
//! asyncio. Every case must draw the expected alert or the one listed, with its
//! reason, in `conformance-deviations.txt`; a silent close fails. The same Python
//! server run by CPython with OpenSSL is measured alongside, as the reference:
//! its asyncio server closes silently on every case (asyncio's SSL transport
//! aborts without sending the alert its SSLObject queued), and so does ours,
//! since that code is CPython's own; the asyncio rows are counted apart.

use std::collections::BTreeMap;
use std::time::Duration;

use memtls_external_tests::python_component;
use memtls_host::Policy;
use memtls_test_harness::peers::{EchoServer, Files, Peer, https_get, require, spawn};
use memtls_test_harness::{RunOptions, load, run};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/conformance/tls_conformance.py"
);

/// Listed deviations: case -> (alert code sent, reason).
fn deviations() -> BTreeMap<String, (String, String)> {
    include_str!("conformance-deviations.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let case = parts.next().unwrap_or_default().to_string();
            let code = parts.next().unwrap_or_default().to_string();
            let why = parts.next().unwrap_or_default().to_string();
            (case, (code, why))
        })
        .collect()
}

/// (case, expected, got) from the script's `case` lines.
fn cases(output: &str) -> Vec<(String, String, String)> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("case "))
        .filter_map(|l| {
            let mut it = l.split(' ');
            let name = it.next()?.to_string();
            let expected = it.next()?.strip_prefix("expected=")?.to_string();
            let got = it.next()?.strip_prefix("got=")?.to_string();
            Some((name, expected, got))
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    cases: usize,
    expected: usize,
    deviations: usize,
    silent: usize,
    failures: Vec<String>,
    seen_deviating: Vec<String>,
}

impl Tally {
    fn judge(&mut self, side: &str, name: &str, expected: &str, got: &str) {
        let listed = deviations();
        self.cases += 1;
        let verdict = if got == expected {
            self.expected += 1;
            if listed.contains_key(name) {
                self.failures.push(format!(
                    "{side} {name}: listed as a deviation but now {got}"
                ));
            }
            "as expected".to_string()
        } else if let Some((code, why)) = listed.get(name).filter(|(code, _)| code == got) {
            self.deviations += 1;
            self.seen_deviating.push(name.to_string());
            format!("deviation (sent {code}): {why}")
        } else {
            if got == "silent-close" || got == "no-response" {
                self.silent += 1;
            }
            self.failures
                .push(format!("{side} {name}: expected {expected}, got {got}"));
            "FAIL".to_string()
        };
        println!(
            "conformance {side:<28} {name:<36} expected={expected:<4} got={got:<14} {verdict}"
        );
    }
}

/// Runs the server cases against `port`; returns the script's output.
fn run_server_cases(port: u16) -> String {
    let out = std::process::Command::new("python3")
        .args([SCRIPT, "server", &port.to_string()])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("\ndone"),
        "the script did not finish: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn quit(port: u16) {
    let out = std::process::Command::new("python3")
        .args([SCRIPT, "quit", &port.to_string()])
        .output()
        .expect("python3");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("quit"),
        "the Python server did not echo quit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn judge_server_run(tally: &mut Tally, side: &str, text: &str, cases_expected: usize) {
    let found = cases(text);
    assert_eq!(found.len(), cases_expected, "{text}");
    for (name, expected, got) in found {
        tally.judge(side, &name, &expected, &got);
    }
    for line in text.lines().filter(|l| l.starts_with("after ")) {
        if !line.ends_with("good-client=ok") {
            tally
                .failures
                .push(format!("{side}: the server stopped serving: {line}"));
        }
    }
}

/// The script's misbehaving server, and the port it listens on.
fn misbehaving_server() -> (Peer, u16) {
    let peer = spawn("python3", &[SCRIPT, "client"], "misbehaving server");
    assert!(peer.wait_for("listening ", Duration::from_secs(20)));
    let port = peer
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("listening "))
        .and_then(|p| p.trim().parse().ok())
        .expect("port");
    (peer, port)
}

/// Waits for the misbehaving server to have seen every client case, and judges
/// the alerts it received.
fn judge_client_run(tally: &mut Tally, side: &str, peer: &Peer, client_cases: usize) {
    assert!(
        peer.wait_for("\ndone", Duration::from_secs(30)),
        "{}",
        peer.text()
    );
    let text = peer.text();
    let found = cases(&text);
    assert_eq!(found.len(), client_cases, "{text}");
    for (name, expected, got) in found {
        tally.judge(side, &name, &expected, &got);
    }
}

#[test]
fn peers_hear_our_alerts() {
    require("python3", "python3");
    let counts = std::process::Command::new("python3")
        .args([SCRIPT, "count"])
        .output()
        .expect("python3");
    let counts = String::from_utf8_lossy(&counts.stdout).into_owned();
    let mut it = counts
        .split_whitespace()
        .map(|n| n.parse::<usize>().unwrap());
    let (server_cases, client_cases) = (it.next().unwrap(), it.next().unwrap());
    let files = Files::new("conformance");
    let mut tally = Tally::default();

    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        // Each case is two connections: the hostile one and a good client.
        let server = EchoServer::start(provider, &files, &[], 2 * server_cases);
        let text = run_server_cases(server.port);
        judge_server_run(
            &mut tally,
            &format!("tls-echo-server --tls {provider}"),
            &text,
            server_cases,
        );
        let log = server.log();
        assert_eq!(server.finish(), 0, "{log}");
    }

    // The stdlib ssl on memtls inside Wasm, blocking and asyncio.
    let python = python_component("conformance_peer.py", Vec::new());
    let mut asyncio = (0, 0);
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        for mode in ["blocking", "asyncio"] {
            let loaded = load(&python, provider, &Policy::default(), "conformance_peer")
                .expect("load the Python server");
            let server = EchoServer::start_component(
                loaded,
                vec!["conformance_peer".into()],
                vec![("MEMTLS_CONFORMANCE_MODE".into(), mode.into())],
                &files,
            );
            let text = run_server_cases(server.port);
            quit(server.port);
            let side = format!("python ssl {mode} --tls {provider}");
            if mode == "blocking" {
                judge_server_run(&mut tally, &side, &text, server_cases);
            } else {
                for (name, expected, got) in cases(&text) {
                    asyncio.0 += 1;
                    asyncio.1 += usize::from(got == "silent-close");
                    println!(
                        "conformance {side:<28} {name:<36} expected={expected:<4} got={got:<14} \
                         (asyncio's own transport; CPython with OpenSSL alike)"
                    );
                }
                for line in text.lines().filter(|l| l.starts_with("after ")) {
                    if !line.ends_with("good-client=ok") {
                        tally
                            .failures
                            .push(format!("{side}: the server stopped serving: {line}"));
                    }
                }
            }
            let log = server.log();
            assert_eq!(server.finish(), 0, "{log}");
        }
    }
    // The reference: the same Python server under CPython with OpenSSL.
    for mode in ["blocking", "asyncio"] {
        let peer = spawn_reference(&files, mode);
        assert!(peer.wait_for("memtls-listening ", Duration::from_secs(20)));
        let port: u16 = peer
            .text()
            .lines()
            .find_map(|l| l.strip_prefix("memtls-listening 127.0.0.1:"))
            .and_then(|p| p.trim().parse().ok())
            .expect("port");
        let text = run_server_cases(port);
        quit(port);
        let found = cases(&text);
        let matching = found.iter().filter(|(_, e, g)| e == g).count();
        let silent = found.iter().filter(|(_, _, g)| g == "silent-close").count();
        println!(
            "reference: CPython {}, {mode}: {} cases, {matching} as the RFCs expect, \
             {silent} silent closes; {}",
            python_version(),
            found.len(),
            found
                .iter()
                .filter(|(_, e, g)| e != g)
                .map(|(n, _, g)| format!("{n}={g}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }

    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let (peer, port) = misbehaving_server();
        for _ in 0..client_cases {
            let (code, stdout, stderr) =
                https_get(provider, &files, &[&format!("https://127.0.0.1:{port}/")]);
            assert_ne!(code, 0, "https-get accepted a broken server: {stdout}");
            assert!(
                !stderr.contains("usage:"),
                "https-get prints its usage after a failed handshake: {stderr}"
            );
        }
        judge_client_run(
            &mut tally,
            &format!("https-get --tls {provider}"),
            &peer,
            client_cases,
        );
    }

    // The stdlib ssl client on memtls inside Wasm, facing the same misbehaving server.
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let (peer, port) = misbehaving_server();
        let loaded = load(&python, provider, &Policy::default(), "conformance_peer")
            .expect("load the Python client");
        let out = MemoryOutputPipe::new(1 << 20);
        let code = run(
            &loaded,
            &RunOptions {
                args: vec!["conformance_peer".into()],
                env: vec![
                    ("MEMTLS_CONFORMANCE_MODE".into(), "client".into()),
                    (
                        "MEMTLS_CONFORMANCE_TARGET".into(),
                        format!("127.0.0.1:{port}"),
                    ),
                    ("MEMTLS_CONFORMANCE_COUNT".into(), client_cases.to_string()),
                ],
                dirs: vec![(files.dir.clone(), "/f".into())],
                inherit_network: true,
                allow_ip_name_lookup: true,
                capture_stdout: Some(out.clone()),
                ..RunOptions::default()
            },
        )
        .expect("the Python client must not trap");
        let said = String::from_utf8_lossy(&out.contents()).into_owned();
        assert_eq!(code, 0, "{said}");
        assert!(!said.contains("memtls-accepted"), "{said}");
        assert_eq!(
            said.matches("memtls-error SSL").count(),
            client_cases,
            "every handshake must end in an SSLError: {said}"
        );
        judge_client_run(
            &mut tally,
            &format!("python ssl client --tls {provider}"),
            &peer,
            client_cases,
        );
    }

    for (name, _) in deviations() {
        if !tally.seen_deviating.contains(&name)
            && !tally.failures.iter().any(|f| f.contains(&name))
        {
            tally.failures.push(format!(
                "{name}: listed as a deviation but no case deviated"
            ));
        }
    }
    println!(
        "conformance: {} cases, {} as expected, {} silent closes ({} listed deviations, \
         each from rustls's choice of alert: conformance-deviations.txt; apart from these, \
         {} asyncio cases, {} closed silently by asyncio's transport as with OpenSSL)",
        tally.cases, tally.expected, tally.silent, tally.deviations, asyncio.0, asyncio.1
    );
    assert!(
        tally.failures.is_empty(),
        "failures:\n{}",
        tally.failures.join("\n")
    );
}

fn spawn_reference(files: &Files, mode: &str) -> memtls_test_harness::peers::Peer {
    let script = memtls_test_harness::workspace().join("python/tests/conformance_peer.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script)
        .env("MEMTLS_CONFORMANCE_FILES", &files.dir)
        .env("MEMTLS_CONFORMANCE_MODE", mode);
    memtls_test_harness::peers::spawn_command(cmd, "CPython's ssl server (reference)")
}

fn python_version() -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import platform, ssl; print(platform.python_version(), ssl.OPENSSL_VERSION)",
        ])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

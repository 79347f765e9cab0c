//! The interop matrix: our client (`https-get`) and our server (`tls-echo-server`)
//! against OpenSSL, GnuTLS and tlslite-ng, on loopback, with every provider
//! (native, guest, openssl).
//! One line per cell and a summary count per part; each part (a peer, a provider,
//! the feature cells) is its own test, so a failure names its part and lists its
//! failed cells. Cells a side does not support are listed with the reason and not
//! run.
//!
//! Dimensions: TLS 1.2 / 1.3 × certificate keys (P-256, P-384, RSA-2048, Ed25519)
//! × peer, in both roles; every cipher suite the providers offer against OpenSSL and
//! GnuTLS servers; and feature cells against OpenSSL: ALPN match and no overlap,
//! client certificates required / optional / absent, resumption (TLS 1.3 tickets,
//! TLS 1.2 session ids and tickets), HelloRetryRequest, KeyUpdate from each side,
//! tiny fragments and large records, SNI choosing a chain, our server resuming
//! peers' sessions, close_notify versus a bare TCP close; and against GnuTLS
//! those it has options for: ALPN, resumption both ways, HelloRetryRequest,
//! KeyUpdate from each side.

use std::time::Duration;

use memtls_host::Provider;
use memtls_test_harness::peers::*;

/// What `openssl s_client` prints once it verified the server.
const VERIFIED: &str = "Verify return code: 0";

struct Matrix {
    ran: usize,
    checks: Checks,
    unsupported: Vec<String>,
}

impl Matrix {
    fn new() -> Self {
        Self {
            ran: 0,
            checks: Checks::default(),
            unsupported: Vec::new(),
        }
    }

    fn cell(&mut self, ok: bool, what: String) {
        self.ran += 1;
        self.checks.check(ok, what);
    }

    fn unsupported(&mut self, what: &str, why: &str) {
        println!("interop {what:<72} n/a   {why}");
        self.unsupported.push(format!("{what}: {why}"));
    }

    fn finish(self, part: &str) {
        println!(
            "matrix {part}: {} cells, {} passed, {} failed, {} unsupported",
            self.ran,
            self.ran - self.checks.failed(),
            self.checks.failed(),
            self.unsupported.len()
        );
        self.checks.finish();
    }
}

const KEYS: [(&str, &str); 4] = [
    ("server", "P-256"),
    ("p384", "P-384"),
    ("rsa", "RSA-2048"),
    ("ed25519", "Ed25519"),
];
const PEERS: [&str; 3] = ["openssl", "gnutls", "tlslite"];

fn get(provider: Provider, files: &Files, port: u16, extra: &[&str]) -> (i32, String, String) {
    let url = format!("https://localhost:{port}/");
    let mut args = vec!["--ca-file", "/f/ca"];
    args.extend_from_slice(extra);
    args.push(&url);
    https_get(provider, files, &args)
}

fn version_flag(v: Version) -> &'static str {
    match v {
        Version::Tls12 => "--tls12",
        Version::Tls13 => "--tls13",
    }
}

/// The matrix's tests take turns: each starts peers on fresh ports and times
/// them, and two at once would share two cores.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static MATRIX: std::sync::Mutex<()> = std::sync::Mutex::new(());
    MATRIX
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs one part of the matrix with fresh fixtures; its failed cells fail it.
fn part(name: &str, cells: impl FnOnce(&Files, &mut Matrix)) {
    let _turn = turn();
    require_peers();
    require("tls.py", "tlslite-ng (PyPI)");
    let files = Files::new(&format!("matrix-{}", name.replace(' ', "-")));
    let mut m = Matrix::new();
    cells(&files, &mut m);
    m.finish(name);
}

/// Our client against `peer`'s server × keys × versions.
fn client_against(peer: &str, files: &Files, m: &mut Matrix) {
    for (key, key_name) in KEYS {
        let (server, port) = https_server(peer, files, key, &[]);
        for version in Version::ALL {
            for provider in memtls_test_harness::PROVIDERS {
                let run = get(provider, files, port, &[version_flag(version)]);
                let v = version.name();
                let what = format!("client {provider:<6} -> {peer:<7} server {key_name:<8} {v}");
                m.cell(fetched_over(&run, version, &server), what);
            }
        }
    }
}

/// Every cipher suite, our client against `peer`'s server.
fn every_suite_against(peer: &str, files: &Files, m: &mut Matrix) {
    let suites: [(&str, &str, &str); 9] = [
        ("1301", "TLS13_AES_128_GCM_SHA256", "server"),
        ("1302", "TLS13_AES_256_GCM_SHA384", "server"),
        ("1303", "TLS13_CHACHA20_POLY1305_SHA256", "server"),
        ("c02b", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "server"),
        ("c02c", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "server"),
        (
            "cca9",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "server",
        ),
        ("c02f", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "rsa"),
        ("c030", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "rsa"),
        ("cca8", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "rsa"),
    ];
    for key in ["server", "rsa"] {
        let (server, port) = https_server(peer, files, key, &[]);
        for (id, name, _) in suites.iter().filter(|s| s.2 == key) {
            let v = if id.starts_with("13") {
                "--tls13"
            } else {
                "--tls12"
            };
            for provider in memtls_test_harness::PROVIDERS {
                let (code, out, err) = get(provider, files, port, &["--cipher", id, v]);
                let ok = code == 0 && result_field(&out, "cipher").as_deref() == Some(*name);
                if !ok {
                    eprintln!(
                        "{peer} {name} {provider}: {code}\n{out}\n{err}\n{}",
                        server.text()
                    );
                }
                m.cell(
                    ok,
                    format!("client {provider:<6} -> {peer:<7} suite {name}"),
                );
            }
        }
    }
}

/// Our server under `provider` against every peer's client × keys × versions.
fn server_under(provider: Provider, files: &Files, m: &mut Matrix) {
    for (key, key_name) in KEYS {
        let cells: Vec<(&str, Version)> = PEERS
            .iter()
            .flat_map(|p| Version::ALL.into_iter().map(move |v| (*p, v)))
            .collect();
        let chain = format!("/f/{key}.chain");
        let keyf = format!("/f/{key}.key");
        let server = EchoServer::start_with(
            provider,
            files,
            &["--cert", &chain, "--key", &keyf],
            cells.len(),
        );
        for (peer, version) in cells {
            let msg = format!("ping {peer} {}", version.name());
            let ok = match peer {
                "openssl" | "gnutls" => {
                    let wait = Duration::from_secs(30);
                    echoes(peer, server.port, files, version, false, &msg, wait)
                }
                _ => {
                    let host = format!("localhost:{}", server.port);
                    let maxv = match version {
                        Version::Tls12 => "tls1.2",
                        Version::Tls13 => "tls1.3",
                    };
                    let c = spawn(
                        "tls.py",
                        &["client", "--max-ver", maxv, &host],
                        "tls.py client",
                    );
                    let want = match version {
                        Version::Tls12 => "Version: TLS 1.2",
                        Version::Tls13 => "Version: TLS 1.3",
                    };
                    c.wait_for("Handshake success", Duration::from_secs(60))
                        && c.wait_for(want, Duration::from_secs(5))
                }
            };
            m.cell(
                ok,
                format!(
                    "server {provider:<6} <- {peer:<7} client {key_name:<8} {}",
                    version.name()
                ),
            );
        }
        let _ = server.finish();
    }
}

/// Our client against each peer's server (keys × versions), one test per peer.
mod client_against_server {
    use super::*;

    #[test]
    fn openssl() {
        part("client -> openssl", |f, m| client_against("openssl", f, m));
    }

    #[test]
    fn gnutls() {
        part("client -> gnutls", |f, m| client_against("gnutls", f, m));
    }

    #[test]
    fn tlslite() {
        part("client -> tlslite", |f, m| {
            client_against("tlslite", f, m);
            m.unsupported(
                "client -> tlslite every suite",
                "tls.py server has no cipher selection option; its default suites are covered here",
            );
        });
    }
}

/// Every cipher suite against OpenSSL's and GnuTLS's servers.
mod every_suite {
    use super::*;

    #[test]
    fn openssl() {
        part("suites -> openssl", |f, m| {
            every_suite_against("openssl", f, m)
        });
    }

    #[test]
    fn gnutls() {
        part("suites -> gnutls", |f, m| {
            every_suite_against("gnutls", f, m)
        });
    }
}

/// Our server under each provider against every peer's client.
mod server_under_provider {
    use super::*;

    #[test]
    fn native() {
        part("server native", |f, m| server_under(Provider::Native, f, m));
    }

    #[test]
    fn guest() {
        part("server guest", |f, m| server_under(Provider::Guest, f, m));
    }

    #[test]
    fn openssl() {
        part("server openssl", |f, m| {
            server_under(Provider::OpenSsl, f, m)
        });
    }
}

/// How a peer's HTTPS server is told to exercise the client feature cells
/// every peer shares.
struct ServerFlags {
    peer: &'static str,
    /// Offers ALPN http/1.1 only, refusing a client without it with alert 120.
    alpn: &'static [&'static str],
    /// Issues no session tickets (TLS 1.2 resumes by session id).
    no_ticket: &'static str,
    /// Speaks TLS 1.3 with P-256 as its only group.
    p256_only: &'static [&'static str],
}

const OPENSSL_SERVER: ServerFlags = ServerFlags {
    peer: "openssl",
    alpn: &["-alpn", "http/1.1"],
    no_ticket: "-no_ticket",
    p256_only: &["-groups", "P-256", "-tls1_3"],
};

/// GnuTLS answers a client without a common ALPN protocol with an alert only
/// when told to (`--alpn-fatal`).
const GNUTLS_SERVER: ServerFlags = ServerFlags {
    peer: "gnutls",
    alpn: &["--alpn", "http/1.1", "--alpn-fatal"],
    no_ticket: "--noticket",
    p256_only: &[
        "--priority",
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-SECP256R1",
    ],
};

/// The `resumed` field of every `tag` record in a report, in order.
fn resumed(tag: memtls_report::Tag, report: &str) -> Vec<String> {
    memtls_report::all(tag, report)
        .iter()
        .filter_map(|r| r.text("resumed"))
        .collect()
}

/// Our client against `server`'s peer: ALPN match and no overlap, resumption
/// (TLS 1.3 tickets, TLS 1.2 tickets and session ids), HelloRetryRequest.
fn client_feature_cells(server: &ServerFlags, provider: Provider, files: &Files, m: &mut Matrix) {
    let peer = server.peer;
    let (_s, port) = https_server(peer, files, "server", server.alpn);
    let (code, out, _) = get(provider, files, port, &["--alpn", "h2,http/1.1"]);
    m.cell(
        code == 0 && result_field(&out, "alpn").as_deref() == Some("http/1.1"),
        format!("client {provider:<6} -> {peer} ALPN match"),
    );
    let (code, _, err) = get(provider, files, port, &["--alpn", "h2"]);
    m.cell(
        code != 0 && err.contains("alert-received(120)"),
        format!("client {provider:<6} -> {peer} ALPN no overlap (alert 120)"),
    );
    drop(_s);

    for (what, version, extra) in [
        ("TLS 1.3 tickets", "--tls13", &[][..]),
        ("TLS 1.2 tickets", "--tls12", &[][..]),
        ("TLS 1.2 session ids", "--tls12", &[server.no_ticket][..]),
    ] {
        let (_s, port) = https_server(peer, files, "server", extra);
        let (code, out, _) = get(provider, files, port, &["--repeat", "2", version]);
        m.cell(
            code == 0 && resumed(memtls_report::Tag::Result, &out) == ["false", "true"],
            format!("client {provider:<6} -> {peer} resumption, {what}"),
        );
    }

    // We offer X25519 first; the server takes only P-256.
    let (_s, port) = https_server(peer, files, "server", server.p256_only);
    let (code, out, _) = get(provider, files, port, &["--tls13"]);
    m.cell(
        code == 0 && result_field(&out, "version").as_deref() == Some("TLSv1.3"),
        format!("client {provider:<6} -> {peer} HelloRetryRequest (P-256 only)"),
    );
}

/// Feature cells against OpenSSL.
#[test]
fn features_against_openssl() {
    part("features openssl", |f, m| {
        features_openssl(f, m);
        m.unsupported("RSA-PSS certificate keys (id-RSASSA-PSS)", "rustls-webpki and ring verify RSA-PSS signatures only with rsaEncryption keys; RSA-2048 cells use PSS signatures in TLS 1.3");
    });
}

fn features_openssl(files: &Files, m: &mut Matrix) {
    for provider in memtls_test_harness::PROVIDERS {
        client_feature_cells(&OPENSSL_SERVER, provider, files, m);

        // Client certificates: required (with / without), optional (without).
        let ca = files.path("client-ca");
        let (_s, port) = https_server(
            "openssl",
            files,
            "server",
            &["-Verify", "1", "-CAfile", &ca, "-verify_return_error"],
        );
        let (code, _, _) = get(
            provider,
            files,
            port,
            &[
                "--client-cert",
                "/f/client.chain",
                "--client-key",
                "/f/client.key",
            ],
        );
        m.cell(
            code == 0,
            format!("client {provider:<6} -> openssl client cert required, presented"),
        );
        let (code, _, _) = get(provider, files, port, &[]);
        m.cell(
            code != 0,
            format!("client {provider:<6} -> openssl client cert required, absent: refused"),
        );
        drop(_s);
        let (_s, port) = https_server(
            "openssl",
            files,
            "server",
            &["-verify", "1", "-CAfile", &ca],
        );
        let (code, _, _) = get(provider, files, port, &[]);
        m.cell(
            code == 0,
            format!("client {provider:<6} -> openssl client cert optional, absent"),
        );
        drop(_s);

        // KeyUpdate initiated by our client; tiny fragments from the server.
        let (_s, port) = https_server("openssl", files, "server", &["-max_send_frag", "512"]);
        let (code, _, _) = get(provider, files, port, &["--tls13", "--key-update"]);
        m.cell(
            code == 0,
            format!("client {provider:<6} -> openssl KeyUpdate from our client"),
        );
        let (code, out, _) = get(provider, files, port, &[]);
        m.cell(
            code == 0 && result_field(&out, "status").is_some(),
            format!("client {provider:<6} <- openssl tiny fragments (512-byte records)"),
        );
        drop(_s);

        // Our server: KeyUpdate from the peer ("k" in s_client), from us, and tiny
        // fragments from the peer.
        let server = EchoServer::start_with(
            provider,
            files,
            &[
                "--cert",
                "/f/server.chain",
                "--key",
                "/f/server.key",
                "--key-update",
            ],
            2,
        );
        let mut c = openssl_client(server.port, files, Version::Tls13, false, false);
        let hs = c.wait_for(VERIFIED, Duration::from_secs(30));
        c.send(b"k\n");
        c.send(b"after key update\n");
        m.cell(
            hs && c.wait_for("after key update", Duration::from_secs(30)),
            format!("server {provider:<6} KeyUpdate from each side (openssl s_client 'k')"),
        );
        drop(c);
        let small = ["-max_send_frag", "512"];
        let mut c = s_client(server.port, files, &small, "openssl s_client small frags");
        let big = "x".repeat(3000);
        m.cell(
            c.round_trip(VERIFIED, &big, Duration::from_secs(30)),
            format!("server {provider:<6} <- openssl tiny fragments (512-byte records)"),
        );
        drop(c);
        let _ = server.finish();

        // SNI: the server picks its second chain for b.test.
        let (b_chain, b_key) = (files.path("b.chain"), files.path("b.key"));
        let (_s, port) = https_server(
            "openssl",
            files,
            "server",
            &["-servername", "b.test", "-cert2", &b_chain, "-key2", &b_key],
        );
        let (code, _, _) = get(provider, files, port, &["--sni", "b.test"]);
        let (code_default, _, _) = get(provider, files, port, &[]);
        m.cell(
            code == 0 && code_default == 0,
            format!("client {provider:<6} -> openssl SNI chooses the b.test chain"),
        );
        drop(_s);

        // Our server resuming sessions for openssl clients (TLS 1.3 tickets, TLS 1.2
        // tickets, TLS 1.2 session ids).
        for (what, version, extra) in [
            ("TLS 1.3 tickets", Version::Tls13, &[][..]),
            ("TLS 1.2 tickets", Version::Tls12, &[][..]),
            ("TLS 1.2 session ids", Version::Tls12, &["--no-tickets"][..]),
        ] {
            let server = EchoServer::start(provider, files, extra, 2);
            let sess = files
                .dir
                .join(format!("sess-{provider}-{}", what.replace(' ', "-")));
            let sess = sess.display().to_string();
            for (i, flag) in ["-sess_out", "-sess_in"].iter().enumerate() {
                let resume = ["-servername", "localhost", version.openssl(), flag, &sess];
                let mut c = s_client(server.port, files, &resume, "openssl s_client (resumption)");
                let _ = c.round_trip(VERIFIED, &format!("round {i}"), Duration::from_secs(30));
                // Give the client time to store the TLS 1.3 ticket before it exits.
                std::thread::sleep(Duration::from_millis(300));
            }
            let (_, log) = server.finish_with_log();
            let flags = resumed(memtls_report::Tag::Accepted, &log);
            m.cell(
                flags == ["false", "true"],
                format!("server {provider:<6} <- openssl resumption, {what}"),
            );
        }

        // Large records: 1 MiB from a Python (OpenSSL) server in full-size records,
        // and 64 KiB lines from openssl s_client to our server.
        let (_big, port) = bare_close_server(files, 1 << 20);
        let (code, out, _) = get(provider, files, port, &[]);
        m.cell(
            code == 0 && result_field(&out, "body_bytes").as_deref() == Some("1048576"),
            format!("client {provider:<6} <- python/OpenSSL large records (1 MiB body)"),
        );
        drop(_big);
        let server = EchoServer::start(provider, files, &[], 1);
        let mut c = s_client(server.port, files, &[], "openssl s_client (large)");
        let line_64k: String = (0..65536)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        m.cell(
            c.round_trip(VERIFIED, &line_64k, Duration::from_secs(30)),
            format!("server {provider:<6} <- openssl large records (64 KiB line)"),
        );
        drop(c);
        let _ = server.finish();

        // close_notify versus a bare TCP close (Python's ssl without unwrap).
        let (_s, port) = https_server("openssl", files, "server", &[]);
        let (code, out, _) = get(provider, files, port, &[]);
        let eof = result_field(&out, "eof").unwrap_or_default();
        m.cell(
            code == 0 && !eof.is_empty(),
            format!("client {provider:<6} -> openssl end of response: {eof} close"),
        );
        drop(_s);
        let (_bare, port) = bare_close_server(files, 3);
        let (code, out, _) = get(provider, files, port, &[]);
        m.cell(
            code == 0 && result_field(&out, "eof").as_deref() == Some("ragged"),
            format!("client {provider:<6} -> bare TCP close reported as ragged EOF"),
        );
    }
}

/// Feature cells against GnuTLS.
#[test]
fn features_against_gnutls() {
    part("features gnutls", |f, m| {
        features_gnutls(f, m);
        m.unsupported(
            "client <- gnutls tiny fragments",
            "gnutls-serv has no option to send small records (--recordsize only advertises a limit for the client's records)",
        );
    });
}

/// Feature cells against GnuTLS (`gnutls-serv`, `gnutls-cli`): the same
/// features where GnuTLS has a way to exercise them.
fn features_gnutls(files: &Files, m: &mut Matrix) {
    for provider in memtls_test_harness::PROVIDERS {
        client_feature_cells(&GNUTLS_SERVER, provider, files, m);

        // KeyUpdate initiated by our client.
        let (_s, port) = https_server("gnutls", files, "server", &[]);
        let (code, _, _) = get(provider, files, port, &["--tls13", "--key-update"]);
        m.cell(
            code == 0,
            format!("client {provider:<6} -> gnutls KeyUpdate from our client"),
        );
        drop(_s);

        // Our server resuming gnutls-cli's sessions (it connects, then
        // reconnects resuming and says so).
        for (what, version, extra) in [
            ("TLS 1.3 tickets", Version::Tls13, &["--waitresumption"][..]),
            ("TLS 1.2 tickets", Version::Tls12, &[][..]),
            ("TLS 1.2 session ids", Version::Tls12, &["--noticket"][..]),
        ] {
            let server = EchoServer::start(provider, files, &[], 2);
            let (port, ca) = (server.port.to_string(), files.path("ca"));
            let mut args = vec!["-p", &port, "--x509cafile", &ca, "--priority"];
            args.extend([version.gnutls(), "--resume"]);
            args.extend_from_slice(extra);
            args.push("localhost");
            let c = spawn("gnutls-cli", &args, "gnutls-cli --resume");
            let said = c.wait_for("This is a resumed session", Duration::from_secs(30));
            // The client may say so before the server has logged the
            // connection: its end closes it, the server's exit ends the log.
            drop(c);
            let (_, log) = server.finish_with_log();
            let flags = resumed(memtls_report::Tag::Accepted, &log);
            m.cell(
                said && flags == ["false", "true"],
                format!("server {provider:<6} <- gnutls resumption, {what}"),
            );
        }

        // KeyUpdate from gnutls-cli (its ^rekey^ inline command) to our server.
        let server = EchoServer::start(provider, files, &[], 1);
        let (port, ca) = (server.port.to_string(), files.path("ca"));
        let version = Version::Tls13.gnutls();
        let args = [
            "-p",
            &port,
            "--x509cafile",
            &ca,
            "--priority",
            version,
            "--inline-commands",
            "localhost",
        ];
        let mut c = spawn("gnutls-cli", &args, "gnutls-cli --inline-commands");
        let hs = c.wait_for("Handshake was completed", Duration::from_secs(30));
        c.send(b"^rekey^\n");
        let rekeyed = c.wait_for("Rekey was completed", Duration::from_secs(30));
        m.cell(
            hs && rekeyed
                && c.round_trip(
                    "Handshake was completed",
                    "after key update",
                    Duration::from_secs(30),
                ),
            format!("server {provider:<6} <- gnutls KeyUpdate (gnutls-cli ^rekey^)"),
        );
        drop(c);
        let _ = server.finish();
    }
}

/// A Python TLS server (OpenSSL underneath) that answers each request with a body
/// of `body_len` bytes and then closes TCP without close_notify (closing an
/// `ssl.SSLSocket` does not send one).
fn bare_close_server(files: &Files, body_len: usize) -> (Peer, u16) {
    let port = free_port();
    let script = r#"
import socket, ssl
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain("CHAIN", "KEY")
s = socket.create_server(("127.0.0.1", PORT))
while True:
    c, _ = s.accept()
    try:
        t = ctx.wrap_socket(c, server_side=True)
        t.recv(4096)
        t.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * BODY)
        t.close()
    except Exception:
        c.close()
"#
    .replace("CHAIN", &files.path("server.chain"))
    .replace("KEY", &files.path("server.key"))
    .replace("PORT", &port.to_string())
    .replace("BODY", &body_len.to_string());
    let p = spawn("python3", &["-c", &script], "python bare-close server");
    wait_listening(port, &p);
    (p, port)
}

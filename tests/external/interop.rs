//! End-to-end interop on loopback: the example components (https-get,
//! tls-echo-server, starttls) against independent TLS peers — OpenSSL's
//! `s_server` / `s_client` and GnuTLS's `gnutls-serv` / `gnutls-cli` — with each
//! provider, TLS 1.2 and 1.3, with and without client certificates, and a
//! certificate the client must reject. The peers must be installed (`.ci/run`
//! installs them); a missing peer fails the test with a message, it is not skipped.

use std::time::Duration;

use memtls_host::Policy;
use memtls_test_harness::examples;
use memtls_test_harness::peers::*;

#[test]
fn https_get_against_openssl_and_gnutls_servers() {
    require_peers();
    let (files, mut checks) = (Files::new("get"), Checks::default());
    for version in Version::ALL {
        for server in ["openssl", "gnutls"] {
            let flag = match server {
                "openssl" => vec![version.openssl()],
                _ => vec!["--priority", version.gnutls()],
            };
            let (peer, port) = https_server(server, &files, "server", &flag);
            for provider in memtls_test_harness::RUSTLS_PROVIDERS {
                let url = format!("https://localhost:{port}/");
                let run = https_get(provider, &files, &["--ca-file", "/f/ca", &url]);
                let v = version.name();
                let what = format!("https-get --tls {provider} vs {server} server {v}");
                checks.check(fetched_over(&run, version, &peer), what);
            }
        }
    }
    checks.finish();
}

#[test]
fn https_get_client_certificates_and_rejection() {
    require("openssl", "openssl");
    let (files, mut checks) = (Files::new("mtls"), Checks::default());
    // A server that requires a client certificate from client-ca.
    let client_ca = files.path("client-ca");
    let (peer, port) = https_server(
        "openssl",
        &files,
        "server",
        &[
            "-Verify",
            "1",
            "-CAfile",
            &client_ca,
            "-verify_return_error",
        ],
    );
    let url = format!("https://localhost:{port}/");
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let (code, out, err) = https_get(
            provider,
            &files,
            &[
                "--ca-file",
                "/f/ca",
                "--client-cert",
                "/f/client.chain",
                "--client-key",
                "/f/client.key",
                &url,
            ],
        );
        let ok = code == 0 && result_field(&out, "status").as_deref() == Some("200");
        if !ok {
            eprintln!("{out}\n{err}\n{}", peer.text());
        }
        checks.check(
            ok,
            format!("https-get --tls {provider} with client certificate, required"),
        );
        let (code, _out, err) = https_get(provider, &files, &["--ca-file", "/f/ca", &url]);
        checks.check(
            code != 0 && err.contains("TLS"),
            format!("https-get --tls {provider} without client certificate, refused"),
        );
    }
    drop(peer);
    // A server whose certificate comes from an unknown CA: the client must reject it.
    let (_peer, port) = https_server("openssl", &files, "unknown", &[]); // kept alive until the end
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let (code, out, err) = https_get(
            provider,
            &files,
            &["--ca-file", "/f/ca", &format!("https://localhost:{port}/")],
        );
        let ok = code != 0
            && err.contains("certificate-rejected(unknown-issuer)")
            && !out.contains("memtls-result");
        if !ok {
            eprintln!("code {code}\n{out}\n{err}");
        }
        checks.check(
            ok,
            format!("https-get --tls {provider} rejects an unknown issuer"),
        );
    }
    checks.finish();
}

#[test]
fn echo_server_driven_by_openssl_and_gnutls_clients() {
    require_peers();
    let (files, mut checks) = (Files::new("echo"), Checks::default());
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        for (auth, extra) in [
            ("no client auth", &[][..]),
            ("client cert required", &["--client-ca", "/f/client-ca"][..]),
        ] {
            let with_cert = !extra.is_empty();
            let server = EchoServer::start(provider, &files, extra, 4);
            for version in Version::ALL {
                for client in ["openssl", "gnutls"] {
                    let msg = format!("hello from {client} over {}", version.name());
                    let wait = Duration::from_secs(20);
                    let echoed =
                        echoes(client, server.port, &files, version, with_cert, &msg, wait);
                    checks.check(
                        echoed,
                        format!(
                            "tls-echo-server --tls {provider} ({auth}) <- {client} {}",
                            version.name()
                        ),
                    );
                }
            }
            let log = server.log();
            let code = server.finish();
            let reports = memtls_report::all(memtls_report::Tag::Accepted, &log);
            let accepted = reports.len();
            checks.check(
                code == 0 && accepted == 4,
                format!("tls-echo-server --tls {provider} ({auth}) accepted {accepted}/4"),
            );
            if with_cert {
                checks.check(
                    reports
                        .iter()
                        .filter(|r| r.text("client_cert").as_deref() == Some("yes"))
                        .count()
                        == 4,
                    format!("tls-echo-server --tls {provider} saw 4 client certificates"),
                );
            }
        }
    }
    checks.finish();
}

#[test]
fn starttls_smtp_both_directions() {
    require("openssl", "openssl");
    let (files, mut checks) = (Files::new("smtp"), Checks::default());
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        // Our SMTP server with STARTTLS, driven by openssl s_client -starttls smtp.
        let server = EchoServer::start(provider, &files, &["--smtp-starttls"], 2);
        let mut peer = openssl_client(server.port, &files, Version::Tls13, false, true);
        let hs = peer.wait_for("Verify return code: 0", Duration::from_secs(20));
        peer.send(b"EHLO openssl\r\n");
        let ok = hs && peer.wait_for("250 EHLO openssl", Duration::from_secs(20));
        peer.send(b"QUIT\r\n");
        let _ = peer.wait_for("221", Duration::from_secs(10));
        drop(peer);
        checks.check(
            ok,
            format!(
                "tls-echo-server --smtp-starttls --tls {provider} <- openssl s_client -starttls smtp"
            ));
        // Our STARTTLS client against our server (the independent-server check is
        // the next test).
        let starttls = Example::new(examples::starttls(), "starttls");
        let server_at = format!("127.0.0.1:{}", server.port);
        let starttls_args = [
            server_at.as_str(),
            "--ca-file",
            "/f/ca",
            "--name",
            "localhost",
        ];
        let (code, text, _) = starttls.run(provider, &Policy::default(), &files, &starttls_args);
        checks.check(
            code == 0 && result_field(&text, "starttls").as_deref() == Some("ok"),
            format!("starttls --tls {provider} -> tls-echo-server --smtp-starttls"),
        );
        server.finish();
    }
    checks.finish();
}

#[test]
fn starttls_client_against_aiosmtpd() {
    // aiosmtpd (PyPI) is an independent SMTP server with STARTTLS.
    require_module("aiosmtpd", "aiosmtpd");
    let (files, mut checks) = (Files::new("aiosmtpd"), Checks::default());
    let (peer, port) = smtp_server(&files);
    let listen = format!("127.0.0.1:{port}");
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let starttls = Example::new(examples::starttls(), "starttls");
        let starttls_args = [listen.as_str(), "--ca-file", "/f/ca", "--name", "localhost"];
        let (code, text, err) = starttls.run(provider, &Policy::default(), &files, &starttls_args);
        let ok = code == 0
            && result_field(&text, "starttls").as_deref() == Some("ok")
            && result_field(&text, "ehlo_after_tls").as_deref() == Some("250");
        if !ok {
            eprintln!("{text}\n{err}\npeer: {}", peer.text());
        }
        checks.check(ok, format!("starttls --tls {provider} -> aiosmtpd"));
    }
    checks.finish();
}

/// TLS 1.2 without the extended master secret is refused by every provider, in
/// both roles: a client (CPython's ssl on OpenSSL, with
/// SSL_OP_NO_EXTENDED_MASTER_SECRET) hears a handshake_failure alert from our
/// server, which says why; our client refuses such a server (CPython's ssl the
/// same way) and says why, and the server hears the alert.
#[test]
fn tls12_without_extended_master_secret_is_refused() {
    require("python3", "python3");
    let files = Files::new("ems");
    let client = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ctx.options |= 1  # SSL_OP_NO_EXTENDED_MASTER_SECRET (OpenSSL 3)
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    ctx.wrap_socket(sock, server_hostname="localhost")
    print("HANDSHAKE-OK")
except ssl.SSLError as e:
    print("SSLERROR", e)
"#;
    let no_ems_server = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ctx.options |= 1  # SSL_OP_NO_EXTENDED_MASTER_SECRET (OpenSSL 3)
server = socket.create_server(("127.0.0.1", int(sys.argv[3])))
while True:
    connection, _ = server.accept()
    try:
        with ctx.wrap_socket(connection, server_side=True) as tls:
            print("HANDSHAKE-OK", flush=True)
    except (ssl.SSLError, OSError) as e:
        print("SSLERROR", e, flush=True)
"#;
    let mut checks = Checks::default();
    for provider in memtls_test_harness::PROVIDERS {
        let server = EchoServer::start(provider, &files, &[], 1);
        let out = std::process::Command::new("python3")
            .args(["-c", client, &server.port.to_string()])
            .output()
            .expect("python3");
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        let log = server.log();
        server.finish();
        checks.check(
            said.contains("SSLERROR") && said.contains("HANDSHAKE_FAILURE"),
            format!("tls-echo-server --tls {provider} <- TLS 1.2 without EMS: peer got {said:?}"),
        );
        checks.check(
            log.contains("extended master secret"),
            format!("tls-echo-server --tls {provider} says why: {log:?}"),
        );

        let (peer, port) =
            python_tls_server(no_ems_server, &files, "python3 TLS 1.2 server without EMS");
        let url = format!("https://localhost:{port}/");
        let (code, stdout, stderr) = https_get(provider, &files, &["--ca-file", "/f/ca", &url]);
        let ours = format!("{stdout}{stderr}");
        checks.check(
            code != 0 && ours.contains("extended master secret"),
            format!("https-get --tls {provider} -> TLS 1.2 server without EMS: {ours:?}"),
        );
        checks.check(
            peer.wait_for("HANDSHAKE_FAILURE", Duration::from_secs(10)),
            format!(
                "the server without EMS heard handshake_failure from {provider}: {}",
                peer.text()
            ),
        );
    }
    checks.finish();
}

/// A real ClientHello (rustls's, for `localhost`).
fn client_hello() -> Vec<u8> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let mut client =
        rustls::ClientConnection::new(std::sync::Arc::new(config), "localhost".try_into().unwrap())
            .unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    hello
}

/// Closes `stream` with a TCP reset (SO_LINGER 0) rather than a FIN.
fn reset(stream: std::net::TcpStream) {
    use std::os::fd::AsRawFd as _;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor is the live socket `stream` owns; the option value
    // is a `linger` of the size passed, read only during the call.
    let set = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "SO_LINGER");
    drop(stream);
}

/// Clients that go away mid-handshake — closing right after connecting,
/// closing after their ClientHello, or resetting the connection once the
/// server's flight arrived — are reported by the server (tls-echo-server) as
/// `ragged-eof` on every provider, never as a bare I/O error (before, the
/// guest and openssl providers met the reset in a write and logged `I/O error
/// (os error 29)`).
#[test]
fn client_aborts_read_the_same_on_every_provider() {
    use std::io::{Read as _, Write as _};
    let files = Files::new("aborts");
    let hello = client_hello();
    for provider in memtls_test_harness::PROVIDERS {
        let server = EchoServer::start(provider, &files, &[], 3);
        let connect = || std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        // Nothing sent.
        drop(connect());
        // A ClientHello, then gone.
        let mut s = connect();
        s.write_all(&hello).unwrap();
        drop(s);
        // A ClientHello, the server's flight read, then a reset.
        let mut s = connect();
        s.write_all(&hello).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut flight = [0u8; 512];
        let n = s.read(&mut flight).unwrap();
        assert!(n > 0, "{provider}: no ServerHello");
        reset(s);
        let (code, log) = server.finish_with_log();
        assert_eq!(code, 0, "{provider}: {log}");
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| l.starts_with("memtls-error"))
            .collect();
        assert_eq!(errors.len(), 3, "{provider}: {log}");
        for line in &errors {
            assert!(line.contains("kind=ragged-eof"), "{provider}: {line}");
        }
        println!("client aborts on {provider}: {}", errors.join(" | "));
    }
}

/// A malicious server: `openssl s_server` presents the `loop` chain with its
/// real keys (a leaf and nine CA certificates named CN=loop, one Certificate
/// message of about 58 KiB). On every provider https-get's handshake is
/// refused at once with a certificate error naming the path-building limit,
/// and s_server reports the alert it received. The
/// CPU each handshake cost is printed (it was 49 s before the limits).
#[test]
fn a_malicious_servers_chain_is_refused_at_once() {
    require("openssl", "openssl");
    let files = Files::new("loop-server");
    let pem = std::fs::read_to_string(files.path("loop.chain")).unwrap();
    let second = 1 + pem[1..].find("-----BEGIN").expect("a chain of several");
    std::fs::write(files.path("loop.rest"), &pem[second..]).unwrap();
    let rest = files.path("loop.rest");
    let (peer, port) = https_server("openssl", &files, "loop", &["-cert_chain", &rest]);
    let url = format!("https://localhost:{port}/");
    let mut figures = Vec::new();
    for provider in memtls_test_harness::PROVIDERS {
        // Loaded (and compiled) once before the measured run.
        let _ = https_get(provider, &files, &["https://localhost:1/"]);
        let before = memtls_test_harness::thread_cpu_seconds();
        let started = std::time::Instant::now();
        let (code, out, err) = https_get(provider, &files, &[&url]);
        let (cpu, wall) = (
            memtls_test_harness::thread_cpu_seconds() - before,
            started.elapsed(),
        );
        assert!(
            code != 0 && err.contains("certificate-rejected") && !out.contains("memtls-result"),
            "{provider}: code {code}\n{out}\n{err}"
        );
        assert!(err.contains("steps"), "{provider}: {err}");
        figures.push(format!(
            "{provider} {cpu:.3} s CPU, {:.3} s wall",
            wall.as_secs_f64()
        ));
    }
    assert!(
        peer.wait_for("alert", std::time::Duration::from_secs(5)),
        "s_server did not report an alert: {}",
        peer.text()
    );
    println!(
        "malicious-server loop chain: refused on every provider: {}",
        figures.join("; ")
    );
}

//! Python inside Wasm on memtls, under both providers:
//!
//! - `python/tests/test_ssl.py`: CPython's unmodified `ssl` over memtls's `_ssl`
//!   (SSLObject/MemoryBIO, wrap_socket blocking and non-blocking, urllib,
//!   http.client, smtplib STARTTLS against aiosmtpd, asyncio client and server);
//! - `python/tests/test_pep748.py`: the PEP 748 (`tlslib`) implementation;
//! - `test_ssl.CPythonParityTests` under the host's own CPython with OpenSSL, so
//!   that what the Wasm run expects is what CPython gives.
//!
//! Each script is built once with `memtls python build` (componentize-py); wasmtime's
//! compilation cache makes later runs start fast. The scripts are unittest programs:
//! their own report is printed, and the run must end with every test passing.

use std::process::Command;

use memtls_external_tests::{python_component as component, python_component_with};
use memtls_host::{Policy, Provider};
use memtls_test_harness::peers::{
    Files, Peer, https_server, openssl, python_tls_server, run_options, self_signed_rsa,
    smtp_server, wasm_server,
};
use memtls_test_harness::workspace;
use memtls_test_harness::{load, run};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// An HTTPS server speaking HTTP/1.1 with keep-alive (CPython's http.server and
/// ssl): each response body says which connection (counted from 1) carried it.
const KEEP_ALIVE_SERVER: &str = r#"
import http.server, itertools, ssl, sys
connections = itertools.count(1)
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        self.number = next(connections)
    def do_GET(self):
        body = f"connection {self.number}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[3])), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True,
                                    do_handshake_on_connect=False)
server.serve_forever()
"#;

/// A CPython TLS server for session resumption: it tells each client, in one
/// line, the version, whether it resumed the session (the server's own view),
/// and what CPython's client reports about this server's sessions (measured
/// at start-up against itself, for TLS 1.2 and 1.3).
const SESSION_SERVER: &str = r#"
import os, socket, ssl, sys, threading
chain, key, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(chain, key)
native = {}
def serve(conn):
    try:
        with context.wrap_socket(conn, server_side=True) as tls:
            line = f"{tls.version()} reused={tls.session_reused} native {native.get(tls.version())}"
            tls.sendall(line.encode() + b"\n")
            tls.recv(1)
    except (OSError, ssl.SSLError):
        pass
def accept(listener):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
probe = socket.create_server(("127.0.0.1", 0))
threading.Thread(target=accept, args=(probe,), daemon=True).start()
for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
    client = ssl.create_default_context(cafile=os.path.join(os.path.dirname(chain), "ca"))
    client.minimum_version = client.maximum_version = version
    with client.wrap_socket(socket.create_connection(probe.getsockname()),
                            server_hostname="localhost") as tls:
        tls.recv(200)
        s = tls.session
        native[tls.version()] = (f"has_ticket={s.has_ticket} hint={s.ticket_lifetime_hint} "
                                 f"timeout={s.timeout} id_len={len(s.id)}")
accept(socket.create_server(("127.0.0.1", port)))
"#;

/// CPython clients (OpenSSL) against `python/tests/sni_server.py`: what each
/// receives for each server name, and the alerts of the refusals.
const SNI_CLIENTS: &str = r#"
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
def hello(name, check=True):
    context = ssl.create_default_context(cafile=ca)
    if not check:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=name) as tls:
                line = tls.recv(200).decode().strip()
                return line
        except ssl.SSLError as exc:
            return f"refused {exc.reason}"
        except OSError as exc:
            return f"failed {exc!r}"
print("localhost:", hello("localhost"))
print("b.test:", hello("b.test"))
print("none:", hello(None, check=False))
print("refuse.test:", hello("refuse.test"))
print("raise.test:", hello("raise.test"))
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
    print("garbage:", raw.recv(100).hex())
print("stop.test:", hello("stop.test", check=False))
"#;

/// A wss:// echo server: the `websockets` library on CPython's `ssl` (OpenSSL),
/// answering each message with "native <message>".
const WSS_SERVER: &str = r#"
import asyncio, ssl, sys
from websockets.asyncio.server import serve
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
async def echo(connection):
    async for message in connection:
        await connection.send(f"native {message}")
async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[3]), ssl=context):
        await asyncio.get_running_loop().create_future()
asyncio.run(main())
"#;

/// Fixtures as the openssl CLI makes them: `capath`, a hashed directory
/// (`openssl rehash`) holding the CA; and private keys it encrypted with the
/// password "secret":
/// `server.key` and `client.key` as PKCS#8 PBES2 (`NAME.key.p8-aes256`:
/// PBKDF2-SHA256 with AES-256, OpenSSL's default), `server.key` also with
/// HMAC-SHA1 and 3DES, with scrypt, and as OpenSSL's traditional PEM with
/// AES-128; and a new self-signed RSA chain `rsa` (as `openssl req` makes it)
/// with its key as traditional 3DES PEM and PKCS#8 AES-128.
fn openssl_fixtures(files: &Files) {
    std::fs::create_dir_all(files.dir.join("capath")).unwrap();
    std::fs::copy(files.dir.join("ca"), files.dir.join("capath/ca.pem")).unwrap();
    openssl(files, &["rehash", "capath"]);
    self_signed_rsa(
        files,
        ("rsa.key", "rsa.chain"),
        "/CN=localhost",
        &["-days", "30", "-addext", "subjectAltName=DNS:localhost"],
    );
    let pkcs8 = ["pkcs8", "-topk8", "-in"];
    let traditional = ["pkey", "-traditional", "-in"];
    for (out, how, key, cipher) in [
        (
            "server.key.p8-aes256",
            &pkcs8,
            "server.key",
            &["-v2", "aes-256-cbc"][..],
        ),
        (
            "client.key.p8-aes256",
            &pkcs8,
            "client.key",
            &["-v2", "aes-256-cbc"],
        ),
        (
            "server.key.p8-des3-sha1",
            &pkcs8,
            "server.key",
            &["-v2", "des3", "-v2prf", "hmacWithSHA1"],
        ),
        ("server.key.p8-scrypt", &pkcs8, "server.key", &["-scrypt"]),
        (
            "server.key.trad-aes128",
            &traditional,
            "server.key",
            &["-aes128"],
        ),
        ("rsa.key.trad-des3", &traditional, "rsa.key", &["-des3"]),
        (
            "rsa.key.p8-aes128",
            &pkcs8,
            "rsa.key",
            &["-v2", "aes-128-cbc"],
        ),
    ] {
        let mut args = how.to_vec();
        args.push(key);
        args.extend_from_slice(cipher);
        args.extend_from_slice(&["-passout", "pass:secret", "-out", out]);
        openssl(files, &args);
    }
}

/// The policy the suites run under: the `insecure` interface allowed (so
/// `CERT_NONE` works), and `extra_anchors` added to system trust.
fn test_policy(extra_anchors: Vec<Vec<u8>>) -> Policy {
    Policy {
        allow_insecure: true,
        extra_system_anchors: extra_anchors,
        ..Policy::default()
    }
}

/// Runs a unittest component under `provider` and `policy`; returns (tests run,
/// report).
fn run_suite(
    bytes: &[u8],
    label: &str,
    (provider, policy): (Provider, &Policy),
    files: &Files,
    env: &[(String, String)],
) -> (usize, String) {
    let loaded = load(bytes, provider, policy, label).expect("load the Python component");
    let (out, err) = (
        MemoryOutputPipe::new(8 << 20),
        MemoryOutputPipe::new(8 << 20),
    );
    let code = run(
        &loaded,
        &run_options(vec![label.into()], env.to_vec(), files, &out, &err),
    )
    .expect("the Python component must not trap");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.contents()),
        String::from_utf8_lossy(&err.contents())
    );
    println!("---- {label} --tls {provider} (exit {code}) ----\n{report}");
    assert_eq!(
        code, 0,
        "{label} under --tls {provider} failed (report above)"
    );
    let ran = tests_ran(&report).expect("unittest's `Ran N tests` line");
    assert!(
        report.lines().any(|l| l == "OK"),
        "{label} under --tls {provider}: not every test passed (skips count as failures)"
    );
    (ran, report)
}

/// The servers every Python suite talks to (OpenSSL's HTTPS test server and an
/// SMTP server with STARTTLS) and the environment naming them
/// (`MEMTLS_TEST_HTTPS`, `MEMTLS_TEST_SMTP`), to which `more` servers add.
/// How many tests unittest's report says ran (its `Ran N tests` line).
fn tests_ran(report: &str) -> Option<usize> {
    report.lines().find_map(|l| {
        l.strip_prefix("Ran ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

fn peers_and_env(files: &Files, more: &[(&str, u16)]) -> (Vec<Peer>, Vec<(String, String)>) {
    let (https, https_port) = https_server("openssl", files, "server", &[]);
    let (smtp, smtp_port) = smtp_server(files);
    let servers = [("HTTPS", https_port), ("SMTP", smtp_port)];
    let env = servers
        .iter()
        .chain(more)
        .map(|(name, port)| (format!("MEMTLS_TEST_{name}"), format!("localhost:{port}")))
        .collect();
    (vec![https, smtp], env)
}

#[test]
fn stdlib_ssl_in_wasm() {
    let files = Files::new("python-ssl");
    openssl_fixtures(&files);
    let resumption = "python3 as a TLS server reporting session resumption";
    let (_sessions, sessions_port) = python_tls_server(SESSION_SERVER, &files, resumption);
    let (_peers, env) = peers_and_env(&files, &[("SESSIONS", sessions_port)]);
    let bytes = component("test_ssl.py", Vec::new());
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let policy = test_policy(Vec::new());
        let (ran, _) = run_suite(&bytes, "test_ssl", (provider, &policy), &files, &env);
        assert!(ran >= 25, "only {ran} tests ran");
    }
}

#[test]
fn sni_callback_in_wasm_as_cpython_clients_see_it() {
    let files = Files::new("python-sni");
    let bytes = component("sni_server.py", Vec::new());
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let policy = Policy::default();
        let (server, port) = wasm_server(
            &bytes,
            (provider, &policy),
            "sni_server",
            Vec::new(),
            &files,
        );
        let clients = Command::new("python3")
            .args(["-c", SNI_CLIENTS, &port.to_string(), &files.path("ca")])
            .output()
            .expect("python3");
        let (code, said) = server.finish();
        let seen = String::from_utf8_lossy(&clients.stdout);
        println!("{provider}: clients saw\n{seen}server said\n{said}");
        assert!(
            clients.status.success(),
            "{provider}: {}",
            String::from_utf8_lossy(&clients.stderr)
        );
        assert_eq!(code, 0, "{provider}: {said}");
        let expected = [
            // The callback gets the SSLSocket itself and the context.
            "localhost: sni=localhost socket=SSLSocket same=True",
            // Verified against b.test: the callback's switch chose the b chain.
            "b.test: sni=b.test socket=SSLSocket same=True",
            "none: sni=None socket=SSLSocket same=True",
            // What OpenSSL's client reports for the alerts it received.
            "refuse.test: refused TLSV1_UNRECOGNIZED_NAME",
            "raise.test: refused SSLV3_ALERT_HANDSHAKE_FAILURE",
            "stop.test: sni=stop.test socket=SSLSocket same=True",
        ];
        for line in expected {
            assert!(
                seen.lines().any(|l| l == line),
                "{provider}: no {line:?} in\n{seen}"
            );
        }
        // Not a ClientHello: a fatal alert record (content type 21) comes back.
        assert!(seen.contains("garbage: 150303000202"), "{provider}: {seen}");
        for line in [
            "refused refuse.test: CALLBACK_FAILED",
            "refused raise.test: CALLBACK_FAILED",
            "ZeroDivisionError: the callback failed on purpose",
            "stopped",
        ] {
            assert!(said.contains(line), "{provider}: no {line:?} in\n{said}");
        }
    }
}

#[test]
fn libraries_in_wasm() {
    let files = Files::new("python-libraries");
    openssl_fixtures(&files);
    let keep_alive = "python3 as an HTTP/1.1 keep-alive server";
    let (_keep_alive, keep_alive_port) = python_tls_server(KEEP_ALIVE_SERVER, &files, keep_alive);
    let (_wss, wss_port) = python_tls_server(
        WSS_SERVER,
        &files,
        "python3 with websockets as a wss:// server (pip install websockets; \
         `cargo xtask setup` installs it)",
    );
    let more = [("KEEP_ALIVE", keep_alive_port), ("WSS", wss_port)];
    let (_peers, env) = peers_and_env(&files, &more);
    // memtls python build --requirements: pip installs them (pure-Python wheels
    // for the component's CPython), and they are bundled whole.
    let bytes = python_component_with(
        "test_libraries.py",
        Vec::new(),
        Some("requirements-libraries.txt"),
    );
    // The host adds the test CA to system trust, as `memtls run --ca-file` does:
    // what libraries verify by default (certifi's bundle) must include it. The
    // rest is the default policy (no `insecure` interface), as users run them.
    let ca = std::fs::read(files.dir.join("ca")).unwrap();
    let policy = Policy {
        extra_system_anchors: vec![ca],
        ..Policy::default()
    };
    // A server requiring client certificates from the client CA, and the
    // client's identity held by the host, granted on every provider (the
    // guest provider has the host sign through host-signer).
    let (mtls, mtls_port) = https_server(
        "openssl",
        &files,
        "server",
        &["-Verify", "1", "-CAfile", &files.path("client-ca")],
    );
    let identity = memtls_host::load_identity(&format!(
        "client@client={}:{}",
        files.path("client.chain"),
        files.path("client.key")
    ))
    .expect("the client identity");
    let mut env = env.clone();
    env.push(("MEMTLS_TEST_MTLS".into(), format!("localhost:{mtls_port}")));
    let mut policy = policy.clone();
    policy.identities.push(identity);
    for provider in memtls_test_harness::PROVIDERS {
        let (ran, report) = run_suite(&bytes, "test_libraries", (provider, &policy), &files, &env);
        assert!(ran >= 8, "only {ran} tests ran");
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("test_requests_with_a_host_identity") && l.ends_with("ok")),
            "requests with a host identity did not pass on the {provider} provider: {report}"
        );
    }
    // One verified client certificate per provider, on the server's side.
    assert!(
        mtls.text().matches("depth=0").count() >= memtls_test_harness::PROVIDERS.len(),
        "s_server -Verify 1 should have verified the identity's certificate from each \
         provider: {}",
        mtls.text()
    );
}

/// PyPI and standard-library clients in Wasm against real servers from
/// Debian's packages (`python/tests/test_servers.py`), on every provider under
/// the default policy: ldap3 against slapd (StartTLS and ldaps, a wrong name
/// refused), redis-py against a TLS-only redis, pg8000 against PostgreSQL
/// (SSL required, SCRAM; the server's `pg_stat_ssl` confirms TLS), imaplib
/// against Dovecot (STARTTLS and IMAPS), smtplib with `EmailMessage` against
/// aiosmtpd, aiohttp against `openssl s_server`.
#[test]
fn servers_in_wasm() {
    use memtls_test_harness::servers;
    let files = Files::new("python-servers");
    let (_slapd, ldap, ldaps) = servers::slapd(&files);
    let (_redis, redis) = servers::redis(&files);
    let (_postgres, postgres) = servers::postgres(&files);
    let (dovecot, imap, imaps) = servers::dovecot(&files);
    let more = [
        ("LDAP", ldap),
        ("LDAPS", ldaps),
        ("REDIS", redis),
        ("POSTGRES", postgres),
        ("IMAP", imap),
        ("IMAPS", imaps),
    ];
    let (_peers, mut env) = peers_and_env(&files, &more);
    env.push(("MEMTLS_TEST_PASSWORD".into(), servers::PASSWORD.into()));
    let bytes = python_component_with(
        "test_servers.py",
        Vec::new(),
        Some("requirements-servers.txt"),
    );
    // The default policy as it is: every client names the test CA itself.
    let policy = Policy::default();
    for provider in memtls_test_harness::PROVIDERS {
        let (ran, _) = run_suite(&bytes, "test_servers", (provider, &policy), &files, &env);
        assert!(ran >= 10, "only {ran} tests ran");
    }
    // Dovecot's own log: each provider's logins arrived over TLS.
    let log = std::fs::read_to_string(files.dir.join("dovecot/dovecot.log")).unwrap_or_default();
    let logins = log.matches("Login: user=<alice>").count();
    assert!(
        logins >= 2 * memtls_test_harness::PROVIDERS.len() && !log.contains("secured=no"),
        "Dovecot should log two TLS logins per provider: {log}\n{}",
        dovecot.text()
    );
}

#[test]
fn pep748_in_wasm() {
    let deps = workspace().join("target/python-deps");
    assert!(
        deps.join("tlslib/tlslib.py").is_file(),
        "tlslib is not installed in {}: `cargo xtask setup` installs it (pip install \
         --target target/python-deps --no-deps --ignore-requires-python \
         --only-binary=:all: tlslib==0.0.2rc3)",
        deps.display()
    );
    let files = Files::new("python-pep748");
    let bytes = component("test_pep748.py", vec![deps]);
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let policy = test_policy(Vec::new());
        let (ran, _) = run_suite(&bytes, "test_pep748", (provider, &policy), &files, &[]);
        assert!(ran >= 10, "only {ran} tests ran");
    }
}

#[test]
fn componentize_py_is_the_supported_release() {
    let out = Command::new("componentize-py")
        .arg("--version")
        .output()
        .expect("componentize-py (pip install componentize-py==0.25.1; `cargo xtask setup`)");
    let version = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        version.trim(),
        format!(
            "componentize-py {}",
            memtls_cli::python::COMPONENTIZE_PY_VERSION
        )
    );
}

/// `test_ssl.CPythonParityTests` under the host's CPython with OpenSSL, on the
/// same fixtures: every expectation the Wasm run holds memtls's `_ssl` to is
/// what CPython itself gives (`stdlib_ssl_in_wasm` runs the class inside Wasm).
#[test]
fn ssl_parity_expectations_hold_on_cpython() {
    let files = Files::new("python-parity");
    openssl_fixtures(&files);
    let out = Command::new("python3")
        .args(["-m", "unittest", "-v", "test_ssl.CPythonParityTests"])
        .current_dir(workspace().join("python/tests"))
        .env("MEMTLS_TEST_FIXTURES", &files.dir)
        .output()
        .expect("python3");
    let report = String::from_utf8_lossy(&out.stderr);
    println!("{report}");
    assert!(
        out.status.success() && report.lines().any(|l| l == "OK"),
        "CPython with OpenSSL does not give what test_ssl.CPythonParityTests expects"
    );
    let ran = tests_ran(&report).unwrap_or(0);
    assert!(
        !report.contains("skipped") && ran >= 8,
        "every parity test must run ({ran} ran): {report}"
    );
}

#[test]
fn pem_framing_matches_cpython_on_the_host() {
    // python/memtls/_pem.py (PEM <-> DER, cadata splitting) against CPython's
    // ssl helpers, on certificates openssl generates now.
    let out = Command::new("python3")
        .args([
            "-m",
            "unittest",
            "discover",
            "-v",
            "-s",
            "python/tests",
            "-p",
            "test_pem_host.py",
        ])
        .current_dir(workspace())
        .output()
        .expect("python3");
    let report = String::from_utf8_lossy(&out.stderr);
    println!("{report}");
    assert!(out.status.success(), "test_pem_host.py failed");
    assert!(
        !report.contains("skipped"),
        "skips count as failures: the openssl CLI is needed"
    );
}

//! End-to-end interop on loopback: the example components (https-get,
//! tls-echo-server, starttls) against independent TLS peers — OpenSSL's
//! `s_server` / `s_client` and GnuTLS's `gnutls-serv` / `gnutls-cli` — with each
//! provider, TLS 1.2 and 1.3, with and without client certificates, and a
//! certificate the client must reject. The peers must be installed (`.ci/run`
//! installs them); a missing peer fails the test with a message, it is not skipped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memtls_cli::{RunOptions, examples, load, run};
use memtls_host::{Policy, Provider};
use memtls_tests::Fixtures;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// Fixture files on disk, for the peers and for the components (preopened).
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(tag: &str) -> Self {
        let f = Fixtures::generate().expect("fixtures");
        let dir = std::env::temp_dir().join(format!("memtls-interop-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in &f.0 {
            std::fs::write(dir.join(name), data).unwrap();
        }
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A peer process, killed when dropped.
struct Peer {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    what: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require(program: &str, package: &str) {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| Path::new(&d).join(program).is_file())
    });
    assert!(
        found,
        "{program} is not installed (Debian package {package}); .ci/run installs it"
    );
}

fn spawn(program: &str, args: &[&str], what: &str) -> Peer {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let output = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let output = output.clone();
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                output.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
    }
    Peer {
        child,
        output,
        what: what.to_string(),
    }
}

impl Peer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until the peer's output contains `needle`.
    fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn send(&mut self, data: &[u8]) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16, peer: &Peer) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not listen on {port}: {}", peer.what, peer.text());
}

/// Runs https-get with `args` under `provider`; returns (exit code, stdout, stderr).
fn https_get(provider: Provider, files: &Files, args: &[&str]) -> (i32, String, String) {
    let loaded = load(examples::https_get(), provider, "https-get").expect("load https-get");
    let (out, err) = (
        MemoryOutputPipe::new(1 << 20),
        MemoryOutputPipe::new(1 << 20),
    );
    let opts = RunOptions {
        args: std::iter::once("https-get")
            .chain(args.iter().copied())
            .map(String::from)
            .collect(),
        dirs: vec![(files.dir.clone(), "/f".into())],
        inherit_network: true,
        allow_ip_name_lookup: true,
        policy: Policy::default(),
        capture_stdout: Some(out.clone()),
        capture_stderr: Some(err.clone()),
        ..RunOptions::default()
    };
    let code = run(&loaded, &opts).expect("https-get must not trap");
    (
        code,
        String::from_utf8_lossy(&out.contents()).into_owned(),
        String::from_utf8_lossy(&err.contents()).into_owned(),
    )
}

fn result_field(stdout: &str, key: &str) -> Option<String> {
    stdout
        .lines()
        .find(|l| l.starts_with("memtls-result "))?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_string))
}

#[derive(Clone, Copy, Debug)]
enum Version {
    Tls12,
    Tls13,
}

impl Version {
    const ALL: [Version; 2] = [Version::Tls12, Version::Tls13];

    fn name(self) -> &'static str {
        match self {
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }

    fn openssl(self) -> &'static str {
        match self {
            Version::Tls12 => "-tls1_2",
            Version::Tls13 => "-tls1_3",
        }
    }

    fn gnutls(self) -> &'static str {
        match self {
            Version::Tls12 => "NORMAL:-VERS-ALL:+VERS-TLS1.2",
            Version::Tls13 => "NORMAL:-VERS-ALL:+VERS-TLS1.3",
        }
    }
}

fn line(ok: bool, what: String, failures: &mut Vec<String>) {
    println!("interop {what:<72} {}", if ok { "ok" } else { "FAIL" });
    if !ok {
        failures.push(what);
    }
}

#[test]
fn https_get_against_openssl_and_gnutls_servers() {
    require("openssl", "openssl");
    require("gnutls-serv", "gnutls-bin");
    let files = Files::new("get");
    let mut failures = Vec::new();
    for version in Version::ALL {
        for server in ["openssl", "gnutls"] {
            let port = free_port();
            let port_s = port.to_string();
            let (cert, key) = (files.path("server.chain"), files.path("server.key"));
            let peer = match server {
                "openssl" => spawn(
                    "openssl",
                    &[
                        "s_server",
                        "-www",
                        "-accept",
                        &port_s,
                        "-cert",
                        &cert,
                        "-key",
                        &key,
                        version.openssl(),
                    ],
                    "openssl s_server",
                ),
                _ => spawn(
                    "gnutls-serv",
                    &[
                        "--http",
                        "-p",
                        &port_s,
                        "--x509certfile",
                        &cert,
                        "--x509keyfile",
                        &key,
                        "--priority",
                        version.gnutls(),
                    ],
                    "gnutls-serv",
                ),
            };
            wait_listening(port, &peer);
            for provider in Provider::ALL {
                let url = format!("https://localhost:{port}/");
                let (code, out, err) = https_get(provider, &files, &["--ca-file", "/f/ca", &url]);
                let ok = code == 0
                    && result_field(&out, "status").as_deref() == Some("200")
                    && result_field(&out, "version").as_deref() == Some(version.name());
                if !ok {
                    eprintln!(
                        "--- {server} {version:?} {provider}: code {code}\n{out}\n{err}\npeer: {}",
                        peer.text()
                    );
                }
                line(
                    ok,
                    format!(
                        "https-get --tls {provider} vs {server} server {}",
                        version.name()
                    ),
                    &mut failures,
                );
            }
        }
    }
    assert!(failures.is_empty(), "failed: {failures:?}");
}

#[test]
fn https_get_client_certificates_and_rejection() {
    require("openssl", "openssl");
    let files = Files::new("mtls");
    let mut failures = Vec::new();
    // A server that requires a client certificate from client-ca.
    let port = free_port();
    let port_s = port.to_string();
    let peer = spawn(
        "openssl",
        &[
            "s_server",
            "-www",
            "-accept",
            &port_s,
            "-cert",
            &files.path("server.chain"),
            "-key",
            &files.path("server.key"),
            "-Verify",
            "1",
            "-CAfile",
            &files.path("client-ca"),
            "-verify_return_error",
        ],
        "openssl s_server (client auth)",
    );
    wait_listening(port, &peer);
    let url = format!("https://localhost:{port}/");
    for provider in Provider::ALL {
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
        line(
            ok,
            format!("https-get --tls {provider} with client certificate, required"),
            &mut failures,
        );
        let (code, _out, err) = https_get(provider, &files, &["--ca-file", "/f/ca", &url]);
        line(
            code != 0 && err.contains("TLS"),
            format!("https-get --tls {provider} without client certificate, refused"),
            &mut failures,
        );
    }
    drop(peer);
    // A server whose certificate comes from an unknown CA: the client must reject it.
    let port = free_port();
    let port_s = port.to_string();
    let peer = spawn(
        "openssl",
        &[
            "s_server",
            "-www",
            "-accept",
            &port_s,
            "-cert",
            &files.path("unknown.chain"),
            "-key",
            &files.path("unknown.key"),
        ],
        "openssl s_server (unknown CA)",
    );
    wait_listening(port, &peer);
    for provider in Provider::ALL {
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
        line(
            ok,
            format!("https-get --tls {provider} rejects an unknown issuer"),
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "failed: {failures:?}");
}

/// The echo server component running on a thread under `provider`.
struct EchoServer {
    port: u16,
    out: MemoryOutputPipe,
    thread: Option<std::thread::JoinHandle<i32>>,
}

impl EchoServer {
    fn start(provider: Provider, files: &Files, extra: &[&str], connections: usize) -> Self {
        let loaded = load(examples::tls_echo_server(), provider, "tls-echo-server").expect("load");
        let out = MemoryOutputPipe::new(1 << 20);
        let mut args: Vec<String> = [
            "tls-echo-server",
            "--listen",
            "127.0.0.1:0",
            "--cert",
            "/f/server.chain",
            "--key",
            "/f/server.key",
            "--max-connections",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(connections.to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        let opts = RunOptions {
            args,
            dirs: vec![(files.dir.clone(), "/f".into())],
            inherit_network: true,
            policy: Policy::default(),
            capture_stdout: Some(out.clone()),
            ..RunOptions::default()
        };
        let thread =
            std::thread::spawn(move || run(&loaded, &opts).expect("echo server must not trap"));
        let start = Instant::now();
        let port = loop {
            let text = String::from_utf8_lossy(&out.contents()).into_owned();
            if let Some(addr) = text
                .lines()
                .find_map(|l| l.strip_prefix("memtls-listening "))
            {
                break addr.rsplit(':').next().unwrap().trim().parse().unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "echo server did not start: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Self {
            port,
            out,
            thread: Some(thread),
        }
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&self.out.contents()).into_owned()
    }

    fn finish(mut self) -> i32 {
        let t = self.thread.take().unwrap();
        let start = Instant::now();
        while !t.is_finished() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "echo server did not exit: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        t.join().unwrap()
    }
}

fn openssl_client(
    port: u16,
    files: &Files,
    version: Version,
    client_cert: bool,
    starttls: bool,
) -> Peer {
    let connect = format!("127.0.0.1:{port}");
    let (ca, cert, key) = (
        files.path("ca"),
        files.path("client.chain"),
        files.path("client.key"),
    );
    let mut args = vec![
        "s_client",
        "-connect",
        &connect,
        "-servername",
        "localhost",
        "-verify_hostname",
        "localhost",
        "-CAfile",
        &ca,
        "-verify_return_error",
        version.openssl(),
        "-ign_eof",
    ];
    if client_cert {
        args.extend(["-cert", &cert, "-key", &key]);
    }
    if starttls {
        args.extend(["-starttls", "smtp"]);
    }
    spawn("openssl", &args, "openssl s_client")
}

fn gnutls_client(port: u16, files: &Files, version: Version, client_cert: bool) -> Peer {
    let port_s = port.to_string();
    let (ca, cert, key) = (
        files.path("ca"),
        files.path("client.chain"),
        files.path("client.key"),
    );
    let mut args = vec![
        "-p",
        &port_s,
        "--x509cafile",
        &ca,
        "--priority",
        version.gnutls(),
    ];
    if client_cert {
        args.extend(["--x509certfile", &cert, "--x509keyfile", &key]);
    }
    args.push("localhost");
    spawn("gnutls-cli", &args, "gnutls-cli")
}

#[test]
fn echo_server_driven_by_openssl_and_gnutls_clients() {
    require("openssl", "openssl");
    require("gnutls-cli", "gnutls-bin");
    let files = Files::new("echo");
    let mut failures = Vec::new();
    for provider in Provider::ALL {
        for (auth, extra) in [
            ("no client auth", &[][..]),
            ("client cert required", &["--client-ca", "/f/client-ca"][..]),
        ] {
            let with_cert = !extra.is_empty();
            let server = EchoServer::start(provider, &files, extra, 4);
            for version in Version::ALL {
                for client in ["openssl", "gnutls"] {
                    let mut peer = match client {
                        "openssl" => openssl_client(server.port, &files, version, with_cert, false),
                        _ => gnutls_client(server.port, &files, version, with_cert),
                    };
                    let msg = format!("hello from {client} over {}", version.name());
                    // Wait for the handshake before typing (the clients print it).
                    let ready = if client == "openssl" {
                        "Verify return code: 0"
                    } else {
                        "Handshake was completed"
                    };
                    let hs = peer.wait_for(ready, Duration::from_secs(20));
                    peer.send(format!("{msg}\n").as_bytes());
                    // The clients do not print what they send, only what they
                    // receive: the message in their output is the echo.
                    let echoed = hs && peer.wait_for(&msg, Duration::from_secs(20));
                    drop(peer);
                    line(
                        echoed,
                        format!(
                            "tls-echo-server --tls {provider} ({auth}) <- {client} {}",
                            version.name()
                        ),
                        &mut failures,
                    );
                }
            }
            let log = server.log();
            let code = server.finish();
            let accepted = log.matches("memtls-accepted").count();
            line(
                code == 0 && accepted == 4,
                format!("tls-echo-server --tls {provider} ({auth}) accepted {accepted}/4"),
                &mut failures,
            );
            if with_cert {
                line(
                    log.matches("client_cert=yes").count() == 4,
                    format!("tls-echo-server --tls {provider} saw 4 client certificates"),
                    &mut failures,
                );
            }
        }
    }
    assert!(failures.is_empty(), "failed: {failures:?}");
}

#[test]
fn starttls_smtp_both_directions() {
    require("openssl", "openssl");
    let files = Files::new("smtp");
    let mut failures = Vec::new();
    for provider in Provider::ALL {
        // Our SMTP server with STARTTLS, driven by openssl s_client -starttls smtp.
        let server = EchoServer::start(provider, &files, &["--smtp-starttls"], 2);
        let mut peer = openssl_client(server.port, &files, Version::Tls13, false, true);
        let hs = peer.wait_for("Verify return code: 0", Duration::from_secs(20));
        peer.send(b"EHLO openssl\r\n");
        let ok = hs && peer.wait_for("250 EHLO openssl", Duration::from_secs(20));
        peer.send(b"QUIT\r\n");
        let _ = peer.wait_for("221", Duration::from_secs(10));
        drop(peer);
        line(
            ok,
            format!(
                "tls-echo-server --smtp-starttls --tls {provider} <- openssl s_client -starttls smtp"
            ),
            &mut failures,
        );
        // Our STARTTLS client against our server (the independent-server check is
        // the next test).
        let loaded = load(examples::starttls(), provider, "starttls").expect("load");
        let out = MemoryOutputPipe::new(1 << 20);
        let code = run(
            &loaded,
            &RunOptions {
                args: vec![
                    "starttls".into(),
                    format!("127.0.0.1:{}", server.port),
                    "--ca-file".into(),
                    "/f/ca".into(),
                    "--name".into(),
                    "localhost".into(),
                ],
                dirs: vec![(files.dir.clone(), "/f".into())],
                inherit_network: true,
                capture_stdout: Some(out.clone()),
                ..RunOptions::default()
            },
        )
        .expect("no trap");
        let text = String::from_utf8_lossy(&out.contents()).into_owned();
        line(
            code == 0 && text.contains("memtls-result starttls=ok"),
            format!("starttls --tls {provider} -> tls-echo-server --smtp-starttls"),
            &mut failures,
        );
        server.finish();
    }
    assert!(failures.is_empty(), "failed: {failures:?}");
}

#[test]
fn starttls_client_against_aiosmtpd() {
    // aiosmtpd (PyPI) is an independent SMTP server with STARTTLS.
    let has_aiosmtpd = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_aiosmtpd,
        "aiosmtpd is not installed (pip install aiosmtpd); `cargo xtask setup` installs it"
    );
    let files = Files::new("aiosmtpd");
    let mut failures = Vec::new();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let peer = spawn(
        "python3",
        &[
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &listen,
            "--tlscert",
            &files.path("server.chain"),
            "--tlskey",
            &files.path("server.key"),
        ],
        "aiosmtpd",
    );
    wait_listening(port, &peer);
    for provider in Provider::ALL {
        let loaded = load(examples::starttls(), provider, "starttls").expect("load");
        let out = MemoryOutputPipe::new(1 << 20);
        let err = MemoryOutputPipe::new(1 << 20);
        let code = run(
            &loaded,
            &RunOptions {
                args: vec![
                    "starttls".into(),
                    listen.clone(),
                    "--ca-file".into(),
                    "/f/ca".into(),
                    "--name".into(),
                    "localhost".into(),
                ],
                dirs: vec![(files.dir.clone(), "/f".into())],
                inherit_network: true,
                capture_stdout: Some(out.clone()),
                capture_stderr: Some(err.clone()),
                ..RunOptions::default()
            },
        )
        .expect("no trap");
        let text = String::from_utf8_lossy(&out.contents()).into_owned();
        let ok = code == 0
            && text.contains("memtls-result starttls=ok")
            && text.contains("ehlo_after_tls=250");
        if !ok {
            eprintln!(
                "{text}\n{}\npeer: {}",
                String::from_utf8_lossy(&err.contents()),
                peer.text()
            );
        }
        line(
            ok,
            format!("starttls --tls {provider} -> aiosmtpd"),
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "failed: {failures:?}");
}

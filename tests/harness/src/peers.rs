//! Independent TLS peers (openssl, gnutls, tlslite-ng, aiosmtpd) and our example
//! components, for the interop tests: fixture files, peer processes, and runners.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{RunOptions, examples, load, run};
use memtls_host::{Policy, Provider};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::Fixtures;

/// Fixture files on disk, for the peers and for the components (preopened).
pub struct Files {
    /// The directory (preopened as /f for the components).
    pub dir: PathBuf,
}

impl Files {
    /// Writes freshly generated fixtures into a new directory.
    pub fn new(tag: &str) -> Self {
        let f = Fixtures::generate().expect("fixtures");
        let files = Self::scratch(&format!("interop-{tag}"));
        for (name, data) in &f.0 {
            std::fs::write(files.dir.join(name), data).unwrap();
        }
        files
    }

    /// A new empty directory (removed when dropped), for files a test writes.
    pub fn scratch(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("memtls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    /// The host path of fixture `name`.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A peer process, killed when dropped.
pub struct Peer {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    what: String,
    /// The threads collecting its stdout and stderr (they end at its exit).
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails unless the independent TLS peers are installed: OpenSSL's and GnuTLS's
/// command-line servers and clients.
pub fn require_peers() {
    require("openssl", "openssl");
    require("gnutls-serv", "gnutls-bin");
    require("gnutls-cli", "gnutls-bin");
}

/// Fails with a message naming the Debian package when `program` is missing.
pub fn require(program: &str, package: &str) {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| Path::new(&d).join(program).is_file())
    });
    assert!(
        found,
        "{program} is not installed (Debian package {package}); .ci/run installs it"
    );
}

/// Fails the test unless `python3` can import `module` (from PyPI `package`).
pub fn require_module(module: &str, package: &str) {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{module} is not installed (pip install {package}); `cargo xtask setup` installs it"
    );
}

/// Starts a peer process, collecting its output.
pub fn spawn(program: &str, args: &[&str], what: &str) -> Peer {
    let mut cmd = Command::new(program);
    cmd.args(args);
    spawn_command(cmd, what)
}

/// Starts a prepared command as a peer, collecting its output.
pub fn spawn_command(mut cmd: Command, what: &str) -> Peer {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let output = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let output = output.clone();
        readers.push(std::thread::spawn(move || {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                output.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }));
    }
    Peer {
        child,
        output,
        what: what.to_string(),
        readers,
    }
}

impl Peer {
    /// Once the peer printed `ready` (its handshake is done), sends the line
    /// `msg` and waits for it to come back (clients print what they receive,
    /// not what they send); true when both happened within `wait` each.
    pub fn round_trip(&mut self, ready: &str, msg: &str, wait: Duration) -> bool {
        let handshake = self.wait_for(ready, wait);
        self.send(format!("{msg}\n").as_bytes());
        handshake && self.wait_for(msg, wait)
    }

    /// Everything the peer printed so far (stdout and stderr).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until the peer's output contains `needle`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Waits up to `timeout` for the process to exit: whether it exited with
    /// success, and everything it printed. `None` when it did not exit in time
    /// (it is killed as the peer drops).
    pub fn exit_within(mut self, timeout: Duration) -> Option<(bool, String)> {
        let start = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => return None,
            }
        };
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        Some((status.success(), self.text()))
    }

    /// The peer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the peer's stdin (a server that stops at its end stops).
    pub fn close_stdin(&mut self) {
        self.child.stdin.take();
    }

    /// Writes to the peer's stdin.
    pub fn send(&mut self, data: &[u8]) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }
}

/// A currently free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `port`.
pub fn wait_listening(port: u16, peer: &Peer) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not listen on {port}: {}", peer.what, peer.text());
}

/// How the tests run a component: `args` (the first is its name), `env`,
/// `files` preopened at /f, the host's network and name lookups, stdout and
/// stderr captured into `out` and `err` (which may be the same pipe).
pub fn run_options(
    args: Vec<String>,
    env: Vec<(String, String)>,
    files: &Files,
    out: &MemoryOutputPipe,
    err: &MemoryOutputPipe,
) -> RunOptions {
    RunOptions {
        args,
        env,
        dirs: vec![(files.dir.clone(), "/f".into())],
        inherit_network: true,
        allow_ip_name_lookup: true,
        capture_stdout: Some(out.clone()),
        capture_stderr: Some(err.clone()),
        ..RunOptions::default()
    }
}

/// A component serving on loopback from a thread of this process.
pub struct WasmServer {
    thread: std::thread::JoinHandle<wasmtime::Result<i32>>,
    out: MemoryOutputPipe,
}

/// Runs the component `bytes` under `provider` and `policy` as a server: its
/// environment is `env` plus `MEMTLS_PORT` (the port it is to listen on), with
/// `files` preopened at /f and the host's network. Returns once it listens.
pub fn wasm_server(
    bytes: &[u8],
    (provider, policy): (Provider, &Policy),
    label: &str,
    mut env: Vec<(String, String)>,
    files: &Files,
) -> (WasmServer, u16) {
    let port = free_port();
    let loaded = load(bytes, provider, policy, label).expect("load the server component");
    let out = MemoryOutputPipe::new(1 << 20);
    env.push(("MEMTLS_PORT".into(), port.to_string()));
    let options = run_options(vec![label.into()], env, files, &out, &out);
    let thread = std::thread::spawn(move || run(&loaded, &options));
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60) && !thread.is_finished(),
            "{label} under {provider} did not listen on {port}: {}",
            String::from_utf8_lossy(&out.contents())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (WasmServer { thread, out }, port)
}

impl WasmServer {
    /// Waits for the component to exit; returns its exit code and output.
    pub fn finish(self) -> (i32, String) {
        let result = self.thread.join().expect("the server thread");
        let said = String::from_utf8_lossy(&self.out.contents()).into_owned();
        match result {
            Ok(code) => (code, said),
            Err(e) => panic!("the server trapped: {e:#}\n{said}"),
        }
    }
}

/// Certificates as people make them: runs the `openssl` CLI with `args` in
/// the fixtures' directory.
pub fn openssl(files: &Files, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(&files.dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed RSA-2048 certificate `cert` with its key `key`, with the
/// openssl CLI's defaults (CA:TRUE) for `subject`; `extra` adds options
/// (`-addext ...`).
pub fn self_signed_rsa(files: &Files, (key, cert): (&str, &str), subject: &str, extra: &[&str]) {
    let mut args = vec![
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-subj",
        subject,
    ];
    args.extend_from_slice(extra);
    openssl(files, &args);
}

/// `openssl req` options for a new P-256 key, unencrypted.
pub const NEW_EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

/// A self-signed certificate for localhost as `openssl req -x509` makes it,
/// written as `NAME.chain` / `NAME.key`; `extra` adds `-addext` options.
pub fn self_signed(files: &Files, name: &str, extra: &[&str]) {
    self_signed_as(files, name, "/CN=localhost", extra);
}

/// [`self_signed`] with the subject `subject`.
pub fn self_signed_as(files: &Files, name: &str, subject: &str, extra: &[&str]) {
    let (chain, key) = (format!("{name}.chain"), format!("{name}.key"));
    let mut args = vec!["req", "-x509"];
    args.extend_from_slice(&NEW_EC_KEY);
    args.extend_from_slice(&[
        "-keyout",
        &key,
        "-out",
        &chain,
        "-days",
        "30",
        "-subj",
        subject,
        "-addext",
        "subjectAltName=DNS:localhost",
    ]);
    args.extend_from_slice(extra);
    openssl(files, &args);
}

/// A certificate for `subject` issued by the CA `NAME.chain` / `NAME.key` made
/// earlier (`ca`), with the `extensions` (openssl extfile lines), written as
/// `NAME.chain` / `NAME.key`.
pub fn issued(files: &Files, name: &str, ca: &str, subject: &str, extensions: &str) {
    let (chain, key, csr, ext) = (
        format!("{name}.chain"),
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
    );
    let mut request = vec!["req"];
    request.extend_from_slice(&NEW_EC_KEY);
    request.extend_from_slice(&["-keyout", &key, "-out", &csr, "-subj", subject]);
    openssl(files, &request);
    std::fs::write(files.dir.join(&ext), extensions).unwrap();
    let (ca_chain, ca_key) = (format!("{ca}.chain"), format!("{ca}.key"));
    openssl(
        files,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_chain,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &chain,
            "-days",
            "30",
            "-extfile",
            &ext,
        ],
    );
}

/// The DER of certificate file `NAME.chain`, through `openssl x509`.
pub fn der(files: &Files, name: &str) -> Vec<u8> {
    let out = format!("{name}.der");
    openssl(
        files,
        &[
            "x509",
            "-in",
            &format!("{name}.chain"),
            "-outform",
            "DER",
            "-out",
            &out,
        ],
    );
    std::fs::read(files.dir.join(out)).unwrap()
}

/// Starts `peer` (`openssl`, `gnutls` or `tlslite`) as an HTTPS server on loopback
/// with fixture chain `key` (e.g. `server`, `rsa`); `extra` options are appended.
/// Returns the peer and its port once it listens.
pub fn https_server(peer: &str, files: &Files, key: &str, extra: &[&str]) -> (Peer, u16) {
    let port = free_port();
    let port_s = port.to_string();
    let listen = format!("localhost:{port}");
    let dir = files.dir.display().to_string();
    let (cert, keyf) = (
        files.path(&format!("{key}.chain")),
        files.path(&format!("{key}.key")),
    );
    let mut args: Vec<&str> = match peer {
        "openssl" => vec![
            "s_server", "-www", "-accept", &port_s, "-cert", &cert, "-key", &keyf,
        ],
        "gnutls" => vec![
            "--http",
            "-p",
            &port_s,
            "--x509certfile",
            &cert,
            "--x509keyfile",
            &keyf,
        ],
        _ => vec!["server", "-c", &cert, "-k", &keyf, "-d", &dir],
    };
    args.extend_from_slice(extra);
    if peer == "tlslite" {
        args.push(&listen);
    }
    let program = match peer {
        "openssl" => "openssl",
        "gnutls" => "gnutls-serv",
        _ => "tls.py",
    };
    let p = spawn(program, &args, &format!("{peer} server"));
    wait_listening(port, &p);
    (p, port)
}

/// aiosmtpd on loopback, offering STARTTLS with the `server` chain.
pub fn smtp_server(files: &Files) -> (Peer, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let smtp = spawn(
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
        "aiosmtpd (pip install aiosmtpd; `cargo xtask setup` installs it)",
    );
    wait_listening(port, &smtp);
    (smtp, port)
}

/// A CPython program serving TLS on loopback with the `server` chain: `script`
/// runs as `python3 -c script CHAIN KEY PORT`; returns once it listens.
pub fn python_tls_server(script: &str, files: &Files, what: &str) -> (Peer, u16) {
    let port = free_port();
    let peer = spawn(
        "python3",
        &[
            "-c",
            script,
            &files.path("server.chain"),
            &files.path("server.key"),
            &port.to_string(),
        ],
        what,
    );
    wait_listening(port, &peer);
    (peer, port)
}

/// Runs https-get with `args` under `provider`; returns (exit code, stdout, stderr).
pub fn https_get(provider: Provider, files: &Files, args: &[&str]) -> (i32, String, String) {
    https_get_under(provider, &Policy::default(), files, args)
}

/// [`https_get`] under the embedder's `policy`.
pub fn https_get_under(
    provider: Provider,
    policy: &Policy,
    files: &Files,
    args: &[&str],
) -> (i32, String, String) {
    let https_get = Example::new(examples::https_get(), "https-get");
    https_get.run(provider, policy, files, args)
}

/// An example component and its command name.
pub struct Example<'a> {
    component: &'a [u8],
    name: &'a str,
}

impl<'a> Example<'a> {
    /// `component`, run as `name`.
    pub fn new(component: &'a [u8], name: &'a str) -> Self {
        Self { component, name }
    }

    /// Runs it once with `args` under `provider` and `policy`, with `files` at
    /// `/f` and the network; returns (exit code, stdout, stderr).
    pub fn run(
        &self,
        provider: Provider,
        policy: &Policy,
        files: &Files,
        args: &[&str],
    ) -> (i32, String, String) {
        let loaded = load(self.component, provider, policy, self.name).expect("load");
        self.run_loaded(&loaded, files, args)
    }

    /// [`Example::run`] of a component loaded already.
    pub fn run_loaded(
        &self,
        loaded: &crate::Loaded,
        files: &Files,
        args: &[&str],
    ) -> (i32, String, String) {
        let (out, err) = (
            MemoryOutputPipe::new(1 << 20),
            MemoryOutputPipe::new(1 << 20),
        );
        let args = std::iter::once(self.name)
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        let opts = run_options(args, Vec::new(), files, &out, &err);
        let code = run(loaded, &opts).expect("the example must not trap");
        (
            code,
            String::from_utf8_lossy(&out.contents()).into_owned(),
            String::from_utf8_lossy(&err.contents()).into_owned(),
        )
    }
}

/// Whether an https-get run (exit code, stdout, stderr) fetched a 2xx response
/// over `version`, as its report says; when not, prints the run's output and
/// what the server `peer` said.
pub fn fetched_over(run: &(i32, String, String), version: Version, peer: &Peer) -> bool {
    let (code, out, err) = run;
    let ok = *code == 0
        && result_field(out, "status").is_some_and(|s| s.starts_with('2'))
        && result_field(out, "version").as_deref() == Some(version.name());
    if !ok {
        eprintln!("--- exit code {code}\n{out}\n{err}\npeer: {}", peer.text());
    }
    ok
}

/// A field of the first `memtls-result` report in `stdout`.
pub fn result_field(stdout: &str, key: &str) -> Option<String> {
    memtls_report::first(memtls_report::Tag::Result, stdout)?.text(key)
}

#[derive(Clone, Copy, Debug)]
/// A TLS version as the peers spell it.
pub enum Version {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl Version {
    /// Both versions.
    pub const ALL: [Version; 2] = [Version::Tls12, Version::Tls13];

    /// As our examples print it.
    pub fn name(self) -> &'static str {
        match self {
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }

    /// The openssl option.
    pub fn openssl(self) -> &'static str {
        match self {
            Version::Tls12 => "-tls1_2",
            Version::Tls13 => "-tls1_3",
        }
    }

    /// The GnuTLS priority string.
    pub fn gnutls(self) -> &'static str {
        match self {
            Version::Tls12 => "NORMAL:-VERS-ALL:+VERS-TLS1.2",
            Version::Tls13 => "NORMAL:-VERS-ALL:+VERS-TLS1.3",
        }
    }
}

/// The named checks of one test, each printed as it is made, so that one run
/// shows every failure rather than the first.
#[derive(Default)]
pub struct Checks(Vec<String>);

impl Checks {
    /// Records the check `what`, which passed when `ok`.
    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        println!("interop {what:<72} {}", if ok { "ok" } else { "FAIL" });
        if !ok {
            self.0.push(what);
        }
    }

    /// How many checks failed so far.
    pub fn failed(&self) -> usize {
        self.0.len()
    }

    /// Fails the test naming every check that failed.
    pub fn finish(self) {
        assert!(self.0.is_empty(), "failed: {:?}", self.0);
    }
}

/// The echo server component running on a thread under `provider`.
pub struct EchoServer {
    /// The port it listens on.
    pub port: u16,
    out: MemoryOutputPipe,
    thread: Option<std::thread::JoinHandle<i32>>,
}

impl EchoServer {
    /// Starts it on a thread with the default certificate and `extra` options, for
    /// `connections` connections.
    pub fn start(provider: Provider, files: &Files, extra: &[&str], connections: usize) -> Self {
        let mut args = vec!["--cert", "/f/server.chain", "--key", "/f/server.key"];
        args.extend_from_slice(extra);
        Self::start_with(provider, files, &args, connections)
    }

    /// Starts it on a thread with exactly `extra` options (certificate included),
    /// for `connections` connections.
    pub fn start_with(
        provider: Provider,
        files: &Files,
        extra: &[&str],
        connections: usize,
    ) -> Self {
        let loaded = load(
            examples::tls_echo_server(),
            provider,
            &Policy::default(),
            "tls-echo-server",
        )
        .expect("load");
        let mut args: Vec<String> = [
            "tls-echo-server",
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(connections.to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_component(loaded, args, Vec::new(), files)
    }

    /// Runs any loaded server component on a thread, with `files` as `/f`; it
    /// must print `memtls-listening ADDR` once it listens.
    pub fn start_component(
        loaded: crate::Loaded,
        args: Vec<String>,
        env: Vec<(String, String)>,
        files: &Files,
    ) -> Self {
        let out = MemoryOutputPipe::new(1 << 20);
        let opts = RunOptions {
            args,
            env,
            dirs: vec![(files.dir.clone(), "/f".into())],
            inherit_network: true,
            capture_stdout: Some(out.clone()),
            ..RunOptions::default()
        };
        let thread =
            std::thread::spawn(move || run(&loaded, &opts).expect("the server must not trap"));
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
                "the server did not start: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Self {
            port,
            out,
            thread: Some(thread),
        }
    }

    /// What it printed so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.out.contents()).into_owned()
    }

    /// Waits for it to exit; returns its exit code.
    pub fn finish(self) -> i32 {
        self.finish_with_log().0
    }

    /// Waits for it to exit; returns its exit code and everything it printed.
    pub fn finish_with_log(mut self) -> (i32, String) {
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
        (t.join().unwrap(), self.log())
    }
}

/// `openssl s_client` against our server.
pub fn openssl_client(
    port: u16,
    files: &Files,
    version: Version,
    client_cert: bool,
    starttls: bool,
) -> Peer {
    let (cert, key) = (files.path("client.chain"), files.path("client.key"));
    let mut args = vec!["-servername", "localhost", "-verify_hostname", "localhost"];
    args.extend(["-verify_return_error", version.openssl()]);
    if client_cert {
        args.extend(["-cert", &cert, "-key", &key]);
    }
    if starttls {
        args.extend(["-starttls", "smtp"]);
    }
    s_client(port, files, &args, "openssl s_client")
}

/// `openssl s_client` to our server on loopback `port`, trusting the fixture
/// CA, reading on after its stdin ends, with `extra` options; `what` names it
/// in failures.
pub fn s_client(port: u16, files: &Files, extra: &[&str], what: &str) -> Peer {
    let connect = format!("127.0.0.1:{port}");
    let ca = files.path("ca");
    let mut args = vec!["s_client", "-connect", &connect, "-CAfile", &ca, "-ign_eof"];
    args.extend_from_slice(extra);
    spawn("openssl", &args, what)
}

/// `client` ("openssl" or "gnutls") sends `msg` to our echo server on `port`
/// once its handshake is done (the clients print that), and hears it back
/// (they print only what they receive, so the message in their output is the
/// echo). True when both happened within `wait` each.
pub fn echoes(
    client: &str,
    port: u16,
    files: &Files,
    version: Version,
    with_cert: bool,
    msg: &str,
    wait: Duration,
) -> bool {
    let (mut peer, ready) = match client {
        "openssl" => (
            openssl_client(port, files, version, with_cert, false),
            "Verify return code: 0",
        ),
        _ => (
            gnutls_client(port, files, version, with_cert),
            "Handshake was completed",
        ),
    };
    peer.round_trip(ready, msg, wait)
}

/// `gnutls-cli` against our server.
pub fn gnutls_client(port: u16, files: &Files, version: Version, client_cert: bool) -> Peer {
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

/// A TLS server that reads an 8-byte length, then that many bytes, and answers
/// with the count: CPython's own `ssl` (OpenSSL).
const SINK: &str = r#"
import socket, ssl, struct, sys
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server = socket.create_server(("127.0.0.1", int(sys.argv[3])))
def serve(connection):
    with context.wrap_socket(connection, server_side=True) as tls:
        header = b""
        while len(header) < 8:
            header += tls.recv(8 - len(header))
        (total,) = struct.unpack(">Q", header)
        received = 0
        while received < total:
            data = tls.recv(1 << 20)
            if not data:
                break
            received += len(data)
        tls.sendall(f"{received}\n".encode())
while True:
    connection, _ = server.accept()
    try:
        serve(connection)
    except OSError:  # the harness's readiness probe, for one
        pass
"#;

/// Starts [`SINK`] (CPython's `ssl` on OpenSSL) with the `server` chain; returns
/// once it listens.
pub fn python_tls_sink(files: &Files) -> (Peer, u16) {
    python_tls_server(SINK, files, "python3 as a TLS sink")
}

/// Runs `python/tests/ssl_sender.py` (built as `bytes`) for `mib` MiB under
/// `provider` against the sink on `port`; returns the process's peak resident
/// memory while it ran.
pub fn peak_while_sending(
    bytes: &[u8],
    provider: Provider,
    files: &Files,
    port: u16,
    mib: u32,
) -> usize {
    let loaded = load(bytes, provider, &Policy::default(), "ssl_sender").expect("load");
    let (done, peak) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(crate::resident_memory(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let out = MemoryOutputPipe::new(1 << 16);
    let code = run(
        &loaded,
        &run_options(
            vec!["ssl_sender".into()],
            vec![
                ("MEMTLS_TEST_SINK".into(), format!("127.0.0.1:{port}")),
                ("MEMTLS_SEND_MIB".into(), mib.to_string()),
            ],
            files,
            &out,
            &out,
        ),
    )
    .expect("the sender must not trap");
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let said = String::from_utf8_lossy(&out.contents()).into_owned();
    assert_eq!(code, 0, "{provider}, {mib} MiB: {said}");
    println!(
        "{provider}: {mib} MiB sent, peak resident memory {} MiB: {}",
        peak.load(Ordering::Relaxed) >> 20,
        said.trim()
    );
    peak.load(Ordering::Relaxed)
}

//! Identities the host holds (`memtls run --identity`), against programs
//! nobody here wrote: certificates and keys made with the `openssl` command,
//! keys imported into a SoftHSM2 token with `softhsm2-util`, and
//! `openssl s_server -Verify 1` requiring a client certificate and reporting
//! the subject it received. `https-get` in Wasm names the identity; the key
//! never enters it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use memtls_cli::examples;

/// The SoftHSM2 module Debian installs.
const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("memtls-id-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `program` with `args` in `dir`; panics with its output when it fails.
fn tool(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (the setup installs it)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed: {text}");
    text
}

/// A CA, a server certificate for localhost and client certificates of each
/// key type, made by the openssl command; the client keys imported into a
/// fresh SoftHSM2 token (label `memtls-test`, PIN in `pin`), and kept as
/// files too for the file-held form.
struct World {
    dir: Scratch,
    softhsm_conf: String,
}

/// The client key types: (file stem, `openssl req -newkey` argument).
const CLIENT_KEYS: [(&str, &str); 3] = [
    ("ec256", "ec:P-256"),
    ("rsa", "rsa:2048"),
    ("ed25519", "ed25519"),
];

impl World {
    fn new(tag: &str) -> Self {
        let dir = Scratch::new(tag);
        let d = dir.0.clone();
        let run = |args: &[&str]| tool(&d, "openssl", args, &[]);
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=memtls identity test CA",
        ]);
        let issue = |stem: &str, newkey: &str, subject: &str, ext: &str| {
            let curve = newkey
                .strip_prefix("ec:")
                .map(|c| format!("ec_paramgen_curve:{c}"));
            let (key, csr, pem) = (
                format!("{stem}.key"),
                format!("{stem}.csr"),
                format!("{stem}.pem"),
            );
            let mut args = vec!["req", "-new", "-nodes"];
            match &curve {
                Some(curve) => args.extend(["-newkey", "ec", "-pkeyopt", curve]),
                None => args.extend(["-newkey", newkey]),
            }
            args.extend([
                "-keyout", &key, "-out", &csr, "-subj", subject, "-addext", ext,
            ]);
            run(&args);
            run(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "30",
                "-copy_extensions",
                "copy",
            ]);
        };
        issue(
            "server",
            "ec:P-256",
            "/CN=localhost",
            "subjectAltName=DNS:localhost",
        );
        for (stem, newkey) in CLIENT_KEYS {
            issue(
                stem,
                newkey,
                &format!("/CN=memtls hsm client {stem}"),
                "extendedKeyUsage=clientAuth",
            );
        }
        // A token of our own: SoftHSM2 reads its configuration from the file
        // SOFTHSM2_CONF names.
        std::fs::create_dir_all(d.join("tokens")).unwrap();
        let conf = d.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                d.join("tokens").display()
            ),
        )
        .unwrap();
        let softhsm_conf = conf.display().to_string();
        let env = [("SOFTHSM2_CONF", softhsm_conf.as_str())];
        tool(
            &d,
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                "memtls-test",
                "--pin",
                "1234",
                "--so-pin",
                "5678",
            ],
            &env,
        );
        let mut on_token: Vec<&str> = CLIENT_KEYS.iter().map(|(stem, _)| *stem).collect();
        on_token.push("server");
        for (i, stem) in on_token.iter().enumerate() {
            let id = format!("{:02x}", i + 1);
            tool(
                &d,
                "softhsm2-util",
                &[
                    "--import",
                    &format!("{stem}.key"),
                    "--token",
                    "memtls-test",
                    "--label",
                    stem,
                    "--id",
                    &id,
                    "--pin",
                    "1234",
                ],
                &env,
            );
        }
        std::fs::write(d.join("pin"), "1234\n").unwrap();
        Self { dir, softhsm_conf }
    }

    /// `HEAD=CERT.pem:URI`, the URI naming key `key` on the token with `pin`
    /// (a query attribute) after the module.
    fn token_spec(&self, head: &str, cert: &str, key: &str, pin: &str) -> String {
        format!(
            "{head}={}:pkcs11:token=memtls-test;object={key}?module-path={SOFTHSM_MODULE}&{pin}",
            self.dir.path(&format!("{cert}.pem"))
        )
    }

    /// The `--identity` value for key `stem` on the token, for `purpose`.
    fn token_identity_for(&self, name: &str, purpose: &str, stem: &str) -> String {
        let pin = format!("pin-source=file:{}", self.dir.path("pin"));
        self.token_spec(&format!("{name}@{purpose}"), stem, stem, &pin)
    }

    /// The `--identity` value for client key `stem` on the token.
    fn token_identity(&self, name: &str, stem: &str) -> String {
        self.token_identity_for(name, "client", stem)
    }

    /// `memtls run --tls PROVIDER -S network --ca-file ca.pem` with `args`.
    fn memtls(&self, provider: &str, args: &[&str]) -> (Output, String) {
        let ca = self.dir.path("ca.pem");
        let run = ["run", "--tls", provider, "-S", "network", "--ca-file", &ca];
        self.command(&[&run[..], args].concat())
    }

    /// The `memtls` command with `args`, the token's configuration in its
    /// environment; its status and output.
    fn command(&self, args: &[&str]) -> (Output, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_memtls"))
            .args(args)
            .env("SOFTHSM2_CONF", &self.softhsm_conf)
            .output()
            .expect("run memtls");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out, text)
    }

    /// One `openssl s_server -Verify 1` connection (the client must present
    /// a certificate the CA issued) while `client` runs against its URL.
    fn against_s_server<T>(&self, client: impl Fn(&str) -> (T, String)) -> (T, String, String) {
        let server_args = ["-Verify", "1", "-CAfile", "ca.pem", "-cert", "server.pem"];
        common::against_s_server(
            &self.dir.0,
            &[&server_args[..], &["-key", "server.key"]].concat(),
            client,
        )
    }
}

/// The providers that sign with host identities: the native one and the
/// openssl one in the host, the guest one through `host-signer`.
const SIGNING_PROVIDERS: [&str; 3] = ["native", "guest", "openssl"];

/// https-get in Wasm authenticates to `s_server -Verify 1` with identities
/// whose keys live on the SoftHSM2 token (ECDSA P-256, RSA-2048, Ed25519) and
/// with a file-held key, on each provider that signs with them; s_server's
/// page (what it received) and its log name the client's subject. Without
/// the identity s_server refuses the handshake.
#[test]
#[ignore = "needs openssl and softhsm2 (Debian packages); cargo xtask test runs it"]
fn token_and_file_identities_authenticate_to_s_server() {
    let w = World::new("s_server");
    let app = w.dir.path("https-get.wasm");
    std::fs::write(&app, examples::https_get()).unwrap();
    // Every identity granted at once (one policy: the guest provider's
    // composition is compiled once), each used by name in turn.
    let mut cases: Vec<(String, String, String)> = CLIENT_KEYS
        .iter()
        .map(|(stem, _)| {
            (
                stem.to_string(),
                w.token_identity(stem, stem),
                format!("memtls hsm client {stem}"),
            )
        })
        .collect();
    cases.push((
        "file".to_owned(),
        format!(
            "file={}:{}",
            w.dir.path("ec256.pem"),
            w.dir.path("ec256.key")
        ),
        "memtls hsm client ec256".to_owned(),
    ));
    let grants: Vec<&str> = cases
        .iter()
        .flat_map(|(_, spec, _)| ["--identity", spec.as_str()])
        .collect();
    for provider in SIGNING_PROVIDERS {
        for (name, _, subject) in &cases {
            let (out, text, said) = w.against_s_server(|url| {
                let args = [&grants[..], &[&app, "--identity", name, "--body", url]].concat();
                w.memtls(provider, &args)
            });
            assert!(
                out.status.success() && text.contains("Client certificate"),
                "https-get on {provider} with {name}: {text}\ns_server: {said}"
            );
            assert!(
                text.contains(&format!("Subject: CN={subject}"))
                    && said.contains(&format!("depth=0 CN = {subject}")),
                "s_server should have received {subject} from {provider}: page {text}\nlog {said}"
            );
            println!("s_server -Verify 1 received {subject:?} from identity {name} on {provider}");
        }
        // No identity: s_server requires one and refuses the handshake.
        let (out, text, said) = w.against_s_server(|url| w.memtls(provider, &[&app, url]));
        assert!(
            !out.status.success(),
            "{provider} without a certificate: {text}"
        );
        assert!(
            said.contains("peer did not return a certificate"),
            "s_server should say it got no certificate from {provider}: {said}"
        );
    }
}

/// The Python example (`examples/python/https_get.py`: urllib on the stdlib
/// `ssl`, `memtls.use_identity` for the client certificate) authenticates to
/// `s_server -Verify 1` with the token's P-256, RSA and Ed25519 keys on
/// every provider; s_server's log names the subject it verified.
#[test]
#[ignore = "needs openssl, softhsm2 and componentize-py (cargo xtask setup); cargo xtask test runs it"]
fn a_python_component_authenticates_with_token_keys() {
    let w = World::new("python");
    let app = w.dir.path("https_get.wasm");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/python/https_get.py"
    );
    let (out, said) = w.command(&["python", "build", script, "-o", &app]);
    assert!(out.status.success(), "memtls python build: {said}");
    let grants = [
        "--identity",
        &w.token_identity("ec256", "ec256"),
        "--identity",
        &w.token_identity("rsa", "rsa"),
        "--identity",
        &w.token_identity("ed25519", "ed25519"),
    ];
    for provider in SIGNING_PROVIDERS {
        for (stem, _) in CLIENT_KEYS {
            let (out, text, log) = w.against_s_server(|url| {
                w.memtls(provider, &[&grants[..], &[&app, url, stem]].concat())
            });
            let subject = format!("memtls hsm client {stem}");
            assert!(
                out.status.success() && text.starts_with("200 "),
                "https_get.py on {provider} with {stem}: {text}\ns_server: {log}"
            );
            assert!(
                log.contains(&format!("depth=0 CN = {subject}")),
                "s_server should have verified {subject} from {provider}: {log}"
            );
            println!("s_server -Verify 1 received {subject:?} from Python on {provider}");
        }
    }
}

/// `memtls compose --identity` bakes the identity's name, purposes and public
/// chain into the composition and leaves its signatures to the host: run with
/// the same grant, the composition authenticates to `s_server -Verify 1`
/// with the token's key; run without it, it is refused with a sentence
/// saying what to grant.
#[test]
#[ignore = "needs openssl and softhsm2 (Debian packages); cargo xtask test runs it"]
fn a_composition_made_with_identities_runs_where_they_are_granted() {
    let w = World::new("compose");
    let app = w.dir.path("https-get.wasm");
    std::fs::write(&app, examples::https_get()).unwrap();
    let composed = w.dir.path("composed.wasm");
    let grant = w.token_identity("ec256", "ec256");
    let ca = w.dir.path("ca.pem");
    let (out, said) = w.command(&[
        "compose",
        "--identity",
        &grant,
        "--ca-file",
        &ca,
        &app,
        "-o",
        &composed,
    ]);
    assert!(
        out.status.success() && said.contains("a host holding the keys of ec256"),
        "compose --identity: {said}"
    );
    let (out, text, log) = w.against_s_server(|url| {
        w.memtls(
            "native",
            &[
                "--identity",
                &grant,
                &composed,
                "--identity",
                "ec256",
                "--body",
                url,
            ],
        )
    });
    assert!(
        out.status.success() && text.contains("Subject: CN=memtls hsm client ec256"),
        "the composition with the grant: {text}\ns_server: {log}"
    );
    let (out, text) = w.memtls("native", &[&composed, "https://localhost:9/"]);
    assert!(
        !out.status.success() && text.contains("this run grants none"),
        "the composition without the grant: {text}"
    );
}

/// tls-echo-server in Wasm serves with a key on the token, on each provider
/// that signs with host identities; `openssl s_client` verifies its chain and
/// name against the CA and gets its line echoed.
#[test]
#[ignore = "needs openssl and softhsm2 (Debian packages); cargo xtask test runs it"]
fn a_server_in_wasm_serves_with_a_token_key_to_s_client() {
    let w = World::new("serve");
    let echo = w.dir.path("tls-echo-server.wasm");
    std::fs::write(&echo, examples::tls_echo_server()).unwrap();
    for provider in SIGNING_PROVIDERS {
        serve_with_token_key(&w, &echo, provider);
    }
}

fn serve_with_token_key(w: &World, echo: &str, provider: &str) {
    use memtls_test_harness::peers::{spawn, spawn_command};
    let identity = w.token_identity_for("web", "server", "server");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memtls"));
    cmd.args([
        "run",
        "--tls",
        provider,
        "-S",
        "network",
        "--identity",
        &identity,
        echo,
    ])
    .args([
        "--identity",
        "web",
        "--listen",
        "127.0.0.1:0",
        "--max-connections",
        "1",
    ])
    .env("SOFTHSM2_CONF", &w.softhsm_conf);
    let server = spawn_command(cmd, "tls-echo-server");
    assert!(
        server.wait_for("memtls-listening", Duration::from_secs(60)),
        "the server did not listen: {}",
        server.text()
    );
    let text = server.text();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("memtls-listening "))
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap();
    let ca = w.dir.path("ca.pem");
    let connect = format!("127.0.0.1:{port}");
    let mut client = spawn(
        "openssl",
        &[
            "s_client",
            "-connect",
            &connect,
            "-servername",
            "localhost",
            "-CAfile",
            &ca,
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
        ],
        "openssl s_client",
    );
    let echoed = client.round_trip(
        "Verify return code: 0 (ok)",
        "signed on the token",
        Duration::from_secs(30),
    );
    let said = client.text();
    drop(client);
    let log = server.exit_within(Duration::from_secs(30));
    assert!(
        echoed,
        "s_client against the token-keyed server on {provider}: {said}
server: {log:?}"
    );
    assert!(
        said.contains("Peer signature type: ECDSA") && said.contains("CN = localhost"),
        "s_client should show the server's ECDSA signature and subject ({provider}): {said}"
    );
    println!("s_client verified the token-keyed server on {provider}");
}

/// Names and purposes the policy does not grant are refused with
/// `not-permitted` and a sentence naming the identity; PINs on the command
/// line and mismatched keys are refused before anything runs.
#[test]
#[ignore = "needs openssl and softhsm2 (Debian packages); cargo xtask test runs it"]
fn identities_not_granted_are_refused_with_a_sentence() {
    let w = World::new("refused");
    let app = w.dir.path("https-get.wasm");
    std::fs::write(&app, examples::https_get()).unwrap();
    let granted = w.token_identity("client", "ec256");
    let echo = w.dir.path("tls-echo-server.wasm");
    std::fs::write(&echo, examples::tls_echo_server()).unwrap();
    for provider in SIGNING_PROVIDERS {
        // Another name than the one granted (no server needed: refused at
        // configuration).
        let (out, text) = w.memtls(
            provider,
            &[
                "--identity",
                &granted,
                &app,
                "--identity",
                "other",
                "https://localhost:9/",
            ],
        );
        assert!(
            !out.status.success() && text.contains("the host identity \"other\" is not granted"),
            "an identity not granted ({provider}): {text}"
        );
        // Granted for client authentication only, used to serve.
        let (out, text) = w.memtls(
            provider,
            &[
                "--identity",
                &granted,
                &echo,
                "--identity",
                "client",
                "--max-connections",
                "1",
            ],
        );
        assert!(
            !out.status.success()
                && text.contains("is granted for client authentication only, not for serving"),
            "an identity used for the wrong purpose ({provider}): {text}"
        );
    }
    // A PIN in the URI.
    let (out, text) = w.memtls(
        "native",
        &[
            "--identity",
            &w.token_spec("client", "ec256", "ec256", "pin-value=1234"),
            &app,
            "https://localhost:9/",
        ],
    );
    assert!(
        !out.status.success() && text.contains("pin-source"),
        "a PIN on the command line: {text}"
    );
    // The RSA key behind the P-256 client's certificate.
    let (out, text) = w.memtls(
        "native",
        &[
            "--identity",
            &w.token_spec(
                "client",
                "ec256",
                "rsa",
                &format!("pin-source=file:{}", w.dir.path("pin")),
            ),
            &app,
            "https://localhost:9/",
        ],
    );
    assert!(
        !out.status.success() && text.contains("does not match"),
        "a token key that is not the certificate's: {text}"
    );
}

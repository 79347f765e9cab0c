//! Trust with the certificates people make, served by `openssl s_server` and
//! fetched by `https-get` on every provider (native, guest, openssl).
//!
//! - Pinning: the `openssl` CLI's self-signed certificate (OpenSSL 3 marks it
//!   CA:TRUE), a CA:FALSE one, and a leaf issued by an OpenSSL CA, fetched with
//!   `--pin` (and `--ca-file`). A pin accepts exactly its certificate, then
//!   checks the name as always; it vouches for nothing else.
//! - Verified chains: a root, an intermediate and a leaf made by the CLI; the
//!   path each provider reports is the one `openssl s_client` verifies, whether
//!   the root comes from the application or from the embedder's policy (any
//!   base roots).

use std::process::Command;

use memtls_host::{BaseRoots, Policy, Provider};
use memtls_test_harness::peers::{
    Checks, Files, der, https_get, https_get_under, https_server, issued, require, result_field,
    self_signed, self_signed_as,
};

#[test]
fn pins_accept_exactly_the_pinned_certificate() {
    require("openssl", "openssl");
    let files = Files::new("pinning");
    self_signed(&files, "ca-true", &[]);
    self_signed(
        &files,
        "ca-false",
        &["-addext", "basicConstraints=critical,CA:FALSE"],
    );
    // A CA and a leaf it issues, all by the openssl CLI.
    self_signed(
        &files,
        "ossl-ca",
        &["-addext", "basicConstraints=critical,CA:TRUE"],
    );
    issued(
        &files,
        "leaf",
        "ossl-ca",
        "/CN=localhost",
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    );

    let mut checks = Checks::default();
    // (server chain, how the file is trusted, the file, host in the URL, outcome)
    let cases = [
        (
            "ca-true",
            "--pin",
            "ca-true.chain",
            "localhost",
            "status=200",
        ),
        (
            "ca-false",
            "--pin",
            "ca-false.chain",
            "localhost",
            "status=200",
        ),
        ("leaf", "--pin", "leaf.chain", "localhost", "status=200"),
        (
            "ca-true",
            "--pin",
            "ca-true.chain",
            "127.0.0.1",
            "name-mismatch",
        ),
        (
            "ca-false",
            "--pin",
            "ca-true.chain",
            "localhost",
            "none of the pinned",
        ),
        // A pinned CA vouches for nothing it signed.
        (
            "leaf",
            "--pin",
            "ossl-ca.chain",
            "localhost",
            "none of the pinned",
        ),
        // As an anchor, the self-signed certificate is trusted as OpenSSL does;
        // the CA vouches for its leaf.
        (
            "ca-true",
            "--ca-file",
            "ca-true.chain",
            "localhost",
            "status=200",
        ),
        (
            "leaf",
            "--ca-file",
            "ossl-ca.chain",
            "localhost",
            "status=200",
        ),
        (
            "ca-true",
            "--ca-file",
            "ca-true.chain",
            "127.0.0.1",
            "name-mismatch",
        ),
    ];
    for (server, how, pin, host, expect) in cases {
        let (_peer, port) = https_server("openssl", &files, server, &[]);
        for provider in memtls_test_harness::PROVIDERS {
            let (code, stdout, stderr) = https_get(
                provider,
                &files,
                &[
                    how,
                    &format!("/f/{pin}"),
                    &format!("https://{host}:{port}/"),
                ],
            );
            let said = format!("{stdout}{stderr}");
            // "status=200" is the https-get report's status; anything else a
            // text the refusal must contain.
            let ok = match expect.strip_prefix("status=") {
                Some(status) => {
                    code == 0 && result_field(&stdout, "status").as_deref() == Some(status)
                }
                None => code != 0 && said.contains(expect),
            };
            checks.check(
                ok,
                format!(
                    "https-get --tls {provider} {how} {pin} against {server} at {host}: \
                     expected {expect}: {}",
                    said.lines()
                        .find(|l| l.contains("memtls-result") || l.contains("https-get:"))
                        .unwrap_or_default()
                ),
            );
        }
    }
    checks.finish();
}

#[test]
fn verified_chains_are_the_path_openssl_builds() {
    require("openssl", "openssl");
    let files = Files::new("verified-chain");
    let ca = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
    self_signed_as(
        &files,
        "root",
        "/CN=memtls test root",
        &["-addext", "basicConstraints=critical,CA:TRUE"],
    );
    issued(&files, "int", "root", "/CN=memtls test intermediate", ca);
    issued(
        &files,
        "leaf",
        "int",
        "/CN=localhost",
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    );
    self_signed_as(&files, "stray", "/CN=memtls stray", &[]);
    // The server sends the leaf, a certificate no path uses, and the
    // intermediate; never the root.
    let rest: Vec<u8> = ["stray.chain", "int.chain"]
        .iter()
        .flat_map(|f| std::fs::read(files.dir.join(f)).unwrap())
        .collect();
    std::fs::write(files.dir.join("rest.pem"), rest).unwrap();
    let (_peer, port) = https_server(
        "openssl",
        &files,
        "leaf",
        &["-cert_chain", &files.path("rest.pem")],
    );
    let url = format!("https://localhost:{port}/");

    // OpenSSL's verified path, from s_client's verify callback lines.
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost", "-verify_hostname", "localhost"])
        .args(["-CAfile", &files.path("root.chain"), "-verify_return_error"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut depths: Vec<String> = said
        .lines()
        .filter(|l| l.starts_with("depth="))
        .map(|l| l.replace(" = ", "="))
        .collect();
    depths.dedup();
    assert_eq!(
        depths,
        [
            "depth=2 CN=memtls test root",
            "depth=1 CN=memtls test intermediate",
            "depth=0 CN=localhost",
        ],
        "openssl s_client: {said}"
    );

    let path = |names: &[&str]| names.iter().map(|n| der(&files, n)).collect::<Vec<_>>();
    let full = path(&["leaf", "int", "root"]);
    let shown = |stdout: &str| -> Vec<Vec<u8>> {
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix("verified-chain: "))
            .map(|hex| {
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect()
            })
            .collect()
    };
    let root_pem = std::fs::read(files.dir.join("root.chain")).unwrap();
    let under = |base_roots, anchors: &[Vec<u8>]| Policy {
        base_roots,
        extra_system_anchors: anchors.to_vec(),
        ..Policy::default()
    };
    // (what, policy, https-get options, the path expected)
    let cases = [
        (
            "the application's anchor",
            Policy::default(),
            vec!["--ca-file", "/f/root.chain"],
            full.clone(),
        ),
        (
            "the intermediate as the application's anchor",
            Policy::default(),
            vec!["--ca-file", "/f/int.chain"],
            path(&["leaf", "int"]),
        ),
        (
            "a pin",
            Policy::default(),
            vec!["--pin", "/f/leaf.chain"],
            path(&["leaf"]),
        ),
        (
            "system trust: Mozilla roots and the embedder's anchor",
            under(BaseRoots::Mozilla, std::slice::from_ref(&root_pem)),
            vec![],
            full.clone(),
        ),
        (
            "system trust: the embedder's anchor alone",
            under(BaseRoots::None, std::slice::from_ref(&root_pem)),
            vec![],
            full.clone(),
        ),
        (
            "system trust: the platform's roots and the embedder's anchor",
            under(BaseRoots::Platform, std::slice::from_ref(&root_pem)),
            vec![],
            full.clone(),
        ),
    ];
    let mut checks = Checks::default();
    for (what, policy, options, expected) in cases {
        for provider in memtls_test_harness::PROVIDERS {
            let mut args = options.clone();
            args.extend(["--show-chain", &url]);
            let (code, stdout, stderr) = https_get_under(provider, &policy, &files, &args);
            if provider == Provider::OpenSsl && policy.base_roots == BaseRoots::Mozilla {
                // The openssl provider's system trust is OpenSSL's store.
                checks.check(
                    code != 0 && stderr.contains("\"mozilla\" are for the rustls providers"),
                    format!("{provider}, {what}: refused, saying why: {stderr}"),
                );
                continue;
            }
            let got = shown(&stdout);
            checks.check(
                code == 0 && got == expected,
                format!(
                    "{provider}, {what}: a path of {} certificates (expected {}){}",
                    got.len(),
                    expected.len(),
                    if code == 0 {
                        String::new()
                    } else {
                        format!(": {stderr}")
                    }
                ),
            );
        }
    }
    // No base roots and no anchors: system trust is refused, and says why.
    for provider in memtls_test_harness::PROVIDERS {
        let policy = under(BaseRoots::None, &[]);
        let (code, stdout, stderr) = https_get_under(provider, &policy, &files, &[&url]);
        let said = format!("{stdout}{stderr}").trim().to_owned();
        checks.check(
            code != 0 && said.contains("system trust is empty") && said.contains("\"none\""),
            format!("{provider}, base roots none without anchors: {said}"),
        );
    }
    checks.finish();
}

//! Pinning with the certificates people make: the `openssl` CLI's self-signed
//! certificate (OpenSSL 3 marks it CA:TRUE), a CA:FALSE one, and a leaf issued
//! by an OpenSSL CA, each served by `openssl s_server` and fetched by `https-get
//! --pin` (and `--ca-file`) on both providers. A pin accepts exactly its
//! certificate, then checks the name as always; it vouches for nothing else.

use std::process::Command;

use memtls_host::Provider;
use memtls_tests::peers::{Files, https_get, https_server, line, require};

/// Runs `openssl` with `args` in the fixtures' directory.
fn openssl(files: &Files, args: &[&str]) {
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

/// `openssl req` options for a new P-256 key, unencrypted.
const NEW_EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

/// A self-signed certificate for localhost as `openssl req -x509` makes it,
/// written as `NAME.chain` / `NAME.key`; `extra` adds `-addext` options.
fn self_signed(files: &Files, name: &str, extra: &[&str]) {
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
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
    ]);
    args.extend_from_slice(extra);
    openssl(files, &args);
}

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
    let mut request = vec!["req"];
    request.extend_from_slice(&NEW_EC_KEY);
    request.extend_from_slice(&[
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&files, &request);
    std::fs::write(
        files.dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        &files,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ossl-ca.chain",
            "-CAkey",
            "ossl-ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.chain",
            "-days",
            "30",
            "-extfile",
            "leaf.ext",
        ],
    );

    let mut failures = Vec::new();
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
        for provider in Provider::ALL {
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
            let ok = said.contains(expect) && (code == 0) == (expect == "status=200");
            line(
                ok,
                format!(
                    "https-get --tls {provider} {how} {pin} against {server} at {host}: \
                     expected {expect}: {}",
                    said.lines()
                        .find(|l| l.contains("memtls-result") || l.contains("https-get:"))
                        .unwrap_or_default()
                ),
                &mut failures,
            );
        }
    }
    assert!(failures.is_empty(), "failed: {failures:?}");
}

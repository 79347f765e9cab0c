//! The benchmarks' shared workload on all three paths: the wasi:tls client
//! (wasmtime-wasi-tls) and the `https-get` example with each memtls provider,
//! against the same loopback demo server, side by side.

use std::collections::BTreeMap;

use memtls_loopback::{Certs, start_https_server};
use memtls_test_harness::peers::{Files, https_get};
use memtls_test_harness::wasi_tls::run_client;

const BODY: usize = 1 << 20;
const REPEAT: usize = 3;

/// The fields of each `memtls-result` report, as text.
fn results(stdout: &str) -> Vec<BTreeMap<String, String>> {
    memtls_report::all(memtls_report::Tag::Result, stdout)
        .iter()
        .map(|r| r.fields().into_iter().collect())
        .collect()
}

fn number(fields: &BTreeMap<String, String>, key: &str) -> f64 {
    let v = fields
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {fields:?}"));
    v.parse()
        .unwrap_or_else(|_| panic!("{key}={v} is not a number"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One row of the summary: handshake and transfer medians, MB/s.
struct Row {
    name: String,
    handshake_ms: f64,
    transfer_ms: f64,
    /// Request written to first response byte (only the wasi:tls client says).
    first_byte_ms: Option<f64>,
    body_bytes: f64,
}

#[test]
fn same_workload_through_wasi_tls_and_both_memtls_providers() {
    let certs = Certs::generate().expect("certificates");
    let port = start_https_server(&certs, BODY).expect("server");
    let port_arg = port.to_string();
    let repeat_arg = REPEAT.to_string();
    let mut rows = Vec::new();

    // wasmtime-wasi-tls: one summary line over REPEAT connections.
    let (code, out, err) = run_client(
        &["127.0.0.1", &port_arg, "localhost", &repeat_arg],
        &certs.ca_pem,
    )
    .expect("the wasi:tls client runs");
    assert_eq!(code, 0, "wasi:tls client failed:\n{out}\n{err}");
    let lines = results(&out);
    assert_eq!(lines.len(), 1, "one result line expected:\n{out}");
    let r = &lines[0];
    println!("wasi-tls:          {}", out.trim());
    assert_eq!(r.get("status").map(String::as_str), Some("200"), "{out}");
    assert_eq!(number(r, "body_bytes"), BODY as f64, "{out}");
    assert_eq!(number(r, "repeat"), REPEAT as f64, "{out}");
    assert!(number(r, "mbps") > 0.0, "{out}");
    rows.push(Row {
        name: "wasi:tls (wasmtime-wasi-tls)".into(),
        handshake_ms: number(r, "handshake_ms"),
        transfer_ms: number(r, "transfer_ms"),
        first_byte_ms: Some(number(r, "first_byte_ms")),
        body_bytes: number(r, "body_bytes"),
    });

    // https-get with each provider: one line per round (resumption after the
    // first, as with the wasi:tls client's shared configuration).
    let dir = Files::scratch("wasi-tls");
    std::fs::write(dir.dir.join("ca.pem"), &certs.ca_pem).expect("ca.pem");
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let url = format!("https://127.0.0.1:{port}/");
        let args = [
            "--ca-file",
            "/f/ca.pem",
            "--sni",
            "localhost",
            "--repeat",
            &repeat_arg,
            &url,
        ];
        let (code, out, _) = https_get(provider, &dir, &args);
        assert_eq!(code, 0, "https-get --tls {provider} failed:\n{out}");
        let lines = results(&out);
        assert_eq!(lines.len(), REPEAT, "{provider}: {out}");
        for r in &lines {
            println!(
                "https-get {provider:<7} memtls-result {}",
                r.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            assert_eq!(r.get("status").map(String::as_str), Some("200"), "{out}");
            assert_eq!(number(r, "body_bytes"), BODY as f64, "{out}");
        }
        rows.push(Row {
            name: format!("https-get --tls {provider}"),
            handshake_ms: median(lines.iter().map(|r| number(r, "handshake_ms")).collect()),
            transfer_ms: median(lines.iter().map(|r| number(r, "transfer_ms")).collect()),
            first_byte_ms: None,
            body_bytes: BODY as f64,
        });
    }

    println!(
        "\n{REPEAT} GETs of {BODY} bytes each over loopback, medians (handshake includes the TCP connect):"
    );
    println!(
        "{:<30} {:>13} {:>12} {:>14} {:>8}",
        "", "handshake ms", "transfer ms", "first byte ms", "MB/s"
    );
    for r in &rows {
        println!(
            "{:<30} {:>13.2} {:>12.2} {:>14} {:>8.1}",
            r.name,
            r.handshake_ms,
            r.transfer_ms,
            r.first_byte_ms.map_or("-".into(), |v| format!("{v:.2}")),
            r.body_bytes / r.transfer_ms / 1e3
        );
    }
}

#[test]
fn wasi_tls_client_reports_bad_arguments_and_failures() {
    let certs = Certs::generate().expect("certificates");
    for args in [
        &["127.0.0.1", "443", "localhost"][..],
        &["127.0.0.1", "port", "localhost", "1"],
        &["127.0.0.1", "443", "localhost", "0"],
    ] {
        let (code, out, err) = run_client(args, &certs.ca_pem).expect("no trap");
        assert_eq!(code, 1, "{args:?}: {out}\n{err}");
        assert!(err.contains("usage:"), "{args:?}: {err}");
    }
    // A run against 127.0.0.1:`port` that fails (exit code 1) saying `why`.
    let fails_saying = |port: u16, why: &str| {
        let port = port.to_string();
        let args = ["127.0.0.1", &port, "localhost", "1"];
        let (code, _, err) = run_client(&args, &certs.ca_pem).expect("no trap");
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(why), "{err}");
        err.trim().to_string()
    };
    // A server whose certificate is from another CA: the handshake fails cleanly.
    let other = Certs::generate().expect("certificates");
    let port = start_https_server(&other, 10).expect("server");
    let err = fails_saying(port, "TLS handshake for localhost failed");
    println!("untrusted server: {err}");
    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    println!(
        "closed port: {}",
        fails_saying(closed_port, "cannot connect")
    );
    // A host name goes through wasi:sockets name lookup (every address is tried).
    let port = start_https_server(&certs, 10).expect("server");
    let (code, out, err) = run_client(
        &["localhost", &port.to_string(), "localhost", "1"],
        &certs.ca_pem,
    )
    .expect("no trap");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        results(&out)
            .first()
            .and_then(|r| r.get("body_bytes").cloned()),
        Some("10".to_string()),
        "{out}"
    );
}

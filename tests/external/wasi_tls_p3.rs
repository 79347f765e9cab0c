//! A program written against wasi:tls 0.3 (the draft wasmtime 48 serves), run
//! on memtls through the wasi:tls adapter: on every provider (`memtls run`),
//! composed with the guest provider under a plain wasmtime host that links
//! only WASI, and, as the reference, on wasmtime-wasi-tls's own p3 host. The
//! servers are programs nobody here wrote: `openssl s_server` (certificates
//! made by the `openssl` CLI) and CPython's `ssl`.

use memtls_host::{Policy, Provider};
use memtls_test_harness::peers::{
    Checks, Example, Files, Peer, https_server, issued, python_tls_server, require, result_field,
    self_signed,
};
use memtls_test_harness::wasi_tls::{P3Tls, run_p3, wasi_tls_p3_client_component};

/// The program, run by memtls (`memtls run` does the same).
fn program() -> Example<'static> {
    Example::new(wasi_tls_p3_client_component(), "memtls-wasi-tls-p3-client")
}

/// The program composed with the wasi:tls adapter and the guest provider
/// (`policy` baked in), as `memtls compose` writes it; checks that it needs
/// nothing but WASI from its host.
fn composed(policy: &Policy) -> Vec<u8> {
    let bytes = memtls_host::compose(
        wasi_tls_p3_client_component(),
        Some((memtls_artifacts::guest_component(), policy)),
        Some(memtls_artifacts::wasi_tls_adapter_component()),
    )
    .expect("compose");
    let imports = memtls_host::component_imports(&bytes).expect("imports");
    assert!(
        imports
            .iter()
            .all(|i| i.starts_with("wasi:") && !i.starts_with("wasi:tls/")),
        "the composition should import only WASI: {imports:?}"
    );
    bytes
}

/// `openssl s_server -www` with a leaf for localhost issued by a CA, all made
/// by the `openssl` CLI (`ossl-ca.chain` is the CA); returns the server and
/// its port.
fn s_server(files: &Files) -> (Peer, u16) {
    self_signed(
        files,
        "ossl-ca",
        &["-addext", "basicConstraints=critical,CA:TRUE"],
    );
    issued(
        files,
        "leaf",
        "ossl-ca",
        "/CN=localhost",
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    https_server("openssl", files, "leaf", &[])
}

/// A policy whose `system` trust adds the CA in file `name` (`--ca-file`).
fn trusting(files: &Files, name: &str) -> Policy {
    Policy {
        extra_system_anchors: vec![std::fs::read(files.path(name)).expect("CA file")],
        ..Policy::default()
    }
}

/// Whether a run fetched a 200 whose receiving side ended as `eof` says.
fn fetched(run: &(i32, String, String), eof: &str) -> bool {
    let (code, out, err) = run;
    let ok = *code == 0
        && result_field(out, "status").as_deref() == Some("200")
        && result_field(out, "eof").as_deref() == Some(eof);
    if !ok {
        eprintln!("--- exit code {code}\n{out}\n{err}");
    }
    ok
}

#[test]
fn wasi_tls_program_fetches_from_openssl_s_server_on_every_provider() {
    require("openssl", "openssl");
    let files = Files::scratch("wasi-tls-p3");
    let (server, port) = s_server(&files);
    let port = port.to_string();
    let args = ["127.0.0.1", port.as_str(), "localhost", "1"];
    let policy = trusting(&files, "ossl-ca.chain");
    let mut checks = Checks::default();
    for provider in memtls_test_harness::PROVIDERS {
        let run = program().run(provider, &policy, &files, &args);
        checks.check(
            fetched(&run, "clean"),
            format!("memtls run --tls {provider}: 200, ended by close_notify"),
        );
    }
    let run = run_p3(&composed(&policy), &args, P3Tls::None).expect("no trap");
    checks.check(
        fetched(&run, "clean"),
        "composed with the guest, under a host with only WASI: 200, ended by close_notify",
    );
    let ca = std::fs::read_to_string(files.path("ossl-ca.chain")).unwrap();
    let run = run_p3(wasi_tls_p3_client_component(), &args, P3Tls::Wasmtime(&ca)).expect("no trap");
    checks.check(
        fetched(&run, "clean"),
        "the same program on wasmtime-wasi-tls (p3): 200, ended by close_notify",
    );
    if checks.failed() > 0 {
        eprintln!("s_server said: {}", server.text());
    }
    checks.finish();
}

#[test]
fn wasi_tls_program_refuses_an_unknown_issuer_and_the_server_hears_why() {
    require("openssl", "openssl");
    let files = Files::scratch("wasi-tls-p3-unknown");
    let (server, port) = s_server(&files);
    let port = port.to_string();
    let args = ["127.0.0.1", port.as_str(), "localhost", "1"];
    // The embedder's policy adds nothing: no root of the platform's (or, in
    // the guest, Mozilla's) issued the server's leaf.
    let policy = Policy::default();
    let alerts = || server.text().to_lowercase().matches("unknown ca").count();
    let mut checks = Checks::default();
    let refused = |checks: &mut Checks, what: String, run: (i32, String, String)| {
        let (code, _, err) = &run;
        let before = checks.failed();
        checks.check(
            *code == 1
                && err.contains("TLS handshake for localhost failed")
                && err.contains("[certificate-rejected(unknown-issuer)]"),
            format!("{what}: refused, saying why: certificate-rejected(unknown-issuer)"),
        );
        if checks.failed() > before {
            eprintln!("--- {what}: exit code {code}\n{err}");
        }
    };
    for provider in memtls_test_harness::PROVIDERS {
        let heard = alerts();
        refused(
            &mut checks,
            format!("memtls run --tls {provider}"),
            program().run(provider, &policy, &files, &args),
        );
        // s_server logs the alert it received; it may log it a moment later.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while alerts() == heard && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        checks.check(
            alerts() > heard,
            format!("--tls {provider}: s_server received the unknown_ca alert"),
        );
    }
    let run = run_p3(&composed(&policy), &args, P3Tls::None).expect("no trap");
    refused(
        &mut checks,
        "composed with the guest, under a host with only WASI".into(),
        run,
    );
    if checks.failed() > 0 {
        eprintln!("s_server said: {}", server.text());
    }
    checks.finish();
}

#[test]
fn the_embedder_pins_a_self_signed_server_with_an_extra_anchor() {
    require("openssl", "openssl");
    let files = Files::scratch("wasi-tls-p3-pin");
    // What `openssl req -x509` makes by default: self-signed, CA:TRUE.
    self_signed(&files, "self", &[]);
    let (server, port) = https_server("openssl", &files, "self", &[]);
    let port = port.to_string();
    // `--ca-file self.chain`: the server's own certificate as an extra anchor.
    let policy = trusting(&files, "self.chain");
    let mut checks = Checks::default();
    for provider in memtls_test_harness::PROVIDERS {
        let run = program().run(
            provider,
            &policy,
            &files,
            &["127.0.0.1", &port, "localhost", "1"],
        );
        checks.check(
            fetched(&run, "clean"),
            format!("--tls {provider}: the server's own certificate in --ca-file is accepted"),
        );
        let (code, _, err) = program().run(
            provider,
            &policy,
            &files,
            &["127.0.0.1", &port, "other.example", "1"],
        );
        checks.check(
            code == 1 && err.contains("[certificate-rejected(name-mismatch)]"),
            format!("--tls {provider}: its name is still checked"),
        );
    }
    if checks.failed() > 0 {
        eprintln!("s_server said: {}", server.text());
    }
    checks.finish();
}

#[test]
fn the_adapter_refuses_misuse_and_extreme_names_with_sentences() {
    require("openssl", "openssl");
    let files = Files::scratch("wasi-tls-p3-misuse");
    let (server, port) = s_server(&files);
    let port = port.to_string();
    let args = ["--misuse", "127.0.0.1", port.as_str()];
    let policy = trusting(&files, "ossl-ca.chain");
    // Each case (see the program's `misuse`) and what memtls's answer says.
    let cases = [
        ("send_twice", "once per connector"),
        ("dropped_before_connect", "dropped before connect"),
        ("connect_without_receive", "call both first"),
        ("connect_without_send", "call both first"),
        ("empty_name", "[configuration]"),
        ("huge_name", "[configuration]"),
        ("ip_name", "[certificate-rejected(name-mismatch)]"),
        ("invalid_name", "[configuration]"),
    ];
    let mut checks = Checks::default();
    for provider in memtls_test_harness::PROVIDERS {
        let (code, out, err) = program().run(provider, &policy, &files, &args);
        checks.check(
            code == 0,
            format!("--tls {provider}: the program ran ({err})"),
        );
        for (case, says) in cases {
            let outcome = result_field(&out, case).unwrap_or_default();
            checks.check(
                outcome.starts_with("error: ") && outcome.contains(says),
                format!("--tls {provider}: {case} refused, saying {says}"),
            );
            if provider == Provider::Native {
                println!("memtls {case}: {:.160}", outcome);
            }
        }
    }
    // Not compared with wasmtime-wasi-tls: on its p3 host this run does not
    // finish (the futures of a connector used against the rules are not all
    // answered there), where memtls answers each.
    if checks.failed() > 0 {
        eprintln!("s_server said: {}", server.text());
    }
    checks.finish();
}

/// A CPython `ssl` server: each request gets a 200 with a 5-byte body; then
/// the first connection is closed with close_notify (`unwrap`), the second
/// without (the TCP connection just closes), and so on alternately.
const CLEAN_THEN_RAGGED: &str = r#"
import socket, ssl, sys
chain, key, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(chain, key)
srv = socket.create_server(("127.0.0.1", port))
served = 0
while True:
    raw, _ = srv.accept()
    try:
        conn = ctx.wrap_socket(raw, server_side=True)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                raise EOFError("no request")
            request += chunk
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        if served % 2 == 0:
            conn.unwrap().close()
            print("closed with close_notify", flush=True)
        else:
            conn.close()
            print("closed without close_notify", flush=True)
        served += 1
    except Exception as e:
        print("connection failed:", e, flush=True)
"#;

#[test]
fn close_notify_and_ragged_eof_reach_the_program() {
    let files = Files::new("wasi-tls-p3-eof");
    let (server, port) = python_tls_server(CLEAN_THEN_RAGGED, &files, "CPython ssl server");
    let port = port.to_string();
    let args = ["127.0.0.1", port.as_str(), "localhost", "1"];
    let policy = trusting(&files, "ca");
    let mut checks = Checks::default();
    let mut both = |what: &str, run: &mut dyn FnMut() -> (i32, String, String)| {
        let clean = run();
        checks.check(
            fetched(&clean, "clean"),
            format!("{what}: the server's close_notify ends receiving cleanly"),
        );
        let ragged = run();
        checks.check(
            fetched(&ragged, "ragged") && ragged.2.contains("receive ended:"),
            format!("{what}: a close without close_notify ends receiving with an error"),
        );
        println!("{what}, ragged: {}", ragged.2.trim());
    };
    for provider in memtls_test_harness::PROVIDERS {
        both(&format!("memtls run --tls {provider}"), &mut || {
            program().run(provider, &policy, &files, &args)
        });
    }
    let bytes = composed(&policy);
    both("composed, plain host", &mut || {
        run_p3(&bytes, &args, P3Tls::None).expect("no trap")
    });
    let ca = std::fs::read_to_string(files.path("ca")).unwrap();
    both("wasmtime-wasi-tls (p3)", &mut || {
        run_p3(wasi_tls_p3_client_component(), &args, P3Tls::Wasmtime(&ca)).expect("no trap")
    });
    if checks.failed() > 0 {
        eprintln!("the server said: {}", server.text());
    }
    checks.finish();
}

//! A real browser against a memtls server in Wasm: headless Chromium (its
//! BoringSSL offers X25519MLKEM768 first, with an X25519 share beside it)
//! fetches a page from the echo server example in `--http` mode, on the
//! native and the guest provider. Both sides are read: the page Chromium
//! received names the group the server negotiated, and the server's own
//! report says the same. A server that accepts only the hybrid (requires
//! post-quantum key exchange) still serves Chromium; a server offering only
//! X25519 shows that Chromium falls back without trouble.

use std::process::Command;

use memtls_host::Provider;
use memtls_test_harness::peers::*;

/// Chromium's view of `url`: the DOM it rendered (`--dump-dom`).
fn chromium_page(url: &str, profile: &std::path::Path) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            // The server's certificate comes from the test's own CA.
            "--ignore-certificate-errors",
            "--timeout=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn chromium_negotiates_x25519mlkem768_with_memtls_servers() {
    require("chromium", "chromium");
    let (files, mut checks) = (Files::new("chromium"), Checks::default());
    let profile = std::env::temp_dir().join(format!("memtls-chromium-{}", std::process::id()));
    for provider in [Provider::Native, Provider::Guest] {
        for (groups, expected) in [
            (None, "X25519MLKEM768"),
            (Some("X25519MLKEM768"), "X25519MLKEM768"),
            (Some("x25519"), "x25519"),
        ] {
            let mut extra = vec!["--http"];
            if let Some(groups) = groups {
                extra.extend(["--groups", groups]);
            }
            // Chromium may open a second connection (a speculative one, or
            // for the favicon): the server keeps serving until the end.
            let server = EchoServer::start(provider, &files, &extra, 1000);
            let page = chromium_page(&format!("https://127.0.0.1:{}/", server.port), &profile);
            let log = server.log();
            let label = format!("{provider} --groups {}", groups.unwrap_or("(default)"));
            checks.check(
                page.contains("memtls TLSv1.3 ") && page.contains(expected),
                format!("chromium {label}: the page names {expected}"),
            );
            let reported = memtls_report::all(memtls_report::Tag::Accepted, &log)
                .into_iter()
                .filter_map(|r| r.text("group"))
                .collect::<Vec<_>>();
            checks.check(
                !reported.is_empty() && reported.iter().all(|g| g == expected),
                format!("chromium {label}: the server reports {expected} ({reported:?})"),
            );
            if checks.failed() > 0 {
                println!("page: {page}\nserver: {log}");
            }
            drop(server);
        }
    }
    let _ = std::fs::remove_dir_all(&profile);
    checks.finish();
}

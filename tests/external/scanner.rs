//! Scanner check: sslyze (PyPI) against `tls-echo-server` served on each
//! provider. Only TLS 1.2 and 1.3 may be accepted, only AEAD suites, only
//! strong groups, and no vulnerability may be flagged.

use std::process::Command;

use memtls_test_harness::peers::{Checks, EchoServer, Files, require_module};
use serde_json::Value;

fn accepted(result: &Value, command: &str) -> Vec<String> {
    result[command]["result"]["accepted_cipher_suites"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["cipher_suite"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sslyze_finds_only_modern_tls() {
    require_module("sslyze", "sslyze");
    let files = Files::new("sslyze");
    let mut checks = Checks::default();
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        // Serves for as long as the test runs (sslyze's connections are many).
        let server = EchoServer::start(provider, &files, &[], u64::MAX as usize);
        let port = server.port;
        let json = files.dir.join(format!("sslyze-{provider}.json"));
        let out = Command::new("python3")
            .args([
                "-m",
                "sslyze",
                "--slow_connection",
                &format!("--json_out={}", json.display()),
            ])
            .arg(format!("localhost:{port}{{127.0.0.1}}"))
            .output()
            .expect("run sslyze");
        let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap_or_default())
            .unwrap_or_else(|e| {
                panic!(
                    "sslyze gave no JSON ({e}): {}",
                    String::from_utf8_lossy(&out.stdout)
                )
            });
        let scan = &report["server_scan_results"][0];
        assert_eq!(scan["scan_status"], "COMPLETED", "{}", scan);
        let r = &scan["scan_result"];
        let mut check =
            |ok: bool, what: String| checks.check(ok, format!("sslyze {provider}: {what}"));
        for old in [
            "ssl_2_0_cipher_suites",
            "ssl_3_0_cipher_suites",
            "tls_1_0_cipher_suites",
            "tls_1_1_cipher_suites",
        ] {
            let a = accepted(r, old);
            check(a.is_empty(), format!("{old}: none accepted {a:?}"));
        }
        for modern in ["tls_1_2_cipher_suites", "tls_1_3_cipher_suites"] {
            let a = accepted(r, modern);
            let aead = a
                .iter()
                .all(|n| n.contains("GCM") || n.contains("CHACHA20"));
            check(!a.is_empty() && aead, format!("{modern}: only AEAD {a:?}"));
        }
        let groups: Vec<String> = r["elliptic_curves"]["result"]["supported_curves"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let strong = [
            "X25519",
            "X448",
            "secp256r1",
            "prime256v1",
            "secp384r1",
            "secp521r1",
        ];
        check(
            !groups.is_empty() && groups.iter().all(|g| strong.contains(&g.as_str())),
            format!("groups {groups:?}"),
        );
        check(
            r["heartbleed"]["result"]["is_vulnerable_to_heartbleed"] == false,
            "heartbleed".into(),
        );
        check(
            r["openssl_ccs_injection"]["result"]["is_vulnerable_to_ccs_injection"] == false,
            "CCS injection".into(),
        );
        check(
            r["tls_compression"]["result"]["supports_compression"] == false,
            "compression (CRIME)".into(),
        );
        let robot = r["robot"]["result"]["robot_result"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        check(
            robot.starts_with("NOT_VULNERABLE"),
            format!("ROBOT {robot}"),
        );
        check(
            r["session_renegotiation"]["result"]["is_vulnerable_to_client_renegotiation_dos"]
                == false
                && r["session_renegotiation"]["result"]["supports_secure_renegotiation"]
                    != Value::Null,
            "renegotiation".into(),
        );
        check(
            r["tls_fallback_scsv"]["result"]["supports_fallback_scsv"] != Value::Null,
            "fallback SCSV scanned".into(),
        );
    }
    checks.finish();
}

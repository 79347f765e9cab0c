//! Scanner check: sslyze (PyPI) against `tls-echo-server` run by `memtls run` on
//! each provider. Only TLS 1.2 and 1.3 may be accepted, only AEAD suites, only
//! strong groups, and no vulnerability may be flagged.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    let has_sslyze = Command::new("python3")
        .args(["-c", "import sslyze"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_sslyze,
        "sslyze is not installed (pip install sslyze); `cargo xtask setup` installs it"
    );
    let certs = memtls_cli::demo::DemoCerts::generate().unwrap();
    let dir = std::env::temp_dir().join(format!("memtls-sslyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("chain.pem"), &certs.chain_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &certs.key_pem).unwrap();
    std::fs::write(
        dir.join("echo.wasm"),
        memtls_cli::examples::tls_echo_server(),
    )
    .unwrap();
    let mut failures = Vec::new();
    for provider in ["native", "guest"] {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let dir_arg = format!("{}::/f", dir.display());
        let echo = dir.join("echo.wasm").display().to_string();
        let _server = Killed(
            Command::new(env!("CARGO_BIN_EXE_memtls"))
                .args([
                    "run",
                    "--tls",
                    provider,
                    "--dir",
                    &dir_arg,
                    "-S",
                    "inherit-network",
                    &echo,
                    "--cert",
                    "/f/chain.pem",
                    "--key",
                    "/f/key.pem",
                    "--listen",
                    &listen,
                ])
                .stdout(Stdio::null())
                .spawn()
                .expect("start memtls run"),
        );
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "echo server did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let json = dir.join(format!("sslyze-{provider}.json"));
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
        let mut check = |ok: bool, what: String| {
            println!(
                "sslyze {provider:<6} {what:<70} {}",
                if ok { "ok" } else { "FAIL" }
            );
            if !ok {
                failures.push(format!("{provider}: {what}"));
            }
        };
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
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "failed: {failures:?}");
}

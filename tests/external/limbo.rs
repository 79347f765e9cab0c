//! x509-limbo: every SERVER case of `shared/testdata/x509-limbo/limbo.json`
//! through the engine's verifier natively and through both providers, twice:
//! with the case's trusted certificates as anchors, and with its peer
//! certificate pinned (limbo's chains as pin cases: a pin accepts exactly the
//! end-entity certificate, then checks its name and validity).
//!
//! The three results must agree on every case in both modes. The openssl
//! provider (OpenSSL's verifier) runs every case too: with anchors against
//! limbo's expected result, pinned against the rustls providers' result; where
//! it decides otherwise the case must be listed, with a reason, in
//! `limbo-openssl-divergences.txt` (and every listed case must still differ). With anchors,
//! cases whose result differs from limbo's expected one must be listed, with a
//! reason, in `limbo-divergences.txt`. In both modes the result is also compared
//! with what CPython 3.13's default client context decides for the same files:
//! `openssl verify` with the flags that context sets (`-x509_strict`,
//! `-partial_chain`, the `sslserver` purpose, security level 2 from CPython's
//! default cipher string, the host name with OpenSSL's common-name fallback);
//! a pin is OpenSSL's trusted leaf under
//! `-partial_chain`. Differences must be listed, with a reason, in
//! `limbo-cpython-differences.txt`. Every listed case must still differ. Cases
//! that need what the interface does not offer are skipped and counted, never
//! passed.

use std::process::Command;

use memtls_external_tests::{limbo_path, listed};
use memtls_host::{Policy, Provider};
use memtls_test_harness::Scenarios;
use memtls_test_harness::peers::{Files, require};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why a case cannot be run through the interface, if it cannot.
fn skip_reason(case: &Value) -> Option<&'static str> {
    if case["validation_kind"] != "SERVER" {
        return Some("client validation");
    }
    if case["crls"].as_array().is_some_and(|a| !a.is_empty()) {
        return Some("CRLs are not part of the interface");
    }
    if !case["max_chain_depth"].is_null() {
        return Some("a maximum chain depth is not configurable");
    }
    if case["expected_peer_name"].is_null() {
        return Some("no peer name to verify");
    }
    if case["key_usage"].as_array().is_some_and(|a| !a.is_empty()) {
        return Some("custom key usages are not configurable");
    }
    let eku = case["extended_key_usage"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !(eku.is_empty() || eku == [Value::from("serverAuth")]) {
        return Some("custom extended key usages are not configurable");
    }
    None
}

fn pems(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|p| p.as_str().unwrap_or_default().as_bytes().to_vec())
                .collect()
        })
        .unwrap_or_default()
}

/// "ok" or the error kind (without the message).
fn outcome(r: &Result<(), String>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => e.split_whitespace().next().unwrap_or_default().to_string(),
    }
}

/// The two ways a case's trust is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The case's trusted certificates as anchors.
    Anchors,
    /// The case's peer certificate pinned, nothing else trusted.
    Pinned,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Anchors => "anchors",
            Mode::Pinned => "pinned",
        }
    }
}

/// A runnable case, read from limbo.json.
struct Case {
    id: String,
    trusted: Vec<Vec<u8>>,
    peer: Vec<u8>,
    intermediates: Vec<Vec<u8>>,
    name: String,
    name_is_ip: bool,
    time: Option<u64>,
    expected_ok: bool,
}

impl Case {
    fn read(case: &Value) -> Self {
        let name = &case["expected_peer_name"];
        Self {
            id: case["id"].as_str().unwrap_or("?").to_string(),
            trusted: pems(&case["trusted_certs"]),
            peer: case["peer_certificate"]
                .as_str()
                .unwrap_or_default()
                .as_bytes()
                .to_vec(),
            intermediates: pems(&case["untrusted_intermediates"]),
            name: name["value"].as_str().unwrap_or_default().to_string(),
            name_is_ip: name["kind"] == "IP",
            time: case["validation_time"].as_str().map(|t| {
                OffsetDateTime::parse(t, &Rfc3339)
                    .expect("validation_time")
                    .unix_timestamp() as u64
            }),
            expected_ok: case["expected_result"] == "SUCCESS",
        }
    }

    fn chain(&self) -> Vec<Vec<u8>> {
        std::iter::once(self.peer.clone())
            .chain(self.intermediates.iter().cloned())
            .collect()
    }

    fn trust(&self, mode: Mode) -> memtls_engine::TrustStore {
        let (anchors, pinned) = match mode {
            Mode::Anchors => (self.trusted.clone(), vec![]),
            Mode::Pinned => (vec![], vec![self.peer.clone()]),
        };
        memtls_engine::TrustStore {
            system: false,
            anchors,
            pinned,
        }
    }

    /// Whether `openssl verify`, configured as CPython 3.13's default client
    /// context configures OpenSSL, accepts the case in `mode`.
    fn cpython_accepts(&self, mode: Mode, dir: &Files) -> bool {
        let trusted = match mode {
            Mode::Anchors => self.trusted.concat(),
            Mode::Pinned => self.peer.clone(),
        };
        std::fs::write(dir.dir.join("trusted.pem"), trusted).unwrap();
        std::fs::write(dir.dir.join("leaf.pem"), &self.peer).unwrap();
        std::fs::write(dir.dir.join("untrusted.pem"), self.intermediates.concat()).unwrap();
        let mut openssl = Command::new("openssl");
        openssl
            .current_dir(&dir.dir)
            .args([
                "verify",
                "-no-CApath",
                "-no-CAstore",
                "-CAfile",
                "trusted.pem",
            ])
            .args(["-x509_strict", "-partial_chain", "-purpose", "sslserver"])
            .args(["-auth_level", "2"]);
        if !self.intermediates.is_empty() {
            openssl.args(["-untrusted", "untrusted.pem"]);
        }
        let name_option = if self.name_is_ip {
            "-verify_ip"
        } else {
            "-verify_hostname"
        };
        openssl.args([name_option, &self.name]);
        if let Some(t) = self.time {
            openssl.args(["-attime", &t.to_string()]);
        }
        let out = openssl.arg("leaf.pem").output().expect("openssl verify");
        out.status.success()
    }
}

#[test]
fn limbo() {
    require("openssl", "openssl");
    let data: Value =
        serde_json::from_str(&std::fs::read_to_string(limbo_path()).expect("read limbo.json"))
            .expect("parse limbo.json");
    let cases = data["testcases"].as_array().expect("testcases");
    let native = memtls_host::native_engine(&Policy::default()).expect("native engine");
    let admission = memtls_engine::Admission::new(Policy::default());
    let mut verifiers: Vec<_> = memtls_test_harness::RUSTLS_PROVIDERS
        .iter()
        .map(|p| {
            let s = Scenarios::load(*p, Policy::default()).expect("load scenarios");
            (*p, s.verifier().expect("verifier instance"))
        })
        .collect();
    // The openssl provider: OpenSSL's own verifier, held to its own list.
    let mut openssl_verifier = Scenarios::load(Provider::OpenSsl, Policy::default())
        .expect("load scenarios on openssl")
        .verifier()
        .expect("verifier instance");
    let openssl_listed = listed(include_str!("limbo-openssl-divergences.txt"), 2);
    let mut seen_openssl = Vec::new();
    let divergences = listed(include_str!("limbo-divergences.txt"), 1);
    let differences = listed(include_str!("limbo-cpython-differences.txt"), 2);
    let scratch = Files::scratch("limbo");
    let (mut passed, mut diverged, mut skipped, mut differed) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    let mut seen_divergent = Vec::new();
    let mut seen_different = Vec::new();
    for raw in cases {
        if raw["validation_kind"] != "SERVER" {
            continue;
        }
        let case = Case::read(raw);
        let id = case.id.clone();
        if let Some(why) = skip_reason(raw) {
            println!("limbo {id:<60} SKIP  {why}");
            skipped += 1;
            continue;
        }
        let chain = case.chain();
        for mode in [Mode::Anchors, Mode::Pinned] {
            let trust = case.trust(mode);
            let engine_result = native
                .verify_server_chain(
                    &memtls_engine::ChainCheck {
                        trust: &trust,
                        chain: &chain,
                        server_name: &case.name,
                        at_time: case.time,
                    },
                    &admission,
                )
                .map_err(|e| format!("{} {}", e.kind, e.message));
            let mut outcomes = vec![("engine".to_string(), outcome(&engine_result))];
            for (provider, verifier) in &mut verifiers {
                let r = verifier
                    .verify(&trust, &chain, &case.name, case.time)
                    .expect("verify call must not trap")
                    .map_err(|e| format!("{} {}", e.kind, e.message));
                outcomes.push((provider.to_string(), outcome(&r)));
            }
            if outcomes.iter().any(|(_, o)| *o != outcomes[0].1) {
                problems.push(format!(
                    "{} {id}: results disagree: {outcomes:?}",
                    mode.name()
                ));
            }
            let got_ok = engine_result.is_ok();

            // The openssl provider, against limbo's expectation (anchors) or
            // the rustls providers' result (pinned: limbo has no expectation).
            let key = format!("{} {id}", mode.name());
            let openssl = openssl_verifier
                .verify(&trust, &chain, &case.name, case.time)
                .expect("verify call must not trap")
                .map_err(|e| format!("{} {}", e.kind, e.message));
            let reference = match mode {
                Mode::Anchors => case.expected_ok,
                Mode::Pinned => got_ok,
            };
            if openssl.is_ok() != reference {
                seen_openssl.push(key.clone());
                let detail = openssl.as_ref().err().map_or("accepted", |e| e.as_str());
                println!("limbo {key:<68} OPENSSL DIVERGES: {detail}");
                if !openssl_listed.contains_key(&key) {
                    problems.push(format!(
                        "{key}: the openssl provider {detail} (expected {}); not in \
                         limbo-openssl-divergences.txt",
                        if reference { "acceptance" } else { "a refusal" }
                    ));
                }
            }
            let detail = engine_result.err().unwrap_or_else(|| "accepted".into());

            // CPython with OpenSSL, for the same files.
            let key = format!("{} {id}", mode.name());
            let cpython_ok = case.cpython_accepts(mode, &scratch);
            if cpython_ok != got_ok {
                differed += 1;
                seen_different.push(key.clone());
                println!(
                    "limbo {key:<68} DIFFERS from CPython ({}): memtls {detail}",
                    if cpython_ok { "accepts" } else { "refuses" }
                );
                if !differences.contains_key(&key) {
                    problems.push(format!(
                        "{key}: CPython {} but memtls {detail}; not in limbo-cpython-differences.txt",
                        if cpython_ok { "accepts" } else { "refuses" }
                    ));
                }
            } else if differences.contains_key(&key) {
                problems.push(format!(
                    "{key}: listed in limbo-cpython-differences.txt but now agrees with CPython"
                ));
            }
            if mode == Mode::Pinned {
                continue;
            }

            // limbo's own expectation.
            if case.expected_ok == got_ok {
                println!("limbo {id:<60} PASS  {}", outcomes[0].1);
                passed += 1;
                if divergences.contains_key(&id) {
                    problems.push(format!(
                        "{id}: listed as divergent but now agrees with the expected result"
                    ));
                }
            } else {
                println!(
                    "limbo {id:<60} DIVERGE expected {} got {detail}",
                    raw["expected_result"].as_str().unwrap_or("?")
                );
                diverged += 1;
                seen_divergent.push(id.clone());
                if !divergences.contains_key(&id) {
                    problems.push(format!(
                        "{id}: diverges (expected {}, got {detail}) but is not in limbo-divergences.txt",
                        raw["expected_result"]
                    ));
                }
            }
        }
    }
    for id in divergences.keys() {
        if !seen_divergent.contains(id) && !cases.iter().any(|c| c["id"] == id.as_str()) {
            problems.push(format!(
                "{id}: listed in limbo-divergences.txt but not a case"
            ));
        }
    }
    for key in openssl_listed.keys() {
        if !seen_openssl.contains(key) {
            problems.push(format!(
                "{key}: listed in limbo-openssl-divergences.txt but the openssl provider agrees"
            ));
        }
    }
    for key in differences.keys() {
        if !seen_different.contains(key) {
            problems.push(format!(
                "{key}: listed in limbo-cpython-differences.txt but does not differ"
            ));
        }
    }
    println!(
        "limbo: the openssl provider diverges on {} case-modes (listed with reasons)",
        seen_openssl.len()
    );
    println!(
        "limbo: {passed} pass, {diverged} divergences (listed with reasons), {skipped} skipped; \
         {differed} differences from CPython's default context in anchors and pinned modes \
         (listed with reasons)"
    );
    assert!(problems.is_empty(), "problems:\n{}", problems.join("\n"));
    assert!(passed > 100, "too few cases ran: {passed}");
}

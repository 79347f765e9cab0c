//! x509-limbo: every SERVER case of `shared/testdata/x509-limbo/limbo.json`
//! through the engine's verifier natively and through both providers.
//!
//! The three results must agree on every case. Cases whose result differs from
//! the expected one must be listed, with a reason, in `limbo-divergences.txt`
//! next to this file, and every listed case must still diverge. Cases that need
//! what the interface does not offer are skipped and counted, never passed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use memtls_host::{Policy, Provider};
use memtls_tests::Scenarios;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn limbo_path() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("MEMTLS_LIMBO").map(PathBuf::from),
        Some(manifest.join("../../shared/testdata/x509-limbo/limbo.json")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .expect("limbo.json not found: set MEMTLS_LIMBO or keep ../shared next to the checkout")
}

fn divergences() -> BTreeMap<String, String> {
    let text = include_str!("limbo-divergences.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (id, why) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            assert!(!why.trim().is_empty(), "divergence {id} has no reason");
            (id.to_string(), why.trim().to_string())
        })
        .collect()
}

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

#[test]
fn limbo() {
    let data: Value =
        serde_json::from_str(&std::fs::read_to_string(limbo_path()).expect("read limbo.json"))
            .expect("parse limbo.json");
    let cases = data["testcases"].as_array().expect("testcases");
    let native = memtls_host::native_engine(&Policy::default()).expect("native engine");
    let admission = memtls_engine::Admission::new(Policy::default());
    let mut verifiers: Vec<_> = Provider::ALL
        .iter()
        .map(|p| {
            let s = Scenarios::load(*p, Policy::default()).expect("load scenarios");
            (*p, s.verifier().expect("verifier instance"))
        })
        .collect();
    let listed = divergences();
    let (mut passed, mut diverged, mut skipped) = (0, 0, 0);
    let mut problems = Vec::new();
    let mut seen_divergent = Vec::new();
    for case in cases {
        let id = case["id"].as_str().unwrap_or("?").to_string();
        if case["validation_kind"] != "SERVER" {
            continue;
        }
        if let Some(why) = skip_reason(case) {
            println!("limbo {id:<60} SKIP  {why}");
            skipped += 1;
            continue;
        }
        let anchors = pems(&case["trusted_certs"]);
        let mut chain = vec![
            case["peer_certificate"]
                .as_str()
                .unwrap_or_default()
                .as_bytes()
                .to_vec(),
        ];
        chain.extend(pems(&case["untrusted_intermediates"]));
        let name = case["expected_peer_name"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let time = case["validation_time"].as_str().map(|t| {
            OffsetDateTime::parse(t, &Rfc3339)
                .expect("validation_time")
                .unix_timestamp() as u64
        });
        let trust = memtls_engine::TrustStore {
            system: false,
            anchors: anchors.clone(),
            pinned: vec![],
        };
        let engine_result = native
            .verify_server_chain(&trust, &chain, &name, time, &admission)
            .map_err(|e| format!("{} {}", e.kind, e.message));
        let mut outcomes = vec![("engine".to_string(), outcome(&engine_result))];
        for (provider, verifier) in &mut verifiers {
            let r = verifier
                .verify(anchors.clone(), chain.clone(), &name, time)
                .expect("verify call must not trap");
            outcomes.push((provider.to_string(), outcome(&r)));
        }
        if outcomes.iter().any(|(_, o)| *o != outcomes[0].1) {
            problems.push(format!("{id}: results disagree: {outcomes:?}"));
        }
        let expected_ok = case["expected_result"] == "SUCCESS";
        let got_ok = engine_result.is_ok();
        if expected_ok == got_ok {
            println!("limbo {id:<60} PASS  {}", outcomes[0].1);
            passed += 1;
            if listed.contains_key(&id) {
                problems.push(format!(
                    "{id}: listed as divergent but now agrees with the expected result"
                ));
            }
        } else {
            let detail = engine_result.err().unwrap_or_else(|| "accepted".into());
            println!(
                "limbo {id:<60} DIVERGE expected {} got {detail}",
                case["expected_result"].as_str().unwrap_or("?")
            );
            diverged += 1;
            seen_divergent.push(id.clone());
            if !listed.contains_key(&id) {
                problems.push(format!(
                    "{id}: diverges (expected {}, got {detail}) but is not in limbo-divergences.txt",
                    case["expected_result"]
                ));
            }
        }
    }
    for id in listed.keys() {
        if !seen_divergent.contains(id) && !cases.iter().any(|c| c["id"] == id.as_str()) {
            problems.push(format!(
                "{id}: listed in limbo-divergences.txt but not a case"
            ));
        }
    }
    println!(
        "limbo: {passed} pass, {diverged} divergences (listed with reasons), {skipped} skipped"
    );
    assert!(problems.is_empty(), "problems:\n{}", problems.join("\n"));
    assert!(passed > 100, "too few cases ran: {passed}");
}

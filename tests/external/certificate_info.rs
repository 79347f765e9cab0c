//! `decode-certificate` (the engine's `certificate_info`, behind Python's
//! `getpeercert()` on every provider) against CPython's own reading of the same
//! files: `_ssl._test_decode_cert` (OpenSSL underneath) and OpenSSL's CA count.
//!
//! The certificates come from where users get them and from where the odd
//! ones live: the `openssl` CLI (rich names and alternative names, BMPStrings,
//! multi-valued RDNs, a 40-octet negative serial, a version 1 certificate, the
//! CA flag and key usage combinations OpenSSL counts) and every certificate in
//! x509-limbo. A certificate on which the two readings differ must be listed
//! in `certificate-info-differences.txt` with the reason; a listed one that no
//! longer differs fails too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use memtls_engine::{AltNameValue, CertificateInfo, DistinguishedName, NameValue};
use memtls_external_tests::{limbo_path, listed};
use memtls_test_harness::peers::{Files, openssl, require, self_signed_rsa};
use serde_json::{Value, json};

/// The openssl configuration the generated certificates use.
const CONFIG: &str = "[req]
distinguished_name = dn
prompt = no
string_mask = MASK
[dn]
DN
[ext]
EXT
[dir_sect]
CN = Directory Name
O = Dir Org
";

/// `openssl req` (`-x509` self-signed or `-new` a request) with a new P-256
/// key `<name>.key`, writing `<name>.<out>`, and `rest` after.
fn req(files: &Files, mode: &str, name: &str, out: &str, rest: &[&str]) {
    let (key, out) = (format!("{name}.key"), format!("{name}.{out}"));
    let mut args = vec![
        "req",
        mode,
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &out,
    ];
    args.extend_from_slice(rest);
    openssl(files, &args);
}

/// A self-signed P-256 certificate made from a configuration: subject `dn`,
/// extensions `ext`, string mask `mask`.
fn make(files: &Files, name: &str, dn: &str, ext: &str, extra: &[&str], mask: &str) {
    let config = CONFIG
        .replace("MASK", mask)
        .replace("DN", dn)
        .replace("EXT", ext);
    let cnf = format!("{name}.cnf");
    std::fs::write(files.dir.join(&cnf), config).unwrap();
    let mut rest = vec!["-utf8", "-config", &cnf, "-extensions", "ext"];
    rest.extend_from_slice(extra);
    req(files, "-x509", name, "pem", &rest);
}

/// Certificates made with the openssl CLI, as `(key, PEM path)`.
fn generated(files: &Files) -> Vec<(String, PathBuf)> {
    make(
        files,
        "rich",
        "C = DE\nO = Zürich AG\nOU = Ωmega\nCN = rich.test\nemailAddress = a@rich.test\n\
         1.2.3.4 = custom",
        "subjectAltName = DNS:rich.test, DNS:*.rich.test, IP:192.0.2.7, IP:2001:db8::1:0:7, \
         IP:::1, email:a@rich.test, URI:https://rich.test/x, RID:1.2.3.4, dirName:dir_sect, \
         otherName:1.3.6.1.4.1.311.20.2.3;UTF8:upn@rich.test, otherName:1.2.3;UTF8:x\n\
         authorityInfoAccess = OCSP;URI:http://ocsp.rich.test/, caIssuers;URI:http://ca.test/c\n\
         crlDistributionPoints = URI:http://crl.rich.test/a.crl, URI:ldap://crl.test/cn=x",
        &[],
        "utf8only",
    );
    let serial = format!("-0x{}", "ab".repeat(40));
    make(
        files,
        "bmp",
        "CN = Żółw 名\nO = plain",
        "basicConstraints = CA:TRUE",
        &["-days", "20000", "-set_serial", &serial],
        "default",
    );
    req(
        files,
        "-x509",
        "mv",
        "pem",
        &[
            "-subj",
            "/DC=test/DC=memtls/CN=a+O=b+UID=c",
            "-multivalue-rdn",
            "-set_serial",
            "0",
        ],
    );
    make(
        files,
        "ca",
        "CN = Test CA",
        "basicConstraints = critical, CA:TRUE",
        &[],
        "utf8only",
    );
    req(files, "-new", "leaf", "csr", &["-subj", "/CN=leaf"]);
    // No extensions: a version 1 certificate.
    openssl(
        files,
        &[
            "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-out",
            "v1.pem", "-days", "3",
        ],
    );
    let usages = [
        ("ca-true", "basicConstraints = critical, CA:TRUE"),
        ("ca-false", "basicConstraints = critical, CA:FALSE"),
        ("no-extensions", "subjectKeyIdentifier = hash"),
        ("ku-certsign", "keyUsage = keyCertSign, cRLSign"),
        ("ku-signature", "keyUsage = digitalSignature"),
        (
            "ca-without-certsign",
            "basicConstraints = CA:TRUE\nkeyUsage = digitalSignature",
        ),
    ];
    for (name, ext) in usages {
        make(files, name, &format!("CN = {name}"), ext, &[], "utf8only");
    }
    // The openssl CLI's defaults: CA:TRUE, self-signed.
    self_signed_rsa(files, ("default.key", "default.pem"), "/CN=default", &[]);
    let mut names = vec!["rich", "bmp", "mv", "ca", "v1", "default"];
    names.extend(usages.iter().map(|(n, _)| *n));
    names
        .into_iter()
        .map(|n| (format!("openssl:{n}"), files.dir.join(format!("{n}.pem"))))
        .collect()
}

/// Every distinct certificate in x509-limbo, as `(key, PEM path)`: the key is
/// the first case it appears in and its role there.
fn from_limbo(files: &Files) -> Vec<(String, PathBuf)> {
    let path = limbo_path();
    let limbo: Value = serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for case in limbo["testcases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let roles = [
            ("peer", vec![case["peer_certificate"].clone()]),
            (
                "intermediate",
                case["untrusted_intermediates"].as_array().unwrap().clone(),
            ),
            ("trusted", case["trusted_certs"].as_array().unwrap().clone()),
        ];
        for (role, pems) in roles {
            for (i, pem) in pems.iter().enumerate() {
                let Some(pem) = pem.as_str() else { continue };
                if !seen.insert(pem.to_string()) {
                    continue;
                }
                let file = files.dir.join(format!("limbo-{}.pem", out.len()));
                std::fs::write(&file, pem).unwrap();
                out.push((format!("{id} {role}[{i}]"), file));
            }
        }
    }
    out
}

fn name_json(name: &DistinguishedName) -> Value {
    name.iter()
        .map(|rdn| {
            rdn.iter()
                .map(|a| {
                    let value = match &a.value {
                        NameValue::Text(t) => json!(t),
                        NameValue::Bits(b) => json!({ "bytes": hex(b) }),
                    };
                    json!([a.name, value])
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The dict `getpeercert()` builds from `info` (python/memtls/_core.py), as
/// the CPython side prints it.
fn as_cpython_shows(info: &CertificateInfo) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("subject".into(), name_json(&info.subject));
    out.insert("issuer".into(), name_json(&info.issuer));
    out.insert("version".into(), json!(info.version));
    out.insert("serialNumber".into(), json!(info.serial_number));
    out.insert("notBefore".into(), json!(info.not_before));
    out.insert("notAfter".into(), json!(info.not_after));
    if let Some(names) = &info.subject_alt_names {
        let names: Vec<Value> = names
            .iter()
            .map(|n| match &n.value {
                AltNameValue::Text(t) => json!([n.kind, t]),
                AltNameValue::Directory(d) => json!([n.kind, name_json(d)]),
            })
            .collect();
        out.insert("subjectAltName".into(), json!(names));
    }
    for (key, uris) in [
        ("OCSP", &info.ocsp),
        ("caIssuers", &info.ca_issuers),
        ("crlDistributionPoints", &info.crl_distribution_points),
    ] {
        if !uris.is_empty() {
            out.insert(key.into(), json!(uris));
        }
    }
    Value::Object(out)
}

/// The DER of the first certificate in a PEM file.
fn first_der(path: &PathBuf) -> Option<Vec<u8>> {
    let pem = std::fs::read(path).unwrap();
    let item = rustls::pki_types::pem::PemObject::from_pem_slice(&pem).ok()?;
    let item: rustls::pki_types::CertificateDer<'static> = item;
    Some(item.to_vec())
}

#[test]
fn certificate_info_reads_certificates_as_cpython_does() {
    require("openssl", "openssl");
    let files = Files::scratch("certificate-info");
    let mut certificates = generated(&files);
    let generated_count = certificates.len();
    certificates.extend(from_limbo(&files));
    let list = files.dir.join("paths.json");
    let paths: Vec<String> = certificates
        .iter()
        .map(|(_, p)| p.display().to_string())
        .collect();
    std::fs::write(&list, serde_json::to_vec(&paths).unwrap()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certificate_info.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&list)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cpython: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();

    let listed = listed(include_str!("certificate-info-differences.txt"), 2);
    let (mut same, mut differ, mut problems) = (0, BTreeMap::new(), Vec::new());
    for (key, path) in &certificates {
        let theirs = &cpython[&path.display().to_string()];
        let ours = first_der(path).map(|der| memtls_engine::certificate_info(&der));
        let (mine, ca) = match &ours {
            Some(Ok(info)) => (Ok(as_cpython_shows(info)), Some(info.is_ca)),
            Some(Err(e)) => (Err(e.message.clone()), None),
            None => (Err("not PEM".to_string()), None),
        };
        let why = match (&mine, theirs.get("decoded")) {
            (Ok(mine), Some(theirs)) if mine != theirs => Some(format!(
                "fields differ:\n  memtls:  {mine}\n  CPython: {theirs}"
            )),
            (Ok(_), None) => Some(format!("memtls reads it, CPython: {}", theirs["error"])),
            (Err(e), Some(_)) => Some(format!("CPython reads it, memtls: {e}")),
            _ => match (ca, theirs["ca"].as_bool()) {
                (Some(a), Some(b)) if a != b => {
                    Some(format!("memtls counts it a CA: {a}; OpenSSL: {b}"))
                }
                _ => None,
            },
        };
        match why {
            None => {
                same += 1;
                if listed.contains_key(key) {
                    problems.push(format!("{key}: listed but now read as CPython reads it"));
                }
            }
            Some(why) => {
                if !listed.contains_key(key) {
                    problems.push(format!("{key}: {why}"));
                }
                differ.insert(key.clone(), why);
            }
        }
        // Every error is a sentence, never a debug form.
        if let Some(Err(e)) = &ours {
            for debug in ["Error(", "Tag(", "Some("] {
                assert!(!e.message.contains(debug), "{key}: {}", e.message);
            }
        }
    }
    for key in listed.keys() {
        if !certificates.iter().any(|(k, _)| k == key) {
            problems.push(format!("{key}: listed but no such certificate"));
        }
    }
    println!(
        "certificate-info: {} certificates ({generated_count} from the openssl CLI, the \
         rest from x509-limbo): {same} read as CPython reads them, {} differ as listed",
        certificates.len(),
        differ.len()
    );
    assert!(
        problems.is_empty(),
        "{} unexpected:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The generated ones must all agree: they are what users have.
    for (key, _) in &certificates[..generated_count] {
        assert!(!differ.contains_key(key), "{key}: {}", differ[key]);
    }
}

/// What is not one DER certificate is refused with a sentence.
#[test]
fn what_is_not_a_certificate_is_refused_with_a_sentence() {
    require("openssl", "openssl");
    let files = Files::scratch("certificate-info-bad");
    make(
        &files,
        "bad",
        "CN = bad",
        "subjectAltName = DNS:bad.test",
        &[],
        "utf8only",
    );
    let der = first_der(&files.dir.join("bad.pem")).unwrap();
    let mut trailing = der.clone();
    trailing.push(0);
    for (what, bytes) in [
        ("cut by one byte", der[..der.len() - 1].to_vec()),
        ("cut to 40 bytes", der[..40].to_vec()),
        ("a byte after it", trailing),
        ("empty", Vec::new()),
    ] {
        let e = memtls_engine::certificate_info(&bytes).expect_err(what);
        assert_eq!(e.kind, memtls_engine::ErrorKind::Configuration, "{what}");
        assert!(
            e.message.starts_with("the bytes are not") || e.message.contains("followed by"),
            "{what}: {}",
            e.message
        );
    }
    assert!(memtls_engine::certificate_info(&der).is_ok());
}

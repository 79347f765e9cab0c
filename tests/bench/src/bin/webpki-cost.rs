//! What rustls-webpki alone spends on the `loop` chain (fixtures: a leaf and
//! nine CA certificates all named CN=loop, each its own issuer, about 58 KiB),
//! without memtls's limits: the minimal reproduction for the upstream report
//! in docs/upstream/webpki-path-building.md, and the "before" figure in
//! SECURITY.md. `cargo run --release -p memtls-bench --bin webpki-cost`
//! (`-- N` for the first N intermediates only).

use std::time::Instant;

use rustls::pki_types::{CertificateDer, UnixTime};

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map_or(9, |n| n.parse().expect("a number of intermediates"));
    let f = memtls_scenario_suite::fixtures::generate().expect("fixtures");
    let chain = memtls_engine::parse_certificates(&[f["loop.chain"].clone()], "loop.chain")
        .expect("the loop chain parses");
    let anchors = memtls_engine::parse_certificates(&[f["ca"].clone()], "ca").expect("the CA");
    let anchors: Vec<_> = anchors
        .iter()
        .map(|a| {
            webpki::anchor_from_trusted_cert(a)
                .expect("an anchor")
                .to_owned()
        })
        .collect();
    let (leaf, intermediates) = chain.split_first().expect("a leaf");
    let intermediates: Vec<CertificateDer<'_>> =
        intermediates.iter().take(count).cloned().collect();
    let bytes: usize = chain.iter().take(1 + count).map(|c| c.len()).sum();
    let leaf = webpki::EndEntityCert::try_from(leaf).expect("the leaf parses");
    let started = Instant::now();
    let result = leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    println!(
        "rustls-webpki 0.103, {count} intermediates named CN=loop ({bytes} bytes in all): \
         {:?} after {:.2} s",
        result.err(),
        started.elapsed().as_secs_f64()
    );
}

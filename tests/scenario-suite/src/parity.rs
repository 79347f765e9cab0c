//! What the openssl provider may observe differently from the rustls
//! providers: the expectations the parity and hostile-guest suites hold it to.

/// Where the openssl provider observes something other than the rustls
/// providers in a parity scenario or a hostile-guest attack (its name, why):
/// OpenSSL's own choices, not defects. The parity and hostile-guest suites
/// assert that these differ and that nothing else does.
pub const OPENSSL_DIFFERENCES: &[(&str, &str)] = &[
    (
        "not-yet-valid",
        "OpenSSL answers a certificate that is not yet valid with bad_certificate (42), \
         rustls with certificate_expired (45)",
    ),
    (
        "hostile-hybrid-shares",
        "OpenSSL before 3.5 has no X25519MLKEM768: its ClientHello and ServerHello carry \
         no hybrid share to corrupt (from OpenSSL 3.5 on they do, and this is equal)",
    ),
    (
        "exporter-tls12",
        "OpenSSL's TLS 1.2 exporter takes at most 1024 bytes of label, randoms and context \
         (its PRF's seed limit), so the interface's largest label and context are refused \
         with misuse; rustls derives them",
    ),
];

/// Compares what scenario `name` observed on OpenSSL (`openssl`) and on the
/// rustls providers (`rustls`): equal, or different as [`OPENSSL_DIFFERENCES`]
/// lists (the reason is returned); anything else is the error, a sentence.
pub fn parity(
    name: &str,
    openssl: &str,
    rustls: &str,
) -> std::result::Result<Option<&'static str>, String> {
    match OPENSSL_DIFFERENCES.iter().find(|d| d.0 == name) {
        None if openssl == rustls => Ok(None),
        None => Err(format!(
            "{name}: openssl observed {openssl:?}, the rustls providers {rustls:?}"
        )),
        Some((_, why)) if openssl != rustls => Ok(Some(why)),
        Some(_) => Err(format!(
            "{name} observes the same on openssl now: take it off OPENSSL_DIFFERENCES"
        )),
    }
}

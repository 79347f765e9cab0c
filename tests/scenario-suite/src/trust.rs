//! Trust: client certificates, pins, certificate rejections, the insecure contexts.

use crate::harness::*;

pub(crate) fn mtls(f: &Fixtures, required: bool, present: bool) -> Outcome {
    let mut c = client_config(f)?;
    if present {
        c.certificate_chain = Some(chain(f, "client")?);
    }
    let mut s = server_config(f)?;
    let trust = anchors(f, "client-ca")?;
    s.client_auth = if required {
        ClientAuth::Required(trust)
    } else {
        ClientAuth::Optional(trust)
    };
    let (cc, sc) = contexts(c, s)?;
    let (client, server, mut pair) = connect(&cc, &sc, "localhost")?;
    if pair.client.is_ok() {
        // In TLS 1.3 the client finishes before the server has checked its
        // certificate: a rejection arrives with the client's first read.
        if let Err(e) = transfer(&server, &client, u32::MAX) {
            pair.client = Err(e);
        } else if let Err(e) = client.read(1) {
            pair.client = Err(e);
        }
    }
    let peer = server.peer_certificates().len();
    // The client's leaf and the client CA, which the client did not send.
    let verified = server.verified_chain().len();
    Ok(format!(
        "{} server-saw-certs={peer} server-verified={verified}",
        pair.outcome()
    ))
}

/// What mTLS with a client certificate ends in: the server saw the client's
/// leaf and verified it up to the client CA.
const CLIENT_VERIFIED: &str = "client=ok server=ok server-saw-certs=1 server-verified=2";

pub(crate) fn mtls_required(f: &Fixtures) -> Outcome {
    exactly(mtls(f, true, true)?, CLIENT_VERIFIED)
}

pub(crate) fn mtls_required_missing(f: &Fixtures) -> Outcome {
    let out = mtls(f, true, false)?;
    ensure(
        out.contains("server=certificate-rejected(no-certificate)"),
        || out.clone(),
    )?;
    ensure(out.contains("client=alert-received("), || out.clone())?;
    Ok(out)
}

pub(crate) fn mtls_optional(f: &Fixtures) -> Outcome {
    exactly(mtls(f, false, true)?, CLIENT_VERIFIED)
}

pub(crate) fn mtls_optional_missing(f: &Fixtures) -> Outcome {
    let no_certificate = "client=ok server=ok server-saw-certs=0 server-verified=0";
    exactly(mtls(f, false, false)?, no_certificate)
}

pub(crate) fn pinned(f: &Fixtures, name: &str) -> Result<Pair, String> {
    let mut c = client_config(f)?;
    c.trust = TrustStore {
        system: false,
        anchors: vec![],
        pinned: vec![fx(f, "self.chain")?.to_vec()],
    };
    let mut s = server_config(f)?;
    s.certificate_chains = vec![chain(f, "self")?];
    let (cc, sc) = contexts(c, s)?;
    Ok(connect(&cc, &sc, name)?.2)
}

pub(crate) fn pinned_self_signed(f: &Fixtures) -> Outcome {
    let out = pinned(f, "pinned.test")?.outcome();
    exactly(out, "client=ok server=ok")
}

pub(crate) fn pinned_wrong_name(f: &Fixtures) -> Outcome {
    let out = pinned(f, "other.test")?.outcome();
    exactly(
        out,
        "client=certificate-rejected(name-mismatch) server=alert-received(42)",
    )
}

pub(crate) fn rejected(f: &Fixtures, server_chain: &str, name: &str, expect: &str) -> Outcome {
    let mut s = server_config(f)?;
    s.certificate_chains = vec![chain(f, server_chain)?];
    let (cc, sc) = contexts(client_config(f)?, s)?;
    let (_c, _s, pair) = connect(&cc, &sc, name)?;
    let out = pair.outcome();
    ensure(
        out.starts_with(&format!("client=certificate-rejected({expect})")),
        || out.clone(),
    )?;
    ensure(out.contains("server=alert-received("), || out.clone())?;
    let message = pair.client.err().map(|e| e.message).unwrap_or_default();
    ensure(!message.is_empty(), || "rejection without a message".into())?;
    Ok(out)
}

pub(crate) fn expired(f: &Fixtures) -> Outcome {
    rejected(f, "expired", "localhost", "expired")
}

pub(crate) fn not_yet_valid(f: &Fixtures) -> Outcome {
    rejected(f, "notyet", "localhost", "not-yet-valid")
}

pub(crate) fn wrong_name(f: &Fixtures) -> Outcome {
    rejected(f, "server", "wrong.test", "name-mismatch")
}

pub(crate) fn unknown_issuer(f: &Fixtures) -> Outcome {
    rejected(f, "unknown", "localhost", "unknown-issuer")
}

pub(crate) fn insecure_contexts(f: &Fixtures) -> Outcome {
    let mut s = server_config(f)?;
    s.certificate_chains = vec![chain(f, "unknown")?];
    let sc = tls::server_context(&s).map_err(err)?;
    let c = client_config(f)?;
    let no_verify = tls::insecure::client_context_without_verification(&c).map_err(err)?;
    let (_c, _s, pair) = connect(&no_verify, &sc, "whatever.test")?;
    let unverified = pair.outcome();
    let no_name = tls::insecure::client_context_without_hostname_check(&c).map_err(err)?;
    let sc_good = tls::server_context(&server_config(f)?).map_err(err)?;
    let wrong = connect(&no_name, &sc_good, "wrong.test")?.2.outcome();
    let unknown = connect(&no_name, &sc, "localhost")?.2.outcome();
    // Without verification the trust store goes unused: an empty one is no
    // error (CPython's CERT_NONE context with no CA loaded); with
    // verification it is.
    let mut untrusting = c.clone();
    untrusting.trust = TrustStore {
        system: false,
        anchors: vec![],
        pinned: vec![],
    };
    let empty = tls::insecure::client_context_without_verification(&untrusting).map_err(err)?;
    let empty = connect(&empty, &sc, "whatever.test")?.2.outcome();
    ensure(empty == "client=ok server=ok", || empty.clone())?;
    let refused = match tls::insecure::client_context_without_hostname_check(&untrusting) {
        Ok(_) => return Err("an empty trust store was taken for verification".into()),
        Err(e) => kind(&e),
    };
    ensure(refused == "configuration", || refused.clone())?;
    ensure(unverified == "client=ok server=ok", || unverified.clone())?;
    ensure(wrong == "client=ok server=ok", || wrong.clone())?;
    ensure(
        unknown.starts_with("client=certificate-rejected(unknown-issuer)"),
        || unknown.clone(),
    )?;
    Ok(format!(
        "no-verification[{unverified}] no-verification-empty-trust[{empty}] \
         no-hostname-empty-trust[{refused}] no-hostname-wrong-name[{wrong}] \
         no-hostname-unknown-issuer[{unknown}]"
    ))
}

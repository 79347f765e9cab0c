//! Verification on OpenSSL as the rustls providers verify: the rules every
//! verification follows, pins, names, the policy's chain limits, and
//! `verify-server-chain`.

use foreign_types::ForeignTypeRef as _;
use memtls_engine::{ChainCheck, Error, Policy, Result};
use openssl::stack::StackRef;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509CheckFlags, X509VerifyFlags, X509VerifyParam, X509VerifyParamRef};
use openssl::x509::{
    X509, X509PurposeId, X509Ref, X509StoreContext, X509StoreContextRef, X509VerifyResult,
};

use crate::OpenSsl;
use crate::error::{self, from_stack};
use crate::session::client_state_index;

impl OpenSsl {
    /// Verifies a server chain (end-entity first) as a client context with
    /// `trust` would, for `server_name`, at `at_time` (seconds since the epoch)
    /// or now.
    pub fn verify_server_chain(&self, call: &ChainCheck<'_>) -> Result<()> {
        let (trust, chain) = (call.trust, call.chain);
        memtls_engine::parse_server_name(call.server_name)?;
        let bytes: usize = chain.iter().map(Vec::len).sum();
        self.admission
            .transient(bytes + trust.anchors.iter().map(Vec::len).sum::<usize>())?;
        let chain = memtls_engine::parse_certificates(chain, "chain")?;
        memtls_engine::check_chain_work(&chain, self.admission.policy())?;
        let Some((leaf, rest)) = chain.split_first() else {
            return Err(Error::misuse("verify-server-chain: the chain is empty"));
        };
        let (anchors, pins) = self.anchors(trust)?;
        let leaf_cert = X509::from_der(leaf).map_err(|e| from_stack("chain[0]", &e))?;
        let mut stack = openssl::stack::Stack::new().map_err(|e| from_stack("chain", &e))?;
        for (i, der) in rest.iter().enumerate() {
            let cert =
                X509::from_der(der).map_err(|e| from_stack(&format!("chain[{}]", i + 1), &e))?;
            stack.push(cert).map_err(|e| from_stack("chain", &e))?;
        }
        let store = anchors.into_builder(self.admission.policy(), "trust")?;
        let name = Some(call.server_name);
        match verify_in(store, &leaf_cert, &stack, name, call.at_time)? {
            Ok(()) => Ok(()),
            Err(_) if pins.certs.iter().any(|p| p[..] == leaf[..]) => {
                pinned_verdict(&leaf_cert, name, call.at_time)?
                    .map_err(|(code, depth)| error::rejected(code, depth))
            }
            Err(_) if pins.only => Err(error::rejected(error::application_refusal(), 0)),
            Err((code, depth)) => Err(error::rejected(code, depth)),
        }
    }
}

/// A verification's verdict: the X.509 verify code and depth on failure.
pub(crate) type Verdict = std::result::Result<(), (X509VerifyResult, u32)>;

/// Whether the peer's chain, as it sent it, passes the policy's chain limits
/// or the path-building budget (`memtls_engine::check_chain_work`): then it
/// is refused whatever OpenSSL's verdict, as the rustls providers refuse it,
/// with the limit named. A server's chain and a client's alike.
pub(crate) fn over_chain_limits(ctx: &mut X509StoreContextRef, policy: &Policy) -> bool {
    // SAFETY: `ctx` is the live verification context OpenSSL passed to the
    // callback; the stack it returns (the certificates the peer sent) is
    // owned by that context and only borrowed here, for this call.
    let sent = unsafe {
        let stack = crate::ffi::X509_STORE_CTX_get0_untrusted(ctx.as_ptr());
        (!stack.is_null()).then(|| StackRef::<X509>::from_ptr(stack))
    };
    let Some(sent) = sent else {
        return false;
    };
    let ders: Vec<memtls_engine::rustls::pki_types::CertificateDer<'static>> = sent
        .iter()
        .filter_map(|c| c.to_der().ok())
        .map(Into::into)
        .collect();
    match memtls_engine::check_chain_work(&ders, policy) {
        Ok(()) => false,
        Err(e) => {
            crate::notes::of_verification(ctx, |n| n.chain_refused = Some(e.message));
            ctx.set_error(error::application_refusal());
            true
        }
    }
}

/// The rules every verification on this provider follows, as the rustls
/// providers verify: any trusted certificate an anchor (a partial chain, as
/// CPython 3.13's default context has it too), names matched against the
/// subjectAltName only (no common-name fallback), and, verifying a server, the
/// TLS server purpose (its extended key usage). Not OpenSSL's strict mode:
/// it refuses certificates without an authority key identifier, which
/// rcgen, many private CAs and the rustls providers do without.
pub(crate) fn verification_rules(param: &mut X509VerifyParamRef, server: bool) -> Result<()> {
    param
        .set_flags(X509VerifyFlags::PARTIAL_CHAIN)
        .map_err(|e| from_stack("verify", &e))?;
    param.set_hostflags(X509CheckFlags::NEVER_CHECK_SUBJECT);
    if server {
        param
            .set_purpose(X509PurposeId::SSL_SERVER)
            .map_err(|e| from_stack("verify", &e))?;
    }
    Ok(())
}

/// Verifies `leaf` (with `untrusted` intermediates) against `store`, for the
/// server `name` when given, at `at_time` (seconds since the epoch) or now.
pub(crate) fn verify_in(
    mut store: X509StoreBuilder,
    leaf: &X509Ref,
    untrusted: &StackRef<X509>,
    name: Option<&str>,
    at_time: Option<u64>,
) -> Result<Verdict> {
    let mut param = X509VerifyParam::new().map_err(|e| from_stack("verify", &e))?;
    verification_rules(&mut param, true)?;
    if let Some(name) = name {
        set_peer_name(&mut param, name)?;
    }
    if let Some(t) = at_time {
        // OpenSSL's time is a signed 64-bit count; X.509 times end in 9999.
        const END_OF_9999: u64 = 253_402_300_799;
        param.set_time(t.min(END_OF_9999) as _);
    }
    store
        .set_param(&param)
        .map_err(|e| from_stack("verify", &e))?;
    let store = store.build();
    let mut ctx = X509StoreContext::new().map_err(|e| from_stack("verify", &e))?;
    ctx.init(&store, leaf, untrusted, |c| {
        let ok = c.verify_cert()?;
        Ok(if ok {
            Ok(())
        } else {
            Err((c.error(), c.error_depth()))
        })
    })
    .map_err(|e| from_stack("verify", &e))
}

/// Verifies a pinned end-entity certificate on its own: trusted as it is
/// (whoever issued it), its name, validity and purpose still checked.
pub(crate) fn pinned_verdict(
    leaf: &X509Ref,
    name: Option<&str>,
    at_time: Option<u64>,
) -> Result<Verdict> {
    let mut store = X509StoreBuilder::new().map_err(|e| from_stack("pin", &e))?;
    store
        .add_cert(leaf.to_owned())
        .map_err(|e| from_stack("pin", &e))?;
    let none = openssl::stack::Stack::new().map_err(|e| from_stack("pin", &e))?;
    verify_in(store, leaf, &none, name, at_time)
}

/// The pinned end-entity certificates of a trust configuration (DER), and
/// whether they are all it trusts.
pub(crate) struct Pins {
    pub(crate) certs: Vec<Vec<u8>>,
    pub(crate) only: bool,
}

/// Whether an error OpenSSL found verifying a server's chain is overridden by
/// a pin: when the end-entity certificate is pinned and [`pinned_verdict`]
/// accepts it, every error is (they are about its issuers); otherwise the
/// pinned verdict's error is the one reported.
pub(crate) fn pinned_override(
    ctx: &mut X509StoreContextRef,
    pins: &Pins,
    check_name: bool,
) -> bool {
    let leaf = ctx.chain().and_then(|c| c.get(0)).map(ToOwned::to_owned);
    let Some(leaf) = leaf.filter(|l| l.to_der().is_ok_and(|der| pins.certs.contains(&der))) else {
        if pins.only {
            ctx.set_error(error::application_refusal());
        }
        return false;
    };
    let name = match (X509StoreContext::ssl_idx(), client_state_index()) {
        (Ok(ssl), Ok(sessions)) if check_name => ctx
            .ex_data(ssl)
            .and_then(|ssl| ssl.ex_data(sessions))
            .map(|go| go.server_name.clone()),
        _ => None,
    };
    match pinned_verdict(&leaf, name.as_deref(), None) {
        Ok(Ok(())) => {
            ctx.set_error(X509VerifyResult::OK);
            true
        }
        Ok(Err((code, _))) => {
            ctx.set_error(code);
            false
        }
        Err(_) => false,
    }
}

/// The DNS names a certificate is for (its subject alternative names).
pub(crate) fn names_of(cert: &X509) -> Vec<String> {
    cert.subject_alt_names()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether certificate name `pattern` (perhaps `*.example`) covers `host`.
pub(crate) fn name_matches(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => pattern == host,
    }
}

/// Sets the name a peer's certificate must match (a DNS name or an IP address).
pub(crate) fn set_peer_name(
    param: &mut openssl::x509::verify::X509VerifyParamRef,
    name: &str,
) -> Result<()> {
    let set = match name.parse::<std::net::IpAddr>() {
        Ok(ip) => param.set_ip(ip),
        Err(_) => param.set_host(name),
    };
    set.map_err(|e| from_stack("server-name", &e))
}

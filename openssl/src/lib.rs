//! The system's OpenSSL behind `memtls:tls`: the openssl provider's sans-IO
//! half.
//!
//! OpenSSL was designed for memory channels as much as for sockets (memory
//! BIOs); here each connection's `SslStream` runs over [`Channel`], a pair of
//! byte buffers, and the interface's calls (`feed`, `take`, `handshake`,
//! `read`, `write`, `shutdown`, …) drive it. Configurations are the engine's
//! types, validated with the engine's rules where the rule is the interface's
//! (ALPN, versions, exporter bounds, PEM/DER parsing, the embedder's
//! [`Policy`] and its admission); OpenSSL's errors and X.509 verify codes map
//! to the interface's error kinds in one place ([`error`]).
//!
//! Trust: `system` is OpenSSL's default store (its `openssl.cnf`,
//! `SSL_CERT_FILE` / `SSL_CERT_DIR`, distribution crypto-policies) plus the
//! policy's extra anchors; anchors and pins mean what they mean on the other
//! providers (a pin accepts exactly that end-entity certificate, whatever its
//! issuer, once its name and validity check out).

#![warn(missing_docs)]

mod error;
mod session;
mod trust;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::raw::c_uint;
use std::sync::{Arc, Mutex};

use foreign_types::ForeignTypeRef as _;
use memtls_engine::{
    Admission, ChainCheck, CipherSuite, ClientConfig, Error, ErrorKind, Permit, Policy, Progress,
    ProtocolVersion, ReadOutcome, Result, ServerConfig, SigningChain, Stage, TrustStore,
    Verification, WriteOutcome,
};
use openssl::pkey::PKey;
use openssl::ssl::{
    ClientHelloResponse, ErrorCode, NameType, ShutdownResult, ShutdownState, Ssl, SslAlert,
    SslContext, SslContextBuilder, SslMethod, SslOptions, SslRef, SslSession, SslSessionCacheMode,
    SslStream, SslVerifyMode, SslVersion,
};
use openssl::stack::StackRef;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509CheckFlags, X509VerifyFlags, X509VerifyParam, X509VerifyParamRef};
use openssl::x509::{
    X509, X509PurposeId, X509Ref, X509StoreContext, X509StoreContextRef, X509VerifyResult,
};
use trust::SystemTrust;

pub use error::{from_ssl_error, from_stack};
pub use session::Session;

/// The cipher suites the openssl provider offers: the interface's AEAD suites
/// (IANA id, IANA name as the other providers report it, OpenSSL's name), in
/// the provider's default preference.
const SUITES: [(u16, &str, &str); 9] = [
    (0x1302, "TLS13_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    (0x1301, "TLS13_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    (
        0x1303,
        "TLS13_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
    (
        0xc02c,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    (
        0xc02b,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    (
        0xcca9,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
    (
        0xc030,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    (
        0xc02f,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        0xcca8,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
];

/// OpenSSL's name for the cipher suite with IANA id `id`, among the ones the
/// openssl provider offers.
pub fn suite_name(id: u16) -> Option<&'static str> {
    SUITES.iter().find(|s| s.0 == id).map(|s| s.2)
}

/// Where the openssl provider observes something other than the rustls
/// providers in a parity scenario or a hostile-guest attack (its name, why):
/// OpenSSL's own choices, not defects. The parity and hostile-guest suites
/// assert that these differ and that nothing else does.
pub const PARITY_DIFFERENCES: &[(&str, &str)] = &[
    (
        "not-yet-valid",
        "OpenSSL answers a certificate that is not yet valid with bad_certificate (42), \
         rustls with certificate_expired (45)",
    ),
    (
        "exporter-tls12",
        "OpenSSL's TLS 1.2 exporter takes at most 1024 bytes of label, randoms and context \
         (its PRF's seed limit), so the interface's largest label and context are refused \
         with misuse; rustls derives them",
    ),
];

/// Compares what scenario `name` observed on OpenSSL (`openssl`) and on the
/// rustls providers (`rustls`): equal, or different as [`PARITY_DIFFERENCES`]
/// lists (the reason is returned); anything else is the error, a sentence.
pub fn parity(
    name: &str,
    openssl: &str,
    rustls: &str,
) -> std::result::Result<Option<&'static str>, String> {
    match PARITY_DIFFERENCES.iter().find(|d| d.0 == name) {
        None if openssl == rustls => Ok(None),
        None => Err(format!(
            "{name}: openssl observed {openssl:?}, the rustls providers {rustls:?}"
        )),
        Some((_, why)) if openssl != rustls => Ok(Some(why)),
        Some(_) => Err(format!(
            "{name} observes the same on openssl now: take it off PARITY_DIFFERENCES"
        )),
    }
}

/// The provider for one instance: OpenSSL under the embedder's policy (its
/// `system` trust, its limits through the instance's [`Admission`]).
pub struct OpenSsl {
    admission: Admission,
    system: SystemTrust,
}

impl OpenSsl {
    /// The provider for an instance under `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            admission: Admission::new(policy),
            system: SystemTrust::default(),
        }
    }

    /// The instance's admission (what it holds under the policy's limits).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Name and version, as `implementation` reports them.
    pub fn implementation(&self) -> (String, String) {
        (
            "memtls-openssl (the system's OpenSSL)".into(),
            openssl::version::version().into(),
        )
    }

    /// TLS 1.2 and 1.3.
    pub fn supported_versions(&self) -> Vec<ProtocolVersion> {
        ProtocolVersion::ALL.to_vec()
    }

    /// The suites in [`SUITES`], in default preference.
    pub fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        SUITES
            .iter()
            .map(|(id, name, _)| CipherSuite {
                id: *id,
                name: (*name).into(),
            })
            .collect()
    }

    /// The anchors and pins of `trust` (the instance's `system` store shared).
    fn anchors(&self, trust: &TrustStore) -> Result<(trust::Anchors, Pins)> {
        let (anchors, certs) = self
            .system
            .anchors(self.admission.policy(), trust, "trust")?;
        let only = !trust.system && trust.anchors.is_empty();
        Ok((anchors, Pins { certs, only }))
    }

    /// An OpenSSL context for a client configuration (its trust as an X.509
    /// store and a verify callback for pins, its own session cache), admitted
    /// by `admission` first.
    pub fn client_context(
        &self,
        config: &ClientConfig,
        verification: Verification,
    ) -> Result<ClientContext> {
        let permit = memtls_engine::admit_client(config, verification, &self.admission)?;
        let mut b = builder(SslMethod::tls_client(), "client-config")?;
        versions(&mut b, config.min_version, config.max_version)?;
        suites(&mut b, config.cipher_suites.as_deref())?;
        error::note_server_hello(&mut b);
        let (anchors, pins) = self.anchors(&config.trust)?;
        let pins = Arc::new(pins);
        let pinned = pins.clone();
        b.set_verify_cert_store(anchors.build())
            .map_err(|e| from_stack("trust", &e))?;
        // The callback runs once OpenSSL has the server's certificate, after
        // its ServerHello: where a TLS 1.2 server without the extended master
        // secret is refused, with verification or without.
        match verification {
            Verification::None => {
                b.set_verify_callback(SslVerifyMode::PEER, |_, ctx| !without_ems(ctx))
            }
            _ => {
                verification_rules(b.verify_param_mut(), true)?;
                let check_name = verification == Verification::Full;
                let policy = Arc::new(self.admission.policy().clone());
                b.set_verify_callback(SslVerifyMode::PEER, move |ok, ctx| {
                    !without_ems(ctx)
                        && !over_chain_limits(ctx, &policy)
                        && (ok || pinned_override(ctx, &pinned, check_name))
                });
            }
        }
        if let Some(chain) = &config.certificate_chain {
            signing_chain(&mut b, chain, "certificate-chain")?;
        }
        let alpn = memtls_engine::checked_alpn(&config.alpn_protocols)?;
        if !alpn.is_empty() {
            b.set_alpn_protos(&wire(&alpn))
                .map_err(|e| from_stack("alpn-protocols", &e))?;
        }
        // The context's own session cache, by server name (`connect`).
        let cache: Arc<Mutex<HashMap<String, SslSession>>> = Arc::default();
        let index = sessions_index()?;
        b.set_session_cache_mode(SslSessionCacheMode::CLIENT);
        let store = cache.clone();
        b.set_new_session_callback(move |ssl, session| match ssl.ex_data(index) {
            Some(SessionsGo {
                server_name,
                newest: Some(newest),
                ..
            }) => newest.keep(server_name, session),
            Some(go) => {
                store
                    .lock()
                    .unwrap()
                    .insert(go.server_name.clone(), session);
            }
            None => {}
        });
        let (ctx, send_sni) = (b.build(), config.send_sni);
        let admission = self.admission.clone();
        Ok(ClientContext {
            ctx,
            id: session::next_context_id(),
            verification,
            send_sni,
            cache,
            pins,
            admission,
            _permit: permit,
        })
    }

    /// OpenSSL contexts for a server configuration (one per signing chain,
    /// switched by SNI), admitted by `admission` first.
    pub fn server_context(&self, config: &ServerConfig) -> Result<ServerContext> {
        let permit = memtls_engine::admit_server(config, &self.admission)?;
        // The first chain's context serves by default; each other chain gets a
        // context of its own, which the SNI callback switches to when its
        // certificate is the first to name the host.
        let mut b = self.server_builder(config, "certificate-chains[0]")?;
        let first = signing_chain(
            &mut b,
            &config.certificate_chains[0],
            "certificate-chains[0]",
        )?;
        let mut chains = vec![(names_of(&first), None)];
        for (i, chain) in config.certificate_chains.iter().enumerate().skip(1) {
            let what = format!("certificate-chains[{i}]");
            let mut other = self.server_builder(config, &what)?;
            let leaf = signing_chain(&mut other, chain, &what)?;
            chains.push((names_of(&leaf), Some(other.build())));
        }
        if chains.len() > 1 {
            b.set_servername_callback(move |ssl, _alert| {
                let name = ssl.servername(NameType::HOST_NAME).map(str::to_owned);
                let chosen = name.and_then(|name| {
                    chains
                        .iter()
                        .find(|(names, _)| names.iter().any(|n| name_matches(n, &name)))
                });
                if let Some((_, Some(ctx))) = chosen {
                    let _ = ssl.set_ssl_context(ctx);
                }
                Ok(())
            });
        }
        Ok(ServerContext {
            ctx: b.build(),
            admission: self.admission.clone(),
            _permit: Arc::new(permit),
        })
    }

    /// A server builder with everything but the signing chain.
    fn server_builder(&self, config: &ServerConfig, what: &str) -> Result<SslContextBuilder> {
        let mut b = builder(SslMethod::tls_server(), what)?;
        versions(&mut b, config.min_version, config.max_version)?;
        let tls13 = config.max_version != Some(ProtocolVersion::Tls12);
        b.set_client_hello_callback(move |ssl, alert| {
            if hello_without_ems(ssl, tls13) {
                error::refuse(error::NO_EMS);
                *alert = SslAlert::HANDSHAKE_FAILURE;
                return Err(openssl::error::ErrorStack::get());
            }
            Ok(ClientHelloResponse::SUCCESS)
        });
        suites(&mut b, config.cipher_suites.as_deref())?;
        b.set_session_id_context(b"memtls")
            .map_err(|e| from_stack(what, &e))?;
        if !config.session_tickets {
            // TLS 1.2 session ids; TLS 1.3 stateful tickets (the session stays
            // in this context's cache).
            b.set_options(SslOptions::NO_TICKET);
        }
        let alpn = memtls_engine::checked_alpn(&config.alpn_protocols)?;
        if !alpn.is_empty() {
            b.set_alpn_select_callback(move |_, theirs| {
                choose_alpn(&alpn, theirs).ok_or(openssl::ssl::AlpnError::ALERT_FATAL)
            });
        }
        let Some((anchors, optional)) = memtls_engine::client_auth_anchors(&config.client_auth)?
        else {
            return Ok(b);
        };
        let mut store = X509StoreBuilder::new().map_err(|e| from_stack(what, &e))?;
        for (i, der) in anchors.iter().enumerate() {
            let what = format!("client-auth: anchor {i}");
            let cert = X509::from_der(der).map_err(|e| from_stack(&what, &e))?;
            b.add_client_ca(&cert).map_err(|e| from_stack(&what, &e))?;
            store.add_cert(cert).map_err(|e| from_stack(&what, &e))?;
        }
        b.set_verify_cert_store(store.build())
            .map_err(|e| from_stack("client-auth", &e))?;
        verification_rules(b.verify_param_mut(), false)?;
        let mut mode = SslVerifyMode::PEER;
        if !optional {
            mode |= SslVerifyMode::FAIL_IF_NO_PEER_CERT;
        }
        // A client's chain passes the same chain check as a server's.
        let policy = Arc::new(self.admission.policy().clone());
        b.set_verify_callback(mode, move |ok, ctx| !over_chain_limits(ctx, &policy) && ok);
        Ok(b)
    }

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
type Verdict = std::result::Result<(), (X509VerifyResult, u32)>;

/// Whether the server of the handshake `ctx` verifies negotiated TLS 1.2
/// without the extended master secret (then refused, with handshake_failure).
/// The callback verifying the server's certificate is where a client can still
/// refuse after the ServerHello: [`ClientContext`]s verify (and call it) even
/// under `insecure`.
fn without_ems(ctx: &mut X509StoreContextRef) -> bool {
    let Ok(index) = X509StoreContext::ssl_idx() else {
        return false;
    };
    // OpenSSL tells whether EMS was negotiated only once the handshake is
    // over; the ServerHello said it already.
    let missing = match (ctx.ex_data(index), sessions_index()) {
        (Some(ssl), Ok(sessions)) => ssl
            .ex_data(sessions)
            .is_some_and(|go| go.no_ems.load(std::sync::atomic::Ordering::Relaxed)),
        _ => false,
    };
    if missing {
        error::refuse(error::NO_EMS);
        ctx.set_error(error::application_refusal());
    }
    missing
}

/// Whether the peer's chain, as it sent it, passes the policy's chain limits
/// or the path-building budget (`memtls_engine::check_chain_work`): then it
/// is refused whatever OpenSSL's verdict, as the rustls providers refuse it,
/// with the limit named. A server's chain and a client's alike.
fn over_chain_limits(ctx: &mut X509StoreContextRef, policy: &Policy) -> bool {
    // SAFETY: `ctx` is the live verification context OpenSSL passed to the
    // callback; the stack it returns (the certificates the peer sent) is
    // owned by that context and only borrowed here, for this call.
    let sent = unsafe {
        let stack = error::X509_STORE_CTX_get0_untrusted(ctx.as_ptr());
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
            error::refuse_chain(e.message);
            ctx.set_error(error::application_refusal());
            true
        }
    }
}

/// Notes that the server of client connection `ssl` chose TLS 1.2 without the
/// extended master secret (its ServerHello, seen by the message callback).
pub(crate) fn mark_without_ems(ssl: &SslRef) {
    if let Some(go) = sessions_index().ok().and_then(|i| ssl.ex_data(i)) {
        go.no_ems.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether a ClientHello leads to TLS 1.2 without the extended master secret
/// on a server whose highest version is TLS 1.3 when `tls13`: it does not
/// offer TLS 1.3 (or the server stops at 1.2) and has no EMS extension.
fn hello_without_ems(ssl: &SslRef, tls13: bool) -> bool {
    const EXTENDED_MASTER_SECRET: c_uint = 23;
    const SUPPORTED_VERSIONS: c_uint = 43;
    let ext = |kind: c_uint| -> Option<&[u8]> {
        let (mut data, mut len) = (std::ptr::null(), 0);
        // SAFETY: `ssl` is live and inside its client-hello callback, where
        // the ClientHello's extensions can be read; the returned bytes live
        // as long as the ClientHello, longer than this borrow.
        let found = unsafe {
            openssl_sys::SSL_client_hello_get0_ext(error::ssl_ptr(ssl), kind, &mut data, &mut len)
        };
        // SAFETY: OpenSSL gave `len` bytes at `data`.
        (found == 1).then(|| unsafe { std::slice::from_raw_parts(data, len) })
    };
    let offers_tls13 = ext(SUPPORTED_VERSIONS).is_some_and(|v| {
        v.get(1..)
            .unwrap_or_default()
            .chunks_exact(2)
            .any(|p| p == [3, 4])
    });
    !(tls13 && offers_tls13) && ext(EXTENDED_MASTER_SECRET).is_none()
}

/// The rules every verification on this provider follows, as the rustls
/// providers verify: any trusted certificate an anchor (a partial chain, as
/// CPython 3.13's default context has it too), names matched against the
/// subjectAltName only (no common-name fallback), and, verifying a server, the
/// TLS server purpose (its extended key usage). Not OpenSSL's strict mode:
/// it refuses certificates without an authority key identifier, which
/// rcgen, many private CAs and the rustls providers do without.
fn verification_rules(param: &mut X509VerifyParamRef, server: bool) -> Result<()> {
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
fn verify_in(
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
fn pinned_verdict(leaf: &X509Ref, name: Option<&str>, at_time: Option<u64>) -> Result<Verdict> {
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
    certs: Vec<Vec<u8>>,
    only: bool,
}

/// Whether an error OpenSSL found verifying a server's chain is overridden by
/// a pin: when the end-entity certificate is pinned and [`pinned_verdict`]
/// accepts it, every error is (they are about its issuers); otherwise the
/// pinned verdict's error is the one reported.
fn pinned_override(ctx: &mut X509StoreContextRef, pins: &Pins, check_name: bool) -> bool {
    let leaf = ctx.chain().and_then(|c| c.get(0)).map(ToOwned::to_owned);
    let Some(leaf) = leaf.filter(|l| l.to_der().is_ok_and(|der| pins.certs.contains(&der))) else {
        if pins.only {
            ctx.set_error(error::application_refusal());
        }
        return false;
    };
    let name = match (X509StoreContext::ssl_idx(), sessions_index()) {
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

/// An SSL context builder for `method`, with the interface's floor (TLS 1.2).
fn builder(method: SslMethod, what: &str) -> Result<SslContextBuilder> {
    let mut b = SslContext::builder(method).map_err(|e| from_stack(what, &e))?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(|e| from_stack(what, &e))?;
    error::note_alerts(&mut b);
    Ok(b)
}

/// The version bounds of a configuration.
fn versions(
    b: &mut SslContextBuilder,
    min: Option<ProtocolVersion>,
    max: Option<ProtocolVersion>,
) -> Result<()> {
    let (min, max) = memtls_engine::version_range(min, max)?;
    let ssl = |v| match v {
        ProtocolVersion::Tls12 => SslVersion::TLS1_2,
        ProtocolVersion::Tls13 => SslVersion::TLS1_3,
    };
    b.set_min_proto_version(Some(ssl(min)))
        .and_then(|()| b.set_max_proto_version(Some(ssl(max))))
        .map_err(|e| from_stack("min-version / max-version", &e))
}

/// The cipher suites of a configuration (IANA ids), in its order, as
/// OpenSSL's TLS 1.3 and TLS 1.2 lists.
fn suites(b: &mut SslContextBuilder, ids: Option<&[u16]>) -> Result<()> {
    let chosen: Vec<&(u16, &str, &str)> = match ids {
        None => SUITES.iter().collect(),
        Some([]) => {
            return Err(Error::config(
                "cipher-suites is an empty list: give none for the defaults",
            ));
        }
        Some(ids) => ids
            .iter()
            .map(|id| {
                SUITES.iter().find(|s| s.0 == *id).ok_or_else(|| {
                    Error::config(format!(
                        "cipher suite 0x{id:04x} is unknown or not supported by this provider"
                    ))
                })
            })
            .collect::<Result<_>>()?,
    };
    let names = |tls13: bool| {
        chosen
            .iter()
            .filter(|s| (s.0 >> 8 == 0x13) == tls13)
            .map(|s| s.2)
            .collect::<Vec<_>>()
            .join(":")
    };
    let (v13, v12) = (names(true), names(false));
    b.set_ciphersuites(&v13)
        .map_err(|e| from_stack("cipher-suites (TLS 1.3)", &e))?;
    if v12.is_empty() {
        // No TLS 1.2 suite chosen: no TLS 1.2.
        b.set_min_proto_version(Some(SslVersion::TLS1_3))
            .map_err(|e| from_stack("cipher-suites", &e))?;
    } else {
        b.set_cipher_list(&v12)
            .map_err(|e| from_stack("cipher-suites (TLS 1.2)", &e))?;
    }
    if v13.is_empty() {
        b.set_max_proto_version(Some(SslVersion::TLS1_2))
            .map_err(|e| from_stack("cipher-suites", &e))?;
    }
    Ok(())
}

/// Installs a signing chain; returns its end-entity certificate.
fn signing_chain(b: &mut SslContextBuilder, chain: &SigningChain, what: &str) -> Result<X509> {
    let certs =
        memtls_engine::parse_certificates(&chain.certificates, &format!("{what}.certificates"))?;
    let key = private_key(&chain.private_key, &format!("{what}.private-key"))?;
    let mut certs = certs.into_iter();
    let leaf = certs
        .next()
        .ok_or_else(|| Error::config(format!("{what}.certificates is empty")))?;
    let leaf = X509::from_der(&leaf).map_err(|e| from_stack(what, &e))?;
    b.set_certificate(&leaf).map_err(|e| from_stack(what, &e))?;
    for c in certs {
        let c = X509::from_der(&c).map_err(|e| from_stack(what, &e))?;
        b.add_extra_chain_cert(c)
            .map_err(|e| from_stack(what, &e))?;
    }
    let mismatch = |e: openssl::error::ErrorStack| {
        Error::config(format!(
            "{what}: the private key does not match the first certificate's public key ({})",
            error::describe(&e)
        ))
    };
    b.set_private_key(&key).map_err(mismatch)?;
    b.check_private_key().map_err(mismatch)?;
    Ok(leaf)
}

/// A private key in a form the interface takes (PEM or DER: PKCS#8, PKCS#1,
/// SEC1) as OpenSSL's; a sentence naming `what` when it is refused. OpenSSL
/// 3.0 reads no PKCS#8 v2 Ed25519 key (RFC 5958's, with the public key: what
/// ring and rcgen write), so such a key is read from its seed.
pub fn private_key(bytes: &[u8], what: &str) -> Result<PKey<openssl::pkey::Private>> {
    let key = memtls_engine::parse_private_key(bytes)?;
    let der = key.secret_der();
    PKey::private_key_from_der(der)
        .or_else(|e| match ed25519_seed(der) {
            Some(seed) => PKey::private_key_from_raw_bytes(seed, openssl::pkey::Id::ED25519),
            None => Err(e),
        })
        .map_err(|e| from_stack(what, &e))
}

/// The 32-byte seed of a PKCS#8 Ed25519 key (v1 or v2): what follows the
/// algorithm (id-Ed25519, 1.3.101.112) in the privateKey OCTET STRING, itself
/// an OCTET STRING of 32 bytes (RFC 8410).
fn ed25519_seed(der: &[u8]) -> Option<&[u8]> {
    const ALGORITHM_THEN_KEY: [u8; 9] = [0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    let at = der
        .windows(ALGORITHM_THEN_KEY.len())
        .position(|w| w == ALGORITHM_THEN_KEY)?;
    der.get(at + ALGORITHM_THEN_KEY.len()..)?.get(..32)
}

/// The DNS names a certificate is for (its subject alternative names).
fn names_of(cert: &X509) -> Vec<String> {
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
fn name_matches(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => pattern == host,
    }
}

/// The first of our protocols (the server's preference) that the client's
/// wire-format list offers, as a slice of that list.
fn choose_alpn<'a>(ours: &[Vec<u8>], theirs: &'a [u8]) -> Option<&'a [u8]> {
    let mut offered = Vec::new();
    let mut rest = theirs;
    while let Some((&len, tail)) = rest.split_first() {
        let (p, tail) = tail.split_at_checked(len as usize)?;
        offered.push(p);
        rest = tail;
    }
    ours.iter()
        .find_map(|p| offered.iter().find(|o| **o == p.as_slice()).copied())
}

/// ALPN protocols in the wire format (length-prefixed).
fn wire(protocols: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in protocols {
        out.push(p.len() as u8);
        out.extend_from_slice(p);
    }
    out
}

/// Sets the name a peer's certificate must match (a DNS name or an IP address).
fn set_peer_name(param: &mut openssl::x509::verify::X509VerifyParamRef, name: &str) -> Result<()> {
    let set = match name.parse::<std::net::IpAddr>() {
        Ok(ip) => param.set_ip(ip),
        Err(_) => param.set_host(name),
    };
    set.map_err(|e| from_stack("server-name", &e))
}

/// Where the sessions a client connection receives go: the context's cache
/// under its server name, or (made with `connect-with`) the connection's own
/// newest-session slot.
struct SessionsGo {
    server_name: String,
    newest: Option<session::Newest>,
    /// The server's ServerHello chose TLS 1.2 without the extended master
    /// secret (seen by [`error::note_server_hello`], refused by
    /// [`without_ems`] once the certificate arrives).
    no_ems: std::sync::atomic::AtomicBool,
}

/// The `Ssl` ex-data slot holding a client connection's [`SessionsGo`].
fn sessions_index() -> Result<openssl::ex_data::Index<Ssl, SessionsGo>> {
    static INDEX: std::sync::OnceLock<openssl::ex_data::Index<Ssl, SessionsGo>> =
        std::sync::OnceLock::new();
    if let Some(i) = INDEX.get() {
        return Ok(*i);
    }
    let i = Ssl::new_ex_index().map_err(|e| from_stack("session cache", &e))?;
    Ok(*INDEX.get_or_init(|| i))
}

/// A validated client configuration shared by its connections.
pub struct ClientContext {
    ctx: SslContext,
    /// What this context's sessions carry, so they are offered nowhere else.
    id: u64,
    verification: Verification,
    send_sni: bool,
    cache: Arc<Mutex<HashMap<String, SslSession>>>,
    /// Its pinned certificates (a pinned peer's verified chain is the pin).
    pins: Arc<Pins>,
    admission: Admission,
    _permit: Permit,
}

impl ClientContext {
    /// Starts a client connection to `server_name`, resuming from the
    /// context's cache when it holds a session for that name.
    pub fn connect(&self, server_name: &str) -> Result<Connection> {
        self.start(server_name, None)
    }

    /// Starts a client connection that offers only `resume` (when it is for
    /// this server name and context, and still usable), leaves the context's
    /// cache alone, and keeps the sessions its server issues for
    /// [`Connection::session`].
    pub fn connect_with(&self, server_name: &str, resume: Option<&Session>) -> Result<Connection> {
        self.start(server_name, Some(resume))
    }

    fn start(&self, server_name: &str, with: Option<Option<&Session>>) -> Result<Connection> {
        memtls_engine::parse_server_name(server_name)?;
        let permit = self.admission.connection()?;
        let mut ssl = Ssl::new(&self.ctx).map_err(|e| from_stack("connect", &e))?;
        let is_ip = server_name.parse::<std::net::IpAddr>().is_ok();
        if self.send_sni && !is_ip {
            ssl.set_hostname(server_name)
                .map_err(|e| from_stack("server name", &e))?;
        }
        if self.verification == Verification::Full {
            set_peer_name(ssl.param_mut(), server_name)?;
        }
        let offered = match with {
            None => self.cache.lock().unwrap().get(server_name).cloned(),
            Some(resume) => resume.and_then(|s| s.offer(server_name, self.id)),
        };
        if let Some(session) = offered {
            // SAFETY: the session came from this context's own connections
            // (its new-session callback; a handle's context id is checked by
            // `offer`), as `set_session` requires.
            unsafe { ssl.set_session(&session) }.map_err(|e| from_stack("resume", &e))?;
        }
        let newest = with.map(|_| session::Newest::new(self.id));
        ssl.set_ex_data(
            sessions_index()?,
            SessionsGo {
                server_name: server_name.to_owned(),
                newest: newest.clone(),
                no_ems: Default::default(),
            },
        );
        ssl.set_connect_state();
        let mut c = Connection::new(ssl, &self.admission, Some(server_name.to_owned()), permit)?;
        c.sessions = newest.map(|n| (n, self.admission.clone()));
        c.pins = Some(self.pins.clone()).filter(|p| !p.certs.is_empty());
        c.unverified = self.verification == Verification::None;
        Ok(c)
    }
}

/// A validated server configuration shared by its connections.
#[derive(Clone)]
pub struct ServerContext {
    ctx: SslContext,
    admission: Admission,
    _permit: Arc<Permit>,
}

impl ServerContext {
    /// Starts a server connection (admitted first).
    pub fn accept(&self) -> Result<Connection> {
        self.start(self.admission.connection()?)
    }

    /// Starts a server connection holding `permit`.
    fn start(&self, permit: Permit) -> Result<Connection> {
        let mut ssl = Ssl::new(&self.ctx).map_err(|e| from_stack("accept", &e))?;
        ssl.set_accept_state();
        Connection::new(ssl, &self.admission, None, permit)
    }

    /// Continues the connection whose ClientHello `acceptor` read (one
    /// parser for every provider) as a connection of this context: the
    /// ciphertext the acceptor took is fed to a new OpenSSL connection.
    /// `acceptor` must have been started with
    /// [`memtls_engine::Acceptor::start_for_hand_over`], and its ClientHello
    /// be complete. When this context cannot serve the client, the error
    /// comes with OpenSSL's alert waiting to be taken from `acceptor`.
    pub fn accept_handed_over(&self, acceptor: &mut memtls_engine::Acceptor) -> Result<Connection> {
        let (taken, permit) = acceptor.hand_over()?;
        let mut conn = self.start(permit)?;
        let mut rest = &taken[..];
        while !rest.is_empty() {
            match conn.feed(rest) {
                Ok(0) => {
                    let err = Error::new(
                        ErrorKind::Protocol,
                        "the ClientHello did not fit the connection's incoming buffer",
                    );
                    return Err(acceptor.failed_with(err, Vec::new()));
                }
                Ok(n) => rest = &rest[n as usize..],
                Err(err) => {
                    let alert = conn.take(u32::MAX);
                    return Err(acceptor.failed_with(err, alert));
                }
            }
        }
        Ok(conn)
    }
}

/// The memory channel under one `SslStream`: ciphertext fed in, ciphertext to
/// take out, and whether the transport ended.
#[derive(Debug, Default)]
pub struct Channel {
    incoming: Vec<u8>,
    in_start: usize,
    outgoing: Vec<u8>,
    eof: bool,
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = &self.incoming[self.in_start..];
        if available.is_empty() {
            // Even after `eof`: the connection reports the transport's end
            // itself (ragged or not). Told of it, OpenSSL would treat it as a
            // fatal error and forget the session, which the interface keeps
            // resumable as the rustls providers do (RFC 5246 no longer asks
            // otherwise).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.in_start += n;
        if self.in_start == self.incoming.len() {
            self.incoming.clear();
            self.in_start = 0;
        }
        Ok(n)
    }
}

impl Write for Channel {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.outgoing.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The largest TLS record on the wire.
const RECORD: usize = 16 * 1024 + 256 + 5;
/// The most ciphertext held unprocessed: two full records, so that a `read`
/// after a `feed` finds the record decrypted ahead and the next one (OpenSSL
/// holds at most one more while it decrypts).
const MAX_INCOMING: usize = 2 * RECORD;
/// The most plaintext decrypted ahead of `read`.
const MAX_PLAINTEXT: usize = 16 * 1024;

impl Drop for Connection {
    fn drop(&mut self) {
        // OpenSSL forgets the session of a connection freed without a
        // close_notify (and makes it unresumable for clients holding it); the
        // interface lets an application drop a healthy connection, or one whose
        // transport merely ended, and still resume its session, as the rustls
        // providers do.
        let healthy = self
            .failed
            .as_ref()
            .is_none_or(|e| e.kind == ErrorKind::RaggedEof);
        if self.handshaken && healthy {
            self.stream
                .set_shutdown(ShutdownState::SENT | ShutdownState::RECEIVED);
        }
    }
}

/// One TLS connection as a memory channel, on OpenSSL.
pub struct Connection {
    stream: SslStream<Channel>,
    max_buffered: usize,
    failed: Option<Error>,
    handshaken: bool,
    close_sent: bool,
    peer_closed: bool,
    /// Some ciphertext was taken (after that, alerts are OpenSSL's to send).
    sent_any: bool,
    plaintext: Vec<u8>,
    client_server_name: Option<String>,
    /// Made with `connect-with`: the newest session its server issued, and
    /// the admission that counts the ones handed out.
    sessions: Option<(session::Newest, Admission)>,
    /// On a client: the context's pins, when it has any.
    pins: Option<Arc<Pins>>,
    /// On a client whose context verifies nothing (`insecure`).
    unverified: bool,
    _permit: Permit,
}

impl Connection {
    fn new(
        ssl: Ssl,
        admission: &Admission,
        client_server_name: Option<String>,
        permit: Permit,
    ) -> Result<Self> {
        let stream =
            SslStream::new(ssl, Channel::default()).map_err(|e| from_stack("connection", &e))?;
        let mut c = Self {
            stream,
            max_buffered: admission.policy().max_buffered_bytes,
            failed: None,
            handshaken: false,
            close_sent: false,
            peer_closed: false,
            sent_any: false,
            plaintext: Vec::new(),
            client_server_name,
            sessions: None,
            pins: None,
            unverified: false,
            _permit: permit,
        };
        if c.client_server_name.is_some() {
            // The ClientHello, ready to take.
            c.advance()?;
        }
        Ok(c)
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn fail(&mut self, err: Error) -> Error {
        self.failed = Some(err.clone());
        err
    }

    /// A failed OpenSSL call on this connection as the interface's error.
    fn error_of(&self, e: &openssl::ssl::Error) -> Error {
        from_ssl_error(e, self.stream.ssl(), self.channel().eof, self.handshaken)
    }

    fn channel(&self) -> &Channel {
        self.stream.get_ref()
    }

    fn outgoing_len(&self) -> usize {
        self.channel().outgoing.len()
    }

    /// Runs the handshake as far as the buffered ciphertext allows, then
    /// decrypts what it can ahead of `read` (bounded), so that alerts and the
    /// peer's close_notify are seen when they arrive.
    fn advance(&mut self) -> Result<()> {
        if !self.handshaken {
            error::clear_alert();
            match self.stream.do_handshake() {
                Ok(()) => self.handshaken = true,
                Err(e) if e.code() == ErrorCode::WANT_READ => return Ok(()),
                Err(e) => {
                    let err = self.error_of(&e);
                    if err.kind == ErrorKind::RaggedEof {
                        // `handshake` reports it.
                        return Ok(());
                    }
                    self.queue_alert_if_silent(&err);
                    return Err(self.fail(err));
                }
            }
        }
        let mut plaintext = std::mem::take(&mut self.plaintext);
        let decrypted = self.decrypt(&mut plaintext, MAX_PLAINTEXT);
        self.plaintext = plaintext;
        decrypted
    }

    /// Decrypts the ciphertext fed so far onto `out` until it holds `limit`
    /// bytes (OpenSSL gives one record per call). An error after some
    /// plaintext is kept for the call after that plaintext was read.
    fn decrypt(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<()> {
        while !self.peer_closed && out.len() < limit {
            let start = out.len();
            out.resize(start + (limit - start).min(MAX_PLAINTEXT), 0);
            error::clear_alert();
            let read = self.stream.ssl_read(&mut out[start..]);
            out.truncate(start + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(_) => {}
                Err(e) if e.code() == ErrorCode::WANT_READ => break,
                Err(e) if e.code() == ErrorCode::ZERO_RETURN => self.peer_closed = true,
                Err(e) => {
                    let err = self.error_of(&e);
                    if err.kind == ErrorKind::RaggedEof {
                        // `read` and `shutdown` report it once the plaintext
                        // before it was read.
                        break;
                    }
                    if out.is_empty() {
                        return Err(self.fail(err));
                    }
                    // Plaintext decrypted before the error is still readable.
                    self.failed = Some(err);
                    break;
                }
            }
        }
        Ok(())
    }

    /// OpenSSL fails some handshakes without telling the peer (a plaintext
    /// HTTP request, a record header it cannot parse: `SSL_AD_NO_ALERT`); the
    /// interface promises peers our fatal alerts, so before anything was
    /// encrypted a plaintext `decode_error` alert goes out instead.
    fn queue_alert_if_silent(&mut self, err: &Error) {
        if matches!(
            err.kind,
            ErrorKind::AlertSent(_) | ErrorKind::AlertReceived(_)
        ) {
            return;
        }
        if self.sent_any || self.outgoing_len() > 0 {
            return;
        }
        const DECODE_ERROR: u8 = 50;
        self.stream
            .get_mut()
            .outgoing
            .extend_from_slice(&[21, 3, 3, 0, 2, 2, DECODE_ERROR]);
    }

    /// Feeds ciphertext from the network; returns how much was accepted
    /// (less than given while earlier input waits to be processed).
    pub fn feed(&mut self, data: &[u8]) -> Result<u32> {
        self.check()?;
        if self.channel().eof {
            return Err(Error::feed_after_eof());
        }
        let held = self.channel().incoming.len() - self.channel().in_start;
        let n = data.len().min(MAX_INCOMING.saturating_sub(held));
        self.stream.get_mut().incoming.extend_from_slice(&data[..n]);
        self.advance()?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Signals the end of the transport.
    pub fn eof(&mut self) -> Result<()> {
        self.check()?;
        if !self.channel().eof {
            self.stream.get_mut().eof = true;
            self.advance()?;
        }
        Ok(())
    }

    /// Takes up to `max` bytes of ciphertext.
    pub fn take(&mut self, max: u32) -> Vec<u8> {
        self.sent_any |= max > 0 && self.outgoing_len() > 0;
        let out = &mut self.stream.get_mut().outgoing;
        let n = out.len().min(max as usize);
        if n == out.len() {
            return std::mem::take(out);
        }
        out.drain(..n).collect()
    }

    /// Ciphertext waiting to be taken.
    pub fn pending_ciphertext(&self) -> u32 {
        u32::try_from(self.outgoing_len()).unwrap_or(u32::MAX)
    }

    /// Advances the handshake.
    pub fn handshake(&mut self) -> Result<Progress> {
        self.check()?;
        if self.handshaken {
            return Ok(Progress::Done);
        }
        self.advance()?;
        if self.handshaken {
            Ok(Progress::Done)
        } else if self.outgoing_len() > 0 {
            Ok(Progress::WantWrite)
        } else if self.channel().eof {
            Err(self.fail(Error::ragged(Stage::Handshake)))
        } else {
            Ok(Progress::WantRead)
        }
    }

    /// Whether the handshake is complete.
    pub fn is_handshake_complete(&self) -> bool {
        self.handshaken
    }

    /// Reads up to `max` bytes of plaintext: what was decrypted ahead, then
    /// across the records fed since, in one call.
    pub fn read(&mut self, max: u32) -> Result<ReadOutcome> {
        let max = max as usize;
        let ahead = self.plaintext.len().min(max);
        // Room for what the held ciphertext can decrypt to, without reallocating.
        let mut data = Vec::with_capacity(max.min(ahead + MAX_INCOMING));
        data.extend(self.plaintext.drain(..ahead));
        if data.is_empty() {
            if let Some(waiting) = ReadOutcome::waiting(self.handshake()?) {
                return Ok(waiting);
            }
            if max == 0 {
                return Ok(ReadOutcome::Data(data));
            }
        }
        // After an error, the plaintext before it is read first.
        if self.failed.is_none() && self.plaintext.is_empty() {
            self.decrypt(&mut data, max)?;
        }
        if !data.is_empty() {
            return Ok(ReadOutcome::Data(data));
        }
        if self.peer_closed {
            return Err(Error::closed());
        }
        if self.channel().eof {
            return Err(self.fail(Error::ragged(Stage::Data)));
        }
        Ok(ReadOutcome::WantRead)
    }

    /// Encrypts plaintext; short writes allowed.
    pub fn write(&mut self, data: &[u8]) -> Result<WriteOutcome> {
        self.check()?;
        if self.close_sent {
            return Err(Error::write_after_shutdown());
        }
        let progress = self.handshake()?;
        let pending = self.outgoing_len();
        if let Some(early) =
            WriteOutcome::before_writing(progress, pending, self.max_buffered, data.len())
        {
            return Ok(early);
        }
        if data.is_empty() {
            return Ok(WriteOutcome::Written(0));
        }
        // Record by record (16 KiB of plaintext seals to at most 16,640
        // bytes) while the outgoing buffer has room.
        let mut written = 0;
        while written < data.len() {
            let room = self.max_buffered.saturating_sub(self.outgoing_len());
            if written > 0 && room < RECORD {
                break;
            }
            let n = (data.len() - written).min(room.max(1)).min(16 * 1024);
            error::clear_alert();
            match self.stream.ssl_write(&data[written..written + n]) {
                Ok(n) => written += n,
                Err(e) => {
                    let err = self.error_of(&e);
                    return Err(self.fail(err));
                }
            }
        }
        Ok(WriteOutcome::Written(
            u32::try_from(written).unwrap_or(u32::MAX),
        ))
    }

    /// Plaintext ready to read.
    pub fn pending_plaintext(&self) -> u32 {
        u32::try_from(self.plaintext.len()).unwrap_or(u32::MAX)
    }

    /// Two-phase shutdown.
    pub fn shutdown(&mut self) -> Result<Progress> {
        self.check()?;
        if !self.close_sent {
            self.close_sent = true;
            error::clear_alert();
            match self.stream.shutdown() {
                Ok(ShutdownResult::Received) => self.peer_closed = true,
                Ok(ShutdownResult::Sent) => {}
                Err(e) if e.code() == ErrorCode::WANT_READ => {}
                Err(e) => {
                    let err = self.error_of(&e);
                    return Err(self.fail(err));
                }
            }
        }
        if self.outgoing_len() > 0 {
            Ok(Progress::WantWrite)
        } else if self.peer_closed {
            Ok(Progress::Done)
        } else if self.channel().eof {
            Err(Error::ragged(Stage::Shutdown))
        } else {
            // The peer's close_notify may be in what was fed since.
            self.advance()?;
            Ok(if self.peer_closed {
                Progress::Done
            } else {
                Progress::WantRead
            })
        }
    }

    /// Whether the peer's close_notify arrived.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The negotiated version.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        if !self.handshaken {
            return None;
        }
        match self.stream.ssl().version2()? {
            SslVersion::TLS1_3 => Some(ProtocolVersion::Tls13),
            SslVersion::TLS1_2 => Some(ProtocolVersion::Tls12),
            _ => None,
        }
    }

    /// The negotiated cipher suite.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        if !self.handshaken {
            return None;
        }
        let id = u16::from_be_bytes(self.stream.ssl().current_cipher()?.protocol_id());
        let (_, name, _) = SUITES.iter().find(|s| s.0 == id)?;
        Some(CipherSuite {
            id,
            name: (*name).into(),
        })
    }

    /// The agreed ALPN protocol.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.stream
            .ssl()
            .selected_alpn_protocol()
            .map(<[u8]>::to_vec)
    }

    /// The peer's certificates as sent, end-entity first.
    pub fn peer_certificates(&self) -> Vec<Vec<u8>> {
        let ssl = self.stream.ssl();
        let mut out: Vec<Vec<u8>> = Vec::new();
        // A server's view of the chain leaves out the client's certificate.
        if self.client_server_name.is_none()
            && let Some(leaf) = ssl.peer_certificate()
        {
            out.extend(leaf.to_der().ok());
        }
        if let Some(chain) = ssl.peer_cert_chain() {
            out.extend(chain.iter().filter_map(|c| c.to_der().ok()));
        }
        out
    }

    /// The path verification built, end-entity first (empty when nothing was
    /// verified).
    pub fn verified_chain(&self) -> Vec<Vec<u8>> {
        let ssl = self.stream.ssl();
        if !self.handshaken
            || self.unverified
            || ssl.verify_result() != openssl::x509::X509VerifyResult::OK
        {
            return Vec::new();
        }
        let Some(leaf) = ssl.peer_certificate().and_then(|c| c.to_der().ok()) else {
            return Vec::new();
        };
        // A pinned certificate is a path of one, as on the other providers.
        if self.pins.as_ref().is_some_and(|p| p.certs.contains(&leaf)) {
            return vec![leaf];
        }
        ssl.verified_chain()
            .map(|c| c.iter().filter_map(|c| c.to_der().ok()).collect())
            .unwrap_or_default()
    }

    /// On a client, the name connected to; on a server, the SNI name received.
    pub fn server_name(&self) -> Option<String> {
        self.client_server_name.clone().or_else(|| {
            self.stream
                .ssl()
                .servername(NameType::HOST_NAME)
                .map(str::to_owned)
        })
    }

    /// Whether this connection resumed an earlier session.
    pub fn resumed(&self) -> bool {
        self.handshaken && self.stream.ssl().session_reused()
    }

    /// On a client made with `connect_with`: the newest session its server
    /// issued, admitted under the policy's limit; none otherwise.
    pub fn session(&self) -> Result<Option<Session>> {
        let Some((newest, admission)) = &self.sessions else {
            return Ok(None);
        };
        // A resumed TLS 1.2 handshake issues no new session (OpenSSL calls no
        // new-session callback): the session it resumed is the newest.
        let ssl = self.stream.ssl();
        if ssl.session_reused()
            && ssl.version2() == Some(SslVersion::TLS1_2)
            && let (Some(session), Some(name)) = (ssl.session(), &self.client_server_name)
        {
            newest.keep_if_empty(name, session.to_owned());
        }
        newest.handed_out(admission)
    }

    /// RFC 5705 / RFC 8446 §7.5 exporter.
    pub fn export_keying_material(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        length: u32,
    ) -> Result<Vec<u8>> {
        self.check()?;
        if !self.handshaken {
            return Err(Error::misuse(
                "export-keying-material before the handshake is complete",
            ));
        }
        memtls_engine::check_export(label, context, length)?;
        // OpenSSL's TLS 1.2 PRF takes a seed of at most 1024 bytes: the label,
        // both randoms and the context with its length.
        const TLS12_PRF_MAX_SEED: usize = 1024;
        let seed = label.len() + 64 + context.map_or(0, |c| 2 + c.len());
        if self.protocol_version() == Some(ProtocolVersion::Tls12) && seed > TLS12_PRF_MAX_SEED {
            return Err(Error::misuse(format!(
                "export-keying-material: on TLS 1.2 OpenSSL's PRF takes at most \
                 {TLS12_PRF_MAX_SEED} bytes of label, randoms and context, and this call \
                 needs {seed}: shorten the label or the context"
            )));
        }
        let mut out = vec![0u8; length as usize];
        let (context_ptr, context_len, use_context) = match context {
            Some(c) => (c.as_ptr(), c.len(), 1),
            None => (std::ptr::null(), 0, 0),
        };
        // SAFETY: the SSL is this connection's, live; `out`, `label` and the
        // context are valid for the lengths given (the label is bytes, as RFC
        // 5705 has it; the openssl crate would insist on UTF-8).
        let derived = unsafe {
            openssl_sys::SSL_export_keying_material(
                error::ssl_ptr(self.stream.ssl()),
                out.as_mut_ptr(),
                out.len(),
                label.as_ptr().cast(),
                label.len(),
                context_ptr,
                context_len,
                use_context,
            )
        };
        if derived != 1 {
            let stack = openssl::error::ErrorStack::get();
            return Err(Error::misuse(format!(
                "export-keying-material: OpenSSL could not derive {length} bytes for this \
                 label and context ({})",
                error::describe(&stack)
            )));
        }
        Ok(out)
    }

    /// Sends a TLS 1.3 KeyUpdate (asking the peer to update too).
    pub fn request_key_update(&mut self) -> Result<()> {
        self.check()?;
        memtls_engine::check_key_update(&memtls_engine::KeyUpdateState {
            handshake_complete: self.handshaken,
            version: self.protocol_version(),
            close_sent: self.close_sent,
            pending: self.outgoing_len(),
            max_buffered: self.max_buffered,
        })?;
        // SAFETY: the pointer is this connection's live `SSL`; SSL_key_update
        // only schedules the update, which the handshake call below sends.
        let scheduled = unsafe {
            error::SSL_key_update(
                error::ssl_ptr(self.stream.ssl()),
                error::SSL_KEY_UPDATE_REQUESTED,
            )
        };
        if scheduled != 1 {
            return Err(Error::misuse(
                "request-key-update: OpenSSL refused (a KeyUpdate is already pending)",
            ));
        }
        error::clear_alert();
        match self.stream.do_handshake() {
            Ok(()) => Ok(()),
            Err(e) if e.code() == ErrorCode::WANT_READ => Ok(()),
            Err(e) => {
                let err = self.error_of(&e);
                Err(self.fail(err))
            }
        }
    }
}

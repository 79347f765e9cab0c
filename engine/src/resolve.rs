//! Choosing the certificate to present: the server's chain by SNI, the
//! client's one chain.

use std::sync::Arc;

use rustls::SignatureScheme;
use rustls::pki_types::ServerName;
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Chooses among several signing chains by the SNI name the client sent.
#[derive(Debug)]
pub(crate) struct SniChains(pub(crate) Vec<Arc<CertifiedKey>>);

impl ResolvesServerCert for SniChains {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let by_name = hello.server_name().and_then(|name| {
            let name = ServerName::try_from(name).ok()?;
            self.0.iter().find(|ck| {
                ck.end_entity_cert()
                    .ok()
                    .and_then(|ee| ParsedCertificate::try_from(ee).ok())
                    .is_some_and(|p| rustls::client::verify_server_name(&p, &name).is_ok())
            })
        });
        by_name.or_else(|| self.0.first()).cloned()
    }
}

/// Presents one signing chain whenever a server asks for a client certificate.
#[derive(Debug)]
pub(crate) struct ClientChain(pub(crate) Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientChain {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

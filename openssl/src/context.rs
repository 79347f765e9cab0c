//! Contexts: the client and server configurations made OpenSSL contexts
//! (trust, versions, suites, identities, ALPN, callbacks), and the
//! connections they start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use memtls_engine::{
    Admission, ClientConfig, Error, ErrorKind, Permit, ProtocolVersion, Purpose, Result,
    ServerConfig, TlsConnection as _, TrustStore, Verification,
};
use openssl::ssl::{
    ClientHelloResponse, NameType, Ssl, SslAlert, SslContext, SslContextBuilder, SslMethod,
    SslOptions, SslSession, SslSessionCacheMode, SslVerifyMode,
};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;

use crate::config::{builder, choose_alpn, groups, signing_chain, suites, versions, wire};
use crate::ems::{NO_EMS, hello_without_ems, without_ems};
use crate::error::from_stack;
use crate::session::{self, ClientState, client_state_index};
use crate::verify::{
    Pins, name_matches, names_of, over_chain_limits, pinned_override, set_peer_name,
    verification_rules,
};
use crate::{Connection, OpenSsl, Session, trust};

impl OpenSsl {
    /// The anchors and pins of `trust` (the instance's `system` store shared).
    pub(crate) fn anchors(&self, trust: &TrustStore) -> Result<(trust::Anchors, Pins)> {
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
        groups(&mut b, config.key_exchange_groups.as_deref())?;
        crate::ems::note_server_hello(&mut b);
        // Without verification the trust store is not used (an empty one is
        // no error), as on the rustls providers.
        let (anchors, pins) = match verification {
            Verification::None => (
                trust::Anchors::Own(X509StoreBuilder::new().map_err(|e| from_stack("trust", &e))?),
                Pins {
                    certs: Vec::new(),
                    only: false,
                },
            ),
            _ => self.anchors(&config.trust)?,
        };
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
            signing_chain(
                &mut b,
                chain,
                "certificate-chain",
                Purpose::Client,
                self.admission.policy(),
            )?;
        }
        let alpn = memtls_engine::checked_alpn(&config.alpn_protocols)?;
        if !alpn.is_empty() {
            b.set_alpn_protos(&wire(&alpn))
                .map_err(|e| from_stack("alpn-protocols", &e))?;
        }
        // The context's own session cache, by server name (`connect`).
        let cache: Arc<Mutex<HashMap<String, SslSession>>> = Arc::default();
        let index = client_state_index()?;
        b.set_session_cache_mode(SslSessionCacheMode::CLIENT);
        let store = cache.clone();
        b.set_new_session_callback(move |ssl, session| match ssl.ex_data(index) {
            Some(ClientState {
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
        let policy = self.admission.policy();
        let first = signing_chain(
            &mut b,
            &config.certificate_chains[0],
            "certificate-chains[0]",
            Purpose::Server,
            policy,
        )?;
        let mut chains = vec![(names_of(&first), None)];
        for (i, chain) in config.certificate_chains.iter().enumerate().skip(1) {
            let what = format!("certificate-chains[{i}]");
            let mut other = self.server_builder(config, &what)?;
            let leaf = signing_chain(&mut other, chain, &what, Purpose::Server, policy)?;
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
                crate::notes::with(ssl, |n| n.refused = Some(NO_EMS));
                *alert = SslAlert::HANDSHAKE_FAILURE;
                return Err(openssl::error::ErrorStack::get());
            }
            Ok(ClientHelloResponse::SUCCESS)
        });
        suites(&mut b, config.cipher_suites.as_deref())?;
        groups(&mut b, config.key_exchange_groups.as_deref())?;
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
            client_state_index()?,
            ClientState {
                server_name: server_name.to_owned(),
                newest: newest.clone(),
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

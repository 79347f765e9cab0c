//! Handshakes: versions, every cipher suite, ALPN, SNI choosing the chain, version mismatch.

use std::fmt::Write as _;

use crate::harness::*;

pub(crate) fn introspection(_: &Fixtures) -> Outcome {
    let info = tls::implementation();
    ensure(!info.name.is_empty() && !info.version.is_empty(), || {
        "implementation info is empty".into()
    })?;
    let versions: Vec<_> = tls::supported_versions()
        .into_iter()
        .map(|v| version_name(Some(v)))
        .collect();
    let mut suites: Vec<_> = tls::supported_cipher_suites()
        .into_iter()
        .map(|s| format!("{:04x}:{}", s.id, s.name))
        .collect();
    suites.sort();
    Ok(format!("versions={versions:?} suites={suites:?}"))
}

pub(crate) fn handshake_with(f: &Fixtures, v: ProtocolVersion) -> Outcome {
    let mut c = client_config(f)?;
    c.min_version = Some(v);
    c.max_version = Some(v);
    let (cc, sc) = contexts(c, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let version = sorted_versions_summary(&client, &server)?;
    ensure(
        client.is_handshake_complete() && server.is_handshake_complete(),
        || "handshake not complete".into(),
    )?;
    let cs = client.cipher_suite().ok_or("client has no cipher suite")?;
    let ss = server.cipher_suite().ok_or("server has no cipher suite")?;
    ensure(cs.id == ss.id, || {
        format!("suites differ: {cs:?} vs {ss:?}")
    })?;
    let peer = client.peer_certificates();
    ensure(peer.len() == 1, || {
        format!("client saw {} peer certificates", peer.len())
    })?;
    // The path runs from the leaf the server sent to the CA it did not send.
    let verified = client.verified_chain();
    ensure(verified.len() == 2 && verified[0] == peer[0], || {
        format!("client verified a path of {} certificates", verified.len())
    })?;
    ensure(server.peer_certificates().is_empty(), || {
        "server saw a client certificate".into()
    })?;
    let echoed = send(&client, &server, b"ping")?;
    ensure(echoed == b"ping", || "payload corrupted".into())?;
    Ok(format!(
        "version={version} sni={:?} client-name={:?} resumed={} alpn={}",
        server.server_name(),
        client.server_name(),
        client.resumed(),
        alpn_name(client.alpn_protocol())
    ))
}

pub(crate) fn tls13_handshake(f: &Fixtures) -> Outcome {
    handshake_with(f, ProtocolVersion::Tls13)
}

pub(crate) fn tls12_handshake(f: &Fixtures) -> Outcome {
    handshake_with(f, ProtocolVersion::Tls12)
}

pub(crate) fn every_cipher_suite(f: &Fixtures) -> Outcome {
    let mut suites = tls::supported_cipher_suites();
    suites.sort_by_key(|s| s.id);
    let mut out = String::new();
    for suite in suites {
        let tls13 = suite.id >> 8 == 0x13;
        let version = if tls13 {
            ProtocolVersion::Tls13
        } else {
            ProtocolVersion::Tls12
        };
        // TLS 1.2 suites name the certificate's key type.
        let server_chain = if !tls13 && suite.name.contains("_RSA_") {
            "rsa"
        } else {
            "server"
        };
        let mut c = client_config(f)?;
        c.cipher_suites = Some(vec![suite.id]);
        c.min_version = Some(version);
        c.max_version = Some(version);
        let mut s = server_config(f)?;
        s.certificate_chains = vec![chain(f, server_chain)?];
        s.cipher_suites = Some(vec![suite.id]);
        let (cc, sc) = contexts(c, s)?;
        let (client, server, pair) = connect(&cc, &sc, "localhost")?;
        pair.ok().map_err(|e| format!("{}: {e}", suite.name))?;
        let got = client.cipher_suite().ok_or("no suite")?;
        ensure(
            got.id == suite.id && server.cipher_suite().map(|s| s.id) == Some(suite.id),
            || format!("{} negotiated {:?}", suite.name, got),
        )?;
        let data = pattern(100_000);
        ensure(send(&client, &server, &data)? == data, || {
            format!("{}: data corrupted", suite.name)
        })?;
        ensure(send(&server, &client, &data)? == data, || {
            format!("{}: data corrupted", suite.name)
        })?;
        let _ = write!(
            out,
            "{:04x}/{}/{} ",
            suite.id,
            got.name,
            version_name(client.protocol_version())
        );
    }
    Ok(out.trim_end().to_string())
}

/// X25519MLKEM768's IANA id.
const X25519MLKEM768: u16 = 0x11ec;

/// Key-exchange groups: both sides report the same group; by default it is
/// the provider's first (X25519MLKEM768 where the provider has it); a client
/// limited to one classical group gets it (from a server preferring the
/// hybrid: a HelloRetryRequest) with TLS 1.3 and 1.2; a server that accepts
/// only the hybrid refuses a classical client with handshake_failure (a
/// provider without the hybrid refuses that configuration, naming it).
pub(crate) fn key_exchange_groups(f: &Fixtures) -> Outcome {
    let supported = tls::supported_key_exchange_groups();
    let ids: Vec<u16> = supported.iter().map(|g| g.id).collect();
    ensure(
        [0x001d, 0x0017, 0x0018].iter().all(|id| ids.contains(id)),
        || format!("x25519, secp256r1 or secp384r1 missing from {supported:?}"),
    )?;
    ensure(
        supported
            .iter()
            .all(|g| !g.name.is_empty() && !g.name.starts_with("0x")),
        || format!("a group without its IANA name in {supported:?}"),
    )?;
    let negotiated = |c: ClientConfig, s: ServerConfig| -> Result<(u16, String), String> {
        let (cc, sc) = contexts(c, s)?;
        let (client, server, pair) = connect(&cc, &sc, "localhost")?;
        pair.ok()?;
        let (cg, sg) = (client.key_exchange_group(), server.key_exchange_group());
        let group = cg.clone().ok_or("the client reports no group")?;
        ensure(cg == sg, || format!("client {cg:?}, server {sg:?}"))?;
        ensure(send(&client, &server, b"ping")? == b"ping", || {
            "payload corrupted".into()
        })?;
        Ok((
            group.id,
            version_name(client.protocol_version()).to_string(),
        ))
    };
    let (default, _) = negotiated(client_config(f)?, server_config(f)?)?;
    ensure(default == ids[0], || {
        format!(
            "default handshake used 0x{default:04x}, the provider prefers 0x{:04x}",
            ids[0]
        )
    })?;
    let mut out = String::from("default=preferred");
    for id in [0x001d, 0x0017, 0x0018] {
        for version in [ProtocolVersion::Tls13, ProtocolVersion::Tls12] {
            let mut c = client_config(f)?;
            c.key_exchange_groups = Some(vec![id]);
            c.min_version = Some(version);
            c.max_version = Some(version);
            // In TLS 1.2 the client's groups also name the curves it accepts
            // for ECDSA certificates (RFC 8422 §5.1), which OpenSSL holds the
            // server to: an RSA certificate keeps the group the only question.
            let mut s = server_config(f)?;
            if version == ProtocolVersion::Tls12 {
                s.certificate_chains = vec![chain(f, "rsa")?];
            }
            let (got, v) = negotiated(c, s)?;
            ensure(got == id, || {
                format!("asked for 0x{id:04x}, got 0x{got:04x}")
            })?;
            let name = &supported.iter().find(|g| g.id == id).ok_or("gone")?.name;
            let _ = write!(out, " {name}/{v}");
        }
    }
    let mut pq_only = server_config(f)?;
    pq_only.key_exchange_groups = Some(vec![X25519MLKEM768]);
    if ids.contains(&X25519MLKEM768) {
        let mut c = client_config(f)?;
        c.key_exchange_groups = Some(vec![X25519MLKEM768]);
        let (got, _) = negotiated(c, pq_only.clone())?;
        ensure(got == X25519MLKEM768, || {
            format!("hybrid-only got 0x{got:04x}")
        })?;
        let mut c = client_config(f)?;
        c.key_exchange_groups = Some(vec![0x001d, 0x0017]);
        let (cc, sc) = contexts(c, pq_only)?;
        let (_c, _s, pair) = connect(&cc, &sc, "localhost")?;
        exactly(
            pair.outcome(),
            "client=alert-received(40) server=alert-sent(40)",
        )?;
    } else {
        let e = tls::server_context(&pq_only)
            .err()
            .ok_or("a hybrid-only server was accepted by a provider without the hybrid")?;
        ensure(
            matches!(e.kind, ErrorKind::Configuration) && e.message.contains("X25519MLKEM768"),
            || format!("hybrid-only server: {}", err(e.clone())),
        )?;
    }
    out.push_str(" hybrid-only=refuses-classical-clients");
    Ok(out)
}

pub(crate) fn alpn_match(f: &Fixtures) -> Outcome {
    let mut c = client_config(f)?;
    c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut s = server_config(f)?;
    s.alpn_protocols = vec![b"http/1.1".to_vec(), b"h2".to_vec()];
    let (cc, sc) = contexts(c, s)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let (ca, sa) = (
        alpn_name(client.alpn_protocol()),
        alpn_name(server.alpn_protocol()),
    );
    ensure(ca == sa, || format!("ALPN differs: {ca} vs {sa}"))?;
    Ok(format!("alpn={ca}"))
}

pub(crate) fn alpn_no_overlap(f: &Fixtures) -> Outcome {
    let mut c = client_config(f)?;
    c.alpn_protocols = vec![b"h2".to_vec()];
    let mut s = server_config(f)?;
    s.alpn_protocols = vec![b"imap".to_vec()];
    let (cc, sc) = contexts(c, s)?;
    let (_c, _s, pair) = connect(&cc, &sc, "localhost")?;
    let out = pair.outcome();
    exactly(out, "client=alert-received(120) server=alert-sent(120)")
}

pub(crate) fn sni_chooses_chain(f: &Fixtures) -> Outcome {
    let mut s = server_config(f)?;
    s.certificate_chains = vec![chain(f, "server")?, chain(f, "b")?];
    let (cc, sc) = contexts(client_config(f)?, s)?;
    let mut out = String::new();
    for name in ["localhost", "b.test"] {
        let (client, server, pair) = connect(&cc, &sc, name)?;
        pair.ok().map_err(|e| format!("{name}: {e}"))?;
        ensure(server.server_name().as_deref() == Some(name), || {
            format!("server saw SNI {:?}", server.server_name())
        })?;
        let leaf = client
            .peer_certificates()
            .into_iter()
            .next()
            .ok_or("no peer cert")?;
        let expected = fx(
            f,
            if name == "b.test" {
                "b.der"
            } else {
                "server.der"
            },
        )?;
        ensure(leaf == expected, || {
            format!("{name}: wrong certificate presented")
        })?;
        let _ = write!(out, "{name}:ok ");
    }
    Ok(out.trim_end().into())
}

pub(crate) fn version_mismatch(f: &Fixtures) -> Outcome {
    let mut c = client_config(f)?;
    c.max_version = Some(ProtocolVersion::Tls12);
    let mut s = server_config(f)?;
    s.min_version = Some(ProtocolVersion::Tls13);
    let (cc, sc) = contexts(c, s)?;
    let (_c, _s, pair) = connect(&cc, &sc, "localhost")?;
    let out = pair.outcome();
    exactly(out, "client=alert-received(70) server=alert-sent(70)")
}

/// The acceptor: it reads the ClientHello, reports the name, ALPN protocols
/// and suites, and continues as a connection of the context chosen by name;
/// a context that cannot serve the client fails with its alert waiting on the
/// acceptor; `refuse` sends the alert given.
pub(crate) fn acceptor_chooses_context(f: &Fixtures) -> Outcome {
    let mut c = client_config(f)?;
    c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let cc = tls::client_context(&c).map_err(err)?;
    let mut b = server_config(f)?;
    b.certificate_chains = vec![chain(f, "b")?];
    b.alpn_protocols = vec![b"http/1.1".to_vec()];
    let by_name = tls::server_context(&b).map_err(err)?;
    let mut x = server_config(f)?;
    x.alpn_protocols = vec![b"x".to_vec()];
    let no_overlap = tls::server_context(&x).map_err(err)?;
    // Starts a client and an acceptor fed its ClientHello; returns both and
    // the ciphertext the acceptor did not take.
    let hello = |name: &str| -> Result<_, String> {
        let client = cc.connect(name).map_err(err)?;
        let acceptor = tls::acceptor().map_err(err)?;
        ensure(acceptor.client_hello().is_none(), || {
            "hello before any bytes".into()
        })?;
        let bytes = client.take(u32::MAX);
        let took = acceptor.feed(&bytes).map_err(err)? as usize;
        Ok((client, acceptor, bytes[took..].to_vec()))
    };
    let (client, acceptor, rest) = hello("b.test")?;
    let h = acceptor
        .client_hello()
        .ok_or("no ClientHello after feeding it")?;
    ensure(h.server_name.as_deref() == Some("b.test"), || {
        format!("server name {:?}", h.server_name)
    })?;
    ensure(h.alpn_protocols == c.alpn_protocols, || {
        format!("alpn {:?}", h.alpn_protocols)
    })?;
    ensure(!h.cipher_suites.is_empty(), || "no suites".into())?;
    let server = acceptor.accept(&by_name).map_err(err)?;
    if !rest.is_empty() {
        server.feed(&rest).map_err(err)?;
    }
    handshake(&client, &server, u32::MAX).ok()?;
    let leaf = client.peer_certificates().into_iter().next();
    ensure(leaf.as_deref() == Some(fx(f, "b.der")?), || {
        "the chosen context's certificate was not presented".into()
    })?;
    ensure(send(&client, &server, b"ping")? == b"ping", || {
        "corrupted".into()
    })?;
    let again = acceptor.accept(&by_name).err().map(|e| kind(&e));
    // A context without a common ALPN protocol: its alert waits here.
    let (client, acceptor, _) = hello("localhost")?;
    let refused = acceptor.accept(&no_overlap).err().map(|e| kind(&e));
    let alert = acceptor.take(u32::MAX);
    let received = client.feed(&alert).and_then(|_| client.handshake()).err();
    // Refused by the caller.
    let (client, acceptor, _) = hello("localhost")?;
    acceptor.refuse(112).map_err(err)?;
    let alert = acceptor.take(u32::MAX);
    let refused_by_caller = client.feed(&alert).and_then(|_| client.handshake()).err();
    Ok(format!(
        "sni=b.test alpn={} accept-again={} no-common-alpn={} client-got={} refuse(112) client-got={}",
        alpn_name(server.alpn_protocol()),
        again.unwrap_or_default(),
        refused.unwrap_or_default(),
        received.map(|e| kind(&e)).unwrap_or_default(),
        refused_by_caller.map(|e| kind(&e)).unwrap_or_default(),
    ))
}

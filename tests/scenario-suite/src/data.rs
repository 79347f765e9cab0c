//! Data: transfers, close_notify and ragged EOF, resumption, exporters, key update.

use crate::harness::*;

pub(crate) fn transfer_16mib(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let data = pattern(16 << 20);
    let got = send(&client, &server, &data)?;
    ensure(got.len() == data.len(), || {
        format!("received {} bytes", got.len())
    })?;
    let first_diff = got.iter().zip(&data).position(|(a, b)| a != b);
    ensure(first_diff.is_none(), || {
        format!("byte {first_diff:?} differs")
    })?;
    let back = send(&server, &client, &data[..1 << 20])?;
    ensure(back == data[..1 << 20], || {
        "reverse direction corrupted".into()
    })?;
    Ok(format!(
        "client->server={} server->client={} identical",
        got.len(),
        back.len()
    ))
}

pub(crate) fn byte_at_a_time(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let client = cc.connect("localhost").map_err(err)?;
    let server = sc.accept().map_err(err)?;
    handshake(&client, &server, 1).ok()?;
    client.write(b"one byte at a time").map_err(err)?;
    let mut got = Vec::new();
    loop {
        let b = client.take(1);
        if b.is_empty() {
            break;
        }
        ensure(server.feed(&b).map_err(err)? == 1, || {
            "a single byte was not accepted".into()
        })?;
        drain(&server, &mut got)?;
    }
    ensure(got == b"one byte at a time", || format!("got {got:?}"))?;
    Ok(format!(
        "version={}",
        version_name(client.protocol_version())
    ))
}

/// One `read` returns the plaintext of every record fed so far, up to `max`,
/// not a record per call: 40,000 bytes are three records (16,384 + 16,384 +
/// 7,232); fed as the receiver accepts them, a `read(20,000)` spans the first
/// two.
pub(crate) fn read_across_records(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let data = pattern(40_000);
    let mut written = 0;
    while written < data.len() {
        match client.write(&data[written..]).map_err(err)? {
            WriteOutcome::Written(n) if n > 0 => written += n as usize,
            other => return Err(format!("writing 40,000 bytes gave {other:?} at {written}")),
        }
    }
    let cipher = client.take(u32::MAX);
    let mut fed = 0;
    while fed < cipher.len() {
        match server.feed(&cipher[fed..]).map_err(err)? as usize {
            0 => break,
            n => fed += n,
        }
    }
    let mut got = match server.read(20_000).map_err(err)? {
        ReadOutcome::Data(d) => d,
        other => return Err(format!("read(20000) gave {other:?}")),
    };
    let first = got.len();
    ensure(first == 20_000, || {
        format!("read(20000) returned {first} bytes (a record holds 16,384)")
    })?;
    loop {
        drain(&server, &mut got)?;
        if fed == cipher.len() {
            break;
        }
        match server.feed(&cipher[fed..]).map_err(err)? as usize {
            0 => return Err(format!("feeding stalled at {fed} of {}", cipher.len())),
            n => fed += n,
        }
    }
    ensure(got == data, || {
        format!("received {} bytes, not the 40,000 sent", got.len())
    })?;
    Ok(format!("read-20000={first} identical"))
}

pub(crate) fn close_notify(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    send(&client, &server, b"last words")?;
    let first = client.shutdown().map_err(err)?;
    ensure(first == Progress::WantWrite, || {
        format!("first shutdown gave {first:?}")
    })?;
    transfer(&client, &server, u32::MAX).map_err(err)?;
    let again = client.shutdown().map_err(err)?;
    ensure(again == Progress::WantRead, || {
        format!("shutdown before peer's gave {again:?}")
    })?;
    let read = server.read(100).err().map(|e| kind(&e));
    ensure(read.as_deref() == Some("closed"), || {
        format!("server read gave {read:?}")
    })?;
    ensure(server.peer_closed(), || {
        "server did not see close_notify".into()
    })?;
    server.shutdown().map_err(err)?;
    transfer(&server, &client, u32::MAX).map_err(err)?;
    let done = client.shutdown().map_err(err)?;
    ensure(done == Progress::Done, || {
        format!("final shutdown gave {done:?}")
    })?;
    let server_done = server.shutdown().map_err(err)?;
    Ok(format!(
        "first={first:?} second={again:?} server-read={} final={done:?} server-final={server_done:?}",
        read.unwrap_or_default()
    ))
}

pub(crate) fn ragged_eof(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    send(&client, &server, b"truncated?")?;
    server.eof().map_err(err)?;
    let read = server.read(100).err().map(|e| kind(&e));
    ensure(read.as_deref() == Some("ragged-eof"), || {
        format!("read after eof gave {read:?}")
    })?;
    // A handshake cut short by the transport is a ragged EOF too.
    let c2 = cc.connect("localhost").map_err(err)?;
    let s2 = sc.accept().map_err(err)?;
    transfer(&c2, &s2, u32::MAX).map_err(err)?;
    c2.eof().map_err(err)?;
    let hs = c2.handshake().err().map(|e| kind(&e));
    ensure(hs.as_deref() == Some("ragged-eof"), || {
        format!("handshake after eof gave {hs:?}")
    })?;
    Ok(format!(
        "read={} handshake={}",
        read.unwrap_or_default(),
        hs.unwrap_or_default()
    ))
}

pub(crate) fn resumption(f: &Fixtures, v: ProtocolVersion, tickets: bool) -> Outcome {
    let mut c = client_config(f)?;
    c.min_version = Some(v);
    c.max_version = Some(v);
    let mut s = server_config(f)?;
    s.session_tickets = tickets;
    let (cc, sc) = contexts(c, s)?;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (client, server, pair) = connect(&cc, &sc, "localhost")?;
        pair.ok()?;
        // TLS 1.3 tickets arrive after the handshake: let the client read them.
        send(&server, &client, b"x")?;
        ensure(client.resumed() == server.resumed(), || {
            "sides disagree on resumption".into()
        })?;
        seen.push(client.resumed());
    }
    ensure(seen == [false, true], || format!("resumed flags {seen:?}"))?;
    Ok(format!("first={} second={}", seen[0], seen[1]))
}

pub(crate) fn resumption_tls13(f: &Fixtures) -> Outcome {
    Ok(format!(
        "tickets: {}; stateful: {}",
        resumption(f, ProtocolVersion::Tls13, true)?,
        resumption(f, ProtocolVersion::Tls13, false)?
    ))
}

pub(crate) fn resumption_tls12(f: &Fixtures) -> Outcome {
    Ok(format!(
        "tickets: {}; session-ids: {}",
        resumption(f, ProtocolVersion::Tls12, true)?,
        resumption(f, ProtocolVersion::Tls12, false)?
    ))
}

pub(crate) fn exporter(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let client = cc.connect("localhost").map_err(err)?;
    let server = sc.accept().map_err(err)?;
    let early = client
        .export_keying_material(b"EXPORTER-test", None, 32)
        .err()
        .map(|e| kind(&e));
    ensure(early.as_deref() == Some("misuse"), || {
        format!("export before handshake: {early:?}")
    })?;
    handshake(&client, &server, u32::MAX).ok()?;
    let a = client
        .export_keying_material(b"EXPORTER-test", Some(b"ctx"), 32)
        .map_err(err)?;
    let b = server
        .export_keying_material(b"EXPORTER-test", Some(b"ctx"), 32)
        .map_err(err)?;
    ensure(a == b, || "exporter outputs differ".into())?;
    let other = client
        .export_keying_material(b"EXPORTER-other", Some(b"ctx"), 32)
        .map_err(err)?;
    ensure(a != other, || {
        "different labels gave the same output".into()
    })?;
    let too_long = client
        .export_keying_material(b"x", None, 1 << 20)
        .err()
        .map(|e| kind(&e));
    Ok(format!(
        "len={} equal=true too-long={}",
        a.len(),
        too_long.unwrap_or_default()
    ))
}

pub(crate) fn key_update(f: &Fixtures) -> Outcome {
    let (cc, sc) = contexts(client_config(f)?, server_config(f)?)?;
    let (client, server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    client.request_key_update().map_err(err)?;
    ensure(
        send(&client, &server, b"after update")? == b"after update",
        || "corrupted".into(),
    )?;
    server.request_key_update().map_err(err)?;
    ensure(send(&server, &client, b"reply")? == b"reply", || {
        "corrupted".into()
    })?;
    let mut c12 = client_config(f)?;
    c12.max_version = Some(ProtocolVersion::Tls12);
    let (cc, sc) = contexts(c12, server_config(f)?)?;
    let (client, _server, pair) = connect(&cc, &sc, "localhost")?;
    pair.ok()?;
    let on12 = client.request_key_update().err().map(|e| kind(&e));
    Ok(format!("tls13=ok tls12={}", on12.unwrap_or_default()))
}

/// Session handles (`connect-with`, `connection.session`) at `v`: a session
/// taken from one connection resumes the next; a TLS 1.3 one only once, a
/// TLS 1.2 one again; another context does not offer it; `connect-with`
/// connections leave the context's cache alone.
fn session_handles_at(f: &Fixtures, v: ProtocolVersion) -> Outcome {
    let mut c = client_config(f)?;
    c.min_version = Some(v);
    c.max_version = Some(v);
    let (cc, sc) = contexts(c.clone(), server_config(f)?)?;
    let resumes = |cc: &ClientContext, session: Option<&Session>| -> Result<_, String> {
        let client = cc.connect_with("localhost", session).map_err(err)?;
        let server = sc.accept().map_err(err)?;
        handshake(&client, &server, u32::MAX).ok()?;
        // TLS 1.3 tickets arrive after the handshake: let the client read them.
        send(&server, &client, b"x")?;
        ensure(client.resumed() == server.resumed(), || {
            "sides disagree on resumption".into()
        })?;
        Ok((client.resumed(), client.session().map_err(err)?))
    };
    let (first, session) = resumes(&cc, None)?;
    let session = session.ok_or("no session after the first connection")?;
    let info = session.info();
    ensure(info.version == v, || {
        format!("session version {:?}", info.version)
    })?;
    ensure(!info.id.is_empty() && info.created > 0, || {
        format!(
            "session id {} bytes, created {}",
            info.id.len(),
            info.created
        )
    })?;
    ensure(info.has_ticket == (info.ticket_lifetime > 0), || {
        format!(
            "ticket {} lifetime {}",
            info.has_ticket, info.ticket_lifetime
        )
    })?;
    let (second, newer) = resumes(&cc, Some(&session))?;
    let usable = session.is_usable();
    let (again, _) = resumes(&cc, Some(&session))?;
    let other_cc = tls::client_context(&c).map_err(err)?;
    let fresh = newer.ok_or("no session on the resumed connection")?;
    let (elsewhere, _) = resumes(&other_cc, Some(&fresh))?;
    let cache = {
        let client = cc.connect("localhost").map_err(err)?;
        let server = sc.accept().map_err(err)?;
        handshake(&client, &server, u32::MAX).ok()?;
        client.resumed()
    };
    Ok(format!(
        "first={first} resumed={second} usable-after={usable} again={again} \
         other-context={elsewhere} cache-used={cache} ticket={}",
        info.has_ticket
    ))
}

pub(crate) fn session_handles(f: &Fixtures) -> Outcome {
    Ok(format!(
        "tls13: {}; tls12: {}",
        session_handles_at(f, ProtocolVersion::Tls13)?,
        session_handles_at(f, ProtocolVersion::Tls12)?
    ))
}

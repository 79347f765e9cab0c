//! Arbitrary PEM/DER and settings in configurations: contexts and chain
//! verification must refuse with an error, never panic.
#![no_main]

use memtls_engine::{
    ClientAuth, ClientConfig, ServerConfig, SigningChain, TrustStore, Verification,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Split the input into up to four blobs at 0xff 0x00 markers.
    let mut parts = data.split(|&b| b == 0xff).map(<[u8]>::to_vec);
    let a = parts.next().unwrap_or_default();
    let b = parts.next().unwrap_or_default();
    let c = parts.next().unwrap_or_default();
    let flags = parts.next().unwrap_or_default();
    let flag = |i: usize| flags.get(i).copied().unwrap_or(0);
    // A signing chain from the input, or a host identity named by it (the
    // admission grants one, `fuzz`), alone or beside a chain.
    let signing = |certificates: Vec<Vec<u8>>, key: &Vec<u8>, bits: u8, name: &[u8]| {
        let name = String::from_utf8_lossy(name).into_owned();
        match bits & 6 {
            2 => SigningChain {
                host_identity: Some(name),
                ..Default::default()
            },
            4 => SigningChain {
                certificates,
                private_key: key.clone(),
                private_key_password: None,
                host_identity: Some(name),
            },
            _ => SigningChain {
                certificates,
                private_key: key.clone(),
                private_key_password: None,
                host_identity: None,
            },
        }
    };
    let engine = memtls_fuzz::engine();
    let certs = memtls_fuzz::certs();
    let trust = TrustStore {
        system: false,
        anchors: vec![a.clone()],
        pinned: vec![b.clone()],
    };
    let client = ClientConfig {
        trust: trust.clone(),
        certificate_chain: (flag(0) & 1 == 1).then(|| signing(vec![b.clone()], &c, flag(0), &a)),
        alpn_protocols: vec![c.clone()],
        cipher_suites: (flag(1) & 1 == 1).then(|| {
            flags
                .chunks(2)
                .map(|w| u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))
                .collect()
        }),
        key_exchange_groups: (flag(5) & 1 == 1).then(|| {
            flags
                .chunks(2)
                .map(|w| u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))
                .collect()
        }),
        send_sni: flag(2) & 1 == 1,
        ..Default::default()
    };
    let _ = engine.client_context(&client, Verification::Full, memtls_fuzz::admission());
    let server = ServerConfig {
        certificate_chains: vec![signing(
            vec![a.clone(), certs.chain.clone()],
            &c,
            flag(3),
            &b,
        )],
        client_auth: if flag(3) & 1 == 1 {
            ClientAuth::Required(trust.clone())
        } else {
            ClientAuth::None
        },
        alpn_protocols: vec![b.clone()],
        ..Default::default()
    };
    let _ = engine.server_context(&server, memtls_fuzz::admission());
    let _ = memtls_engine::certificate_info(&a);
    let _ = memtls_engine::certificate_info(&c);
    let chain = [a, b, c];
    let call = memtls_engine::ChainCheck {
        trust: &trust,
        chain: &chain,
        server_name: "localhost",
        at_time: Some(u64::from(flag(4)) << 24),
    };
    let _ = engine.verify_server_chain(&call, memtls_fuzz::admission());
});

//! Arbitrary peer bytes to a server connection at each handshake stage: the first
//! byte picks how far a real client got before the fuzzer's bytes arrive.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&stage, rest)) = data.split_first() else {
        return;
    };
    let (_client, mut server) = memtls_fuzz::pair_at_stage(stage % 6);
    memtls_fuzz::drive(&mut server, rest);
});

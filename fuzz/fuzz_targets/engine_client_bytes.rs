//! Arbitrary peer bytes to a client connection at each handshake stage: the first
//! byte picks how far a real server got before the fuzzer's bytes arrive.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&stage, rest)) = data.split_first() else {
        return;
    };
    let (mut client, _server) = memtls_fuzz::pair_at_stage(stage % 6);
    memtls_fuzz::drive(&mut client, rest);
});

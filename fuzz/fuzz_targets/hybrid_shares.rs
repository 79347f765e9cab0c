//! Arbitrary X25519MLKEM768 key shares, as a hostile peer sends them: as a
//! client's share to the server side of the group (`start_and_complete`), as a
//! server's answer to a real client (`complete`), each as given and cut or
//! padded to the length the group expects, so that the ML-KEM and X25519
//! checks behind the length check are reached too. Refused or not, never a
//! panic.
#![no_main]

use memtls_engine::X25519MLKEM768;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let sized = |len: usize| {
        let mut v = data.to_vec();
        v.resize(len, 0);
        v
    };
    let _ = X25519MLKEM768.start_and_complete(data);
    let _ = X25519MLKEM768.start_and_complete(&sized(1216));
    for share in [data.to_vec(), sized(1120)] {
        if let Ok(client) = X25519MLKEM768.start() {
            let _ = client.complete(&share);
        }
    }
});

//! Guest AES-GCM study: AEAD throughput inside Wasm, as the guest provider's
//! records see it (16 KiB sealed, then opened, 13 bytes of associated data),
//! for ring 0.17 (the guest's crypto: bitsliced `aes_nohw` with 32-bit words
//! and `gcm_nohw` on wasm32) and RustCrypto's `aes-gcm` (0.10: fixslice32;
//! 0.11: fixslice64 and 64-bit POLYVAL on Wasm), with ring's ChaCha20-Poly1305
//! for reference. Build and run as the guest is built (simd128 on):
//!
//! ```sh
//! cd tests/aead-study
//! CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128" \
//!   CFLAGS_wasm32_wasip2=-msimd128 cargo build --release --target wasm32-wasip2
//! ../../target/hosts/bin/wasmtime run target/wasm32-wasip2/release/memtls-aead-study.wasm
//! ```
//!
//! Prints MB/s of plaintext sealed and opened, median of five rounds of 16 MiB.

use std::time::Instant;

const RECORD: usize = 16 * 1024;
const ROUND: usize = 16 << 20;
const AAD: [u8; 13] = [0x17, 3, 3, 0x40, 0x11, 0, 0, 0, 0, 0, 0, 0, 0];

/// Seals then opens `ROUND` bytes in records with `seal_open`; MB/s of each.
fn measure(name: &str, mut seal_open: impl FnMut(u64, &mut Vec<u8>) -> bool) {
    let mut seal = Vec::new();
    let mut open = Vec::new();
    for _ in 0..5 {
        let mut buf = vec![0x5au8; RECORD];
        let mut sealed_ns = 0u128;
        let mut opened_ns = 0u128;
        for i in 0..(ROUND / RECORD) as u64 {
            buf.truncate(RECORD);
            buf.fill(0x5a);
            let start = Instant::now();
            assert!(seal_open(i, &mut buf), "{name}: seal failed");
            sealed_ns += start.elapsed().as_nanos();
            let start = Instant::now();
            assert!(seal_open(u64::MAX - i, &mut buf), "{name}: open failed");
            opened_ns += start.elapsed().as_nanos();
        }
        seal.push(ROUND as f64 / 1e6 / (sealed_ns as f64 / 1e9));
        open.push(ROUND as f64 / 1e6 / (opened_ns as f64 / 1e9));
    }
    seal.sort_by(f64::total_cmp);
    open.sort_by(f64::total_cmp);
    println!(
        "{name:<44} seal {:>7.1} MB/s   open {:>7.1} MB/s",
        seal[2], open[2]
    );
}

fn nonce(i: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&i.to_be_bytes());
    n
}

/// ring's AEADs: `i` below 2^63 seals with nonce `i`, above it opens the
/// record sealed with nonce `u64::MAX - i`.
fn ring_aead(alg: &'static ring::aead::Algorithm) -> impl FnMut(u64, &mut Vec<u8>) -> bool {
    let key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(alg, &vec![7u8; alg.key_len()]).unwrap(),
    );
    move |i, buf| {
        let aad = ring::aead::Aad::from(AAD);
        if i < 1 << 63 {
            let n = ring::aead::Nonce::assume_unique_for_key(nonce(i));
            key.seal_in_place_append_tag(n, aad, buf).is_ok()
        } else {
            let n = ring::aead::Nonce::assume_unique_for_key(nonce(u64::MAX - i));
            let len = key.open_in_place(n, aad, buf).map(|p| p.len());
            len.map(|l| buf.truncate(l)).is_ok()
        }
    }
}

macro_rules! rustcrypto {
    ($krate:ident, $in_place:ident, $cipher:ty, $key_len:literal) => {{
        use $krate::aead::{KeyInit as _, $in_place as _};
        let cipher = <$cipher>::new_from_slice(&[7u8; $key_len]).unwrap();
        move |i: u64, buf: &mut Vec<u8>| {
            if i < 1 << 63 {
                cipher
                    .encrypt_in_place((&nonce(i)).into(), &AAD, buf)
                    .is_ok()
            } else {
                cipher
                    .decrypt_in_place((&nonce(u64::MAX - i)).into(), &AAD, buf)
                    .is_ok()
            }
        }
    }};
}

fn main() {
    println!(
        "AEAD in Wasm: {RECORD}-byte records, median of 5 rounds of {} MiB",
        ROUND >> 20
    );
    measure("ring 0.17 AES-128-GCM", ring_aead(&ring::aead::AES_128_GCM));
    measure("ring 0.17 AES-256-GCM", ring_aead(&ring::aead::AES_256_GCM));
    measure(
        "ring 0.17 ChaCha20-Poly1305",
        ring_aead(&ring::aead::CHACHA20_POLY1305),
    );
    measure(
        "aes-gcm 0.10.3 Aes128Gcm (fixslice32)",
        rustcrypto!(aes_gcm_010, AeadInPlace, aes_gcm_010::Aes128Gcm, 16),
    );
    measure(
        "aes-gcm 0.10.3 Aes256Gcm (fixslice32)",
        rustcrypto!(aes_gcm_010, AeadInPlace, aes_gcm_010::Aes256Gcm, 32),
    );
    measure(
        "aes-gcm 0.11.1 Aes128Gcm (fixslice64)",
        rustcrypto!(aes_gcm, AeadInOut, aes_gcm::Aes128Gcm, 16),
    );
    measure(
        "aes-gcm 0.11.1 Aes256Gcm (fixslice64)",
        rustcrypto!(aes_gcm, AeadInOut, aes_gcm::Aes256Gcm, 32),
    );
}

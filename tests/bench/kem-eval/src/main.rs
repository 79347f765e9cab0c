//! ML-KEM-768 candidates for memtls's X25519MLKEM768, measured the same way:
//! key generation, encapsulation and decapsulation, timed over `ROUNDS`. The
//! two pure-Rust candidates run FIPS 203's deterministic forms from fixed
//! seeds; with both features they must produce the same bytes from the same
//! seeds (each is the other's known-answer test). aws-lc-rs draws its own
//! randomness.

use std::time::Instant;

const ROUNDS: u32 = 300;

/// What one round produced: encapsulation key, ciphertext, shared secret.
type Round = (Vec<u8>, Vec<u8>, Vec<u8>);

fn seed(i: u32, n: usize, tag: u8) -> Vec<u8> {
    (0..n)
        .map(|j| (j as u32).wrapping_mul(31).wrapping_add(i * 7 + u32::from(tag)) as u8)
        .collect()
}

#[cfg(feature = "rc")]
mod rc {
    use ml_kem::kem::{Decapsulate, KeyExport};
    use ml_kem::{DecapsulationKey, MlKem768};
    pub fn round(d: &[u8], m: &[u8]) -> super::Round {
        let seed: [u8; 64] = d.try_into().unwrap();
        let dk = DecapsulationKey::<MlKem768>::from_seed(seed.into());
        let ek = dk.encapsulation_key();
        let m: [u8; 32] = m.try_into().unwrap();
        let (ct, ss) = ek.encapsulate_deterministic(&m.into());
        assert_eq!(ss, dk.decapsulate(&ct));
        (ek.to_bytes().to_vec(), ct.to_vec(), ss.to_vec())
    }
}

#[cfg(feature = "lc")]
mod lc {
    use libcrux_ml_kem::mlkem768;
    pub fn round(d: &[u8], m: &[u8]) -> super::Round {
        let pair = mlkem768::generate_key_pair(d.try_into().unwrap());
        assert!(mlkem768::validate_public_key(pair.public_key()));
        let (ct, ss) = mlkem768::encapsulate(pair.public_key(), m.try_into().unwrap());
        assert_eq!(ss, mlkem768::decapsulate(pair.private_key(), &ct));
        let ek = pair.public_key().as_slice().to_vec();
        (ek, ct.as_slice().to_vec(), ss.to_vec())
    }
}

#[cfg(feature = "awslc")]
mod awslc {
    use aws_lc_rs::kem::{DecapsulationKey, ML_KEM_768};
    pub fn round(_: &[u8], _: &[u8]) -> super::Round {
        let dk = DecapsulationKey::generate(&ML_KEM_768).unwrap();
        let ek = dk.encapsulation_key().unwrap();
        let (ct, ss) = ek.encapsulate().unwrap();
        let again = dk.decapsulate(ct.as_ref().into()).unwrap();
        assert_eq!(ss.as_ref(), again.as_ref());
        let ek = ek.key_bytes().unwrap().as_ref().to_vec();
        (ek, ct.as_ref().to_vec(), ss.as_ref().to_vec())
    }
}

#[allow(dead_code)]
fn time(name: &str, f: fn(&[u8], &[u8]) -> Round) -> Vec<Round> {
    let start = Instant::now();
    let out: Vec<Round> = (0..ROUNDS)
        .map(|i| f(&seed(i, 64, 1), &seed(i, 32, 2)))
        .collect();
    let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
    println!(
        "{name}: keygen+encaps+decaps {per:.1} us per round ({ROUNDS} rounds); ek {} B, ct {} B",
        out[0].0.len(),
        out[0].1.len()
    );
    out
}

fn main() {
    #[cfg(feature = "rc")]
    let _rc = time("RustCrypto ml-kem 0.3.4", rc::round);
    #[cfg(feature = "lc")]
    let _lc = time("libcrux-ml-kem 0.0.11", lc::round);
    #[cfg(feature = "awslc")]
    time("aws-lc-rs", awslc::round);
    #[cfg(all(feature = "rc", feature = "lc"))]
    {
        assert!(_rc == _lc, "the two implementations disagree");
        println!("both give the same key, ciphertext and secret for all {ROUNDS} seeds");
    }
}

//! X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem, code point 0x11EC): the hybrid
//! post-quantum key exchange browsers and rustls's aws-lc-rs provider offer
//! first, here for both rustls providers alike. ML-KEM-768 is libcrux-ml-kem
//! (verified for correctness and secret independence; docs/post-quantum.md
//! says why), X25519 is *ring*'s, through rustls's own group.
//!
//! Shares put ML-KEM first: the client sends its encapsulation key (1,184
//! bytes) then its X25519 public key (32), the server its ciphertext (1,088)
//! then its X25519 key; the secret is the ML-KEM secret then the X25519 one.
//! The client also offers X25519 alone from the same key (rustls's hybrid
//! component), so a server without the hybrid answers without a retry.

use libcrux_ml_kem::mlkem768;
use ring::rand::SecureRandom as _;
use rustls::crypto::{ActiveKeyExchange, CompletedKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{Error, NamedGroup, PeerMisbehaved, ProtocolVersion};

/// The group, for a provider's `kx_groups`.
pub static X25519MLKEM768: &dyn SupportedKxGroup = &X25519MlKem768;

/// Bytes of an ML-KEM-768 encapsulation key, and of its ciphertext.
const EK_LEN: usize = 1184;
const CT_LEN: usize = 1088;
/// Bytes of an X25519 public key.
const X25519_LEN: usize = 32;

#[derive(Debug)]
struct X25519MlKem768;

/// `n` bytes from the system's randomness (the host's, or WASI's in the guest).
fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| Error::FailedToGetRandomBytes)?;
    Ok(out)
}

/// A key share of the wrong length or an invalid ML-KEM key: the peer's
/// fault, answered with illegal_parameter.
fn invalid_share() -> Error {
    Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare)
}

fn x25519() -> &'static dyn SupportedKxGroup {
    rustls::crypto::ring::kx_group::X25519
}

/// A client's key exchange from ML-KEM's key-generation seed (d, then z).
fn start_with(seed: [u8; 64]) -> Result<Active, Error> {
    let classical = x25519().start()?;
    let keys = mlkem768::generate_key_pair(seed);
    let mut share = Vec::with_capacity(EK_LEN + X25519_LEN);
    share.extend_from_slice(keys.public_key().as_slice());
    share.extend_from_slice(classical.pub_key());
    Ok(Active {
        classical,
        keys,
        share,
    })
}

/// A server's answer to `client_share`, encapsulating with randomness `m`.
fn respond_with(client_share: &[u8], m: [u8; 32]) -> Result<CompletedKeyExchange, Error> {
    if client_share.len() != EK_LEN + X25519_LEN {
        return Err(invalid_share());
    }
    let (ek, theirs) = client_share.split_at(EK_LEN);
    let ek = mlkem768::MlKem768PublicKey::try_from(ek).map_err(|_| invalid_share())?;
    // FIPS 203's check of an encapsulation key (its coefficients in range).
    if !mlkem768::validate_public_key(&ek) {
        return Err(invalid_share());
    }
    let classical = x25519().start_and_complete(theirs)?;
    let (ciphertext, secret) = mlkem768::encapsulate(&ek, m);
    let mut share = Vec::with_capacity(CT_LEN + X25519_LEN);
    share.extend_from_slice(ciphertext.as_slice());
    share.extend_from_slice(&classical.pub_key);
    Ok(CompletedKeyExchange {
        group: NamedGroup::X25519MLKEM768,
        pub_key: share,
        secret: combined(&secret, &classical.secret),
    })
}

impl SupportedKxGroup for X25519MlKem768 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        Ok(Box::new(start_with(random()?)?))
    }

    fn start_and_complete(&self, client_share: &[u8]) -> Result<CompletedKeyExchange, Error> {
        respond_with(client_share, random()?)
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519MLKEM768
    }

    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        version == ProtocolVersion::TLSv1_3
    }
}

/// The ML-KEM secret, then the X25519 one.
fn combined(kem: &[u8], classical: &SharedSecret) -> SharedSecret {
    let mut secret = Vec::with_capacity(kem.len() + classical.secret_bytes().len());
    secret.extend_from_slice(kem);
    secret.extend_from_slice(classical.secret_bytes());
    SharedSecret::from(secret)
}

/// A client's key exchange in progress.
struct Active {
    classical: Box<dyn ActiveKeyExchange>,
    keys: mlkem768::MlKem768KeyPair,
    share: Vec<u8>,
}

impl ActiveKeyExchange for Active {
    fn complete(self: Box<Self>, server_share: &[u8]) -> Result<SharedSecret, Error> {
        if server_share.len() != CT_LEN + X25519_LEN {
            return Err(invalid_share());
        }
        let (ciphertext, theirs) = server_share.split_at(CT_LEN);
        let ciphertext =
            mlkem768::MlKem768Ciphertext::try_from(ciphertext).map_err(|_| invalid_share())?;
        let secret = mlkem768::decapsulate(self.keys.private_key(), &ciphertext);
        let classical = self.classical.complete(theirs)?;
        Ok(combined(&secret, &classical))
    }

    fn hybrid_component(&self) -> Option<(NamedGroup, &[u8])> {
        Some((self.classical.group(), self.classical.pub_key()))
    }

    fn complete_hybrid_component(
        self: Box<Self>,
        server_share: &[u8],
    ) -> Result<SharedSecret, Error> {
        self.classical.complete(server_share)
    }

    fn pub_key(&self) -> &[u8] {
        &self.share
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519MLKEM768
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_and_bad_shares_are_refused() {
        let client = X25519MLKEM768.start().unwrap();
        assert_eq!(client.pub_key().len(), EK_LEN + X25519_LEN);
        assert_eq!(
            client.hybrid_component().map(|(g, k)| (g, k.len())),
            Some((NamedGroup::X25519, X25519_LEN))
        );
        let server = X25519MLKEM768.start_and_complete(client.pub_key()).unwrap();
        assert_eq!(server.pub_key.len(), CT_LEN + X25519_LEN);
        let secret = client.complete(&server.pub_key).unwrap();
        assert_eq!(secret.secret_bytes(), server.secret.secret_bytes());
        assert_eq!(secret.secret_bytes().len(), 64);

        // Wrong lengths, an all-ones (out of range) ML-KEM key, an all-zero
        // X25519 key: refused, never a panic.
        let good = X25519MLKEM768.start().unwrap().pub_key().to_vec();
        let mut out_of_range = good.clone();
        out_of_range[..EK_LEN].fill(0xff);
        let mut zero_x25519 = good.clone();
        zero_x25519[EK_LEN..].fill(0);
        for bad in [
            &good[..good.len() - 1],
            &[][..],
            &out_of_range[..],
            &zero_x25519[..],
        ] {
            assert!(X25519MLKEM768.start_and_complete(bad).is_err());
        }
        let client = X25519MLKEM768.start().unwrap();
        assert!(client.complete(&[0u8; CT_LEN]).is_err());
    }

    fn hex(text: &str) -> Vec<u8> {
        if text == "-" {
            return Vec::new();
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Project Wycheproof's ML-KEM-768 vectors (testdata/, its header says
    /// which) through the hybrid's own two halves, each with the X25519 of a
    /// real peer beside it: a client's key share from the vector's seed
    /// carries its encapsulation key, its secret starts with the vector's K
    /// and ends with the X25519 secret the other side computed; a server's
    /// share from the vector's randomness carries its ciphertext; the cases
    /// Wycheproof marks invalid (keys not reduced mod q, wrong lengths) are
    /// refused as invalid key shares.
    #[test]
    fn wycheproof_vectors_through_the_hybrid() {
        let data = include_str!("../testdata/mlkem768-wycheproof.txt");
        let mut seen = [0usize; 4];
        for line in data.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(' ').collect();
            let (case, valid) = (format!("{} {}", f[0], f[1]), f[2] == "valid");
            match f[0] {
                "decaps" => {
                    let seed: [u8; 64] = hex(f[3]).try_into().unwrap();
                    let (ek, c, k) = (hex(f[4]), hex(f[5]), hex(f[6]));
                    let client = start_with(seed).unwrap();
                    assert_eq!(&client.share[..EK_LEN], &ek[..], "{case}: ek");
                    let peer = x25519()
                        .start_and_complete(client.classical.pub_key())
                        .unwrap();
                    let mut share = c.clone();
                    share.extend_from_slice(&peer.pub_key);
                    let got = Box::new(client).complete(&share);
                    match valid {
                        true => {
                            let secret = got.unwrap();
                            assert_eq!(&secret.secret_bytes()[..32], &k[..], "{case}: K");
                            assert_eq!(
                                &secret.secret_bytes()[32..],
                                peer.secret.secret_bytes(),
                                "{case}: the X25519 half"
                            );
                            seen[0] += 1;
                        }
                        false => {
                            assert!(got.is_err(), "{case}: accepted");
                            seen[1] += 1;
                        }
                    }
                }
                _ => {
                    let (ek, m, c, k) = (hex(f[3]), hex(f[4]), hex(f[5]), hex(f[6]));
                    let peer = x25519().start().unwrap();
                    let mut share = ek.clone();
                    share.extend_from_slice(peer.pub_key());
                    let got = respond_with(&share, m.try_into().unwrap());
                    match valid {
                        true => {
                            let done = got.unwrap();
                            assert_eq!(&done.pub_key[..CT_LEN], &c[..], "{case}: c");
                            assert_eq!(&done.secret.secret_bytes()[..32], &k[..], "{case}: K");
                            let theirs = peer.complete(&done.pub_key[CT_LEN..]).unwrap();
                            assert_eq!(
                                &done.secret.secret_bytes()[32..],
                                theirs.secret_bytes(),
                                "{case}: the X25519 half"
                            );
                            seen[2] += 1;
                        }
                        false => {
                            let e = got.err().unwrap_or_else(|| panic!("{case}: accepted"));
                            assert_eq!(e, invalid_share(), "{case}");
                            seen[3] += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(
            seen,
            [15, 4, 9, 10],
            "cases run (decaps valid/invalid, encaps valid/invalid)"
        );
    }

    #[test]
    fn a_corrupted_ciphertext_gives_another_secret() {
        // ML-KEM's implicit rejection: decapsulation does not fail, the two
        // sides' secrets differ, and the handshake fails at Finished.
        let client = X25519MLKEM768.start().unwrap();
        let server = X25519MLKEM768.start_and_complete(client.pub_key()).unwrap();
        let mut share = server.pub_key.clone();
        share[10] ^= 1;
        let secret = client.complete(&share).unwrap();
        assert_ne!(secret.secret_bytes(), server.secret.secret_bytes());
        assert_eq!(
            secret.secret_bytes()[32..],
            server.secret.secret_bytes()[32..]
        );
    }
}

//! Encrypted private keys: PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2 with PBKDF2
//! or scrypt, AES or 3DES; PEM or DER) and OpenSSL's traditional encrypted PEM
//! (`Proc-Type: 4,ENCRYPTED` with `DEK-Info`), decrypted with the password the
//! caller gives.
//!
//! The key-derivation parameters come from the file, so whoever hands memtls
//! a key chooses how much work decrypting it costs. They are bounded before any
//! work starts: PBKDF2 at [`MAX_PBKDF2_ITERATIONS`], scrypt at OpenSSL's 32 MiB
//! of memory and [`MAX_SCRYPT_WORK`] blocks in all.

use base64ct::{Base64, Encoding as _};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockCipher, BlockDecryptMut, KeyInit, KeyIvInit};
use md5::{Digest as _, Md5};
use pkcs8::EncryptedPrivateKeyInfo;
use pkcs8::pkcs5::{EncryptionScheme, pbes2};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

use crate::{Error, Result};

/// The most PBKDF2 iterations an encrypted key may ask for (OpenSSL writes
/// 2,048 by default; OWASP's advice for PBKDF2-SHA256 is 600,000). One million
/// cost about half a second of CPU natively.
pub const MAX_PBKDF2_ITERATIONS: u32 = 1_000_000;
/// The most memory scrypt may take (`128 * N * r` bytes): OpenSSL's limit.
pub const MAX_SCRYPT_MEMORY: u64 = 32 << 20;
/// The most 128-byte blocks scrypt may mix in all (`N * r * p`): twice what
/// one pass over [`MAX_SCRYPT_MEMORY`] takes.
pub const MAX_SCRYPT_WORK: u64 = 2 * (MAX_SCRYPT_MEMORY / 128);

/// What a key's bytes are, as far as encryption goes.
pub(crate) enum Protection<'a> {
    /// Not encrypted (or not a key at all: the plain parser says which).
    Plain,
    /// PKCS#8 `EncryptedPrivateKeyInfo`, DER.
    Pkcs8(Vec<u8>),
    /// OpenSSL's traditional form: the label's key kind, the `DEK-Info`
    /// cipher and IV, and the encrypted DER.
    Traditional {
        label: &'a str,
        cipher: String,
        iv: Vec<u8>,
        body: Vec<u8>,
    },
}

/// Finds out whether `bytes` (PEM or DER) hold an encrypted key.
pub(crate) fn protection(bytes: &[u8], pem: bool) -> Result<Protection<'_>> {
    if !pem {
        // A DER `EncryptedPrivateKeyInfo` parses as one; a plain key does not.
        return Ok(match EncryptedPrivateKeyInfo::try_from(bytes) {
            Ok(_) => Protection::Pkcs8(bytes.to_vec()),
            Err(_) => Protection::Plain,
        });
    }
    let text = std::str::from_utf8(bytes).unwrap_or("");
    if let Some(body) = block(text, "ENCRYPTED PRIVATE KEY") {
        let der = base64(&body, "ENCRYPTED PRIVATE KEY")?;
        return Ok(Protection::Pkcs8(der));
    }
    for label in ["RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY"] {
        let Some(body) = block(text, label) else {
            continue;
        };
        let (headers, base) = match body.split_once("\n\n") {
            Some((headers, base)) if headers.contains(':') => (headers, base),
            _ => return Ok(Protection::Plain),
        };
        let header = |name: &str| {
            headers.lines().find_map(|l| {
                let (key, value) = l.split_once(':')?;
                (key.trim() == name).then(|| value.trim().to_string())
            })
        };
        if header("Proc-Type").is_none_or(|v| v.replace(' ', "") != "4,ENCRYPTED") {
            return Err(Error::config(format!(
                "private key: the {label} block has PEM headers but no \
                 \"Proc-Type: 4,ENCRYPTED\""
            )));
        }
        let info = header("DEK-Info").ok_or_else(|| {
            Error::config(format!(
                "private key: the encrypted {label} block has no DEK-Info header"
            ))
        })?;
        let (cipher, iv) = info.split_once(',').ok_or_else(|| {
            Error::config(format!(
                "private key: the DEK-Info header \"{info}\" is not \"CIPHER,IV\""
            ))
        })?;
        let iv = crate::session::unhex(iv.trim()).ok_or_else(|| {
            Error::config(format!(
                "private key: the DEK-Info IV \"{}\" is not hexadecimal",
                iv.trim()
            ))
        })?;
        return Ok(Protection::Traditional {
            label,
            cipher: cipher.trim().to_ascii_uppercase(),
            iv,
            body: base64(base, label)?,
        });
    }
    Ok(Protection::Plain)
}

/// Decrypts an encrypted key with `password`.
pub(crate) fn decrypt(key: Protection<'_>, password: &[u8]) -> Result<PrivateKeyDer<'static>> {
    match key {
        Protection::Plain => unreachable!("only encrypted keys are decrypted"),
        Protection::Pkcs8(der) => {
            let info = EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|e| {
                Error::config(format!(
                    "private key: the ENCRYPTED PRIVATE KEY is not a PKCS#8 \
                     EncryptedPrivateKeyInfo ({e})"
                ))
            })?;
            check_cost(&info.encryption_algorithm)?;
            let plain = info
                .encryption_algorithm
                .decrypt(password, info.encrypted_data)
                .map_err(|e| match e {
                    // pkcs5 0.7 reports bad padding as EncryptFailed.
                    pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed => {
                        bad_decrypt()
                    }
                    e => Error::config(format!("private key: cannot decrypt it: {e}")),
                })?;
            // A wrong password with padding that happens to look right gives
            // bytes that are no PrivateKeyInfo.
            pkcs8::PrivateKeyInfo::try_from(plain.as_slice()).map_err(|_| bad_decrypt())?;
            Ok(PrivatePkcs8KeyDer::from(plain).into())
        }
        Protection::Traditional {
            label,
            cipher,
            iv,
            body,
        } => {
            let plain = traditional(&cipher, &iv, password, &body)?;
            // The decrypted DER must be the kind the label names.
            let parsed = PrivateKeyDer::try_from(plain.clone()).map_err(|_| bad_decrypt())?;
            Ok(match (label, parsed) {
                ("RSA PRIVATE KEY", PrivateKeyDer::Pkcs1(_)) => {
                    PrivatePkcs1KeyDer::from(plain).into()
                }
                ("EC PRIVATE KEY", PrivateKeyDer::Sec1(_)) => PrivateSec1KeyDer::from(plain).into(),
                ("PRIVATE KEY", PrivateKeyDer::Pkcs8(_)) => PrivatePkcs8KeyDer::from(plain).into(),
                _ => return Err(bad_decrypt()),
            })
        }
    }
}

fn bad_decrypt() -> Error {
    Error::config("private key: bad decrypt: the password is wrong (or the key is damaged)")
}

/// Refuses key-derivation parameters that would cost more than the limits.
fn check_cost(scheme: &EncryptionScheme<'_>) -> Result<()> {
    let params = match scheme {
        EncryptionScheme::Pbes2(params) => params,
        EncryptionScheme::Pbes1(_) => {
            return Err(Error::config(
                "private key: it is encrypted with PKCS#5 v1.5 (PBES1, DES or RC2 with MD5 \
                 or SHA-1), which memtls does not decrypt; re-encrypt it with `openssl pkcs8 \
                 -topk8 -v2 aes-256-cbc`",
            ));
        }
        _ => return Err(Error::config("private key: unknown encryption scheme")),
    };
    match &params.kdf {
        pbes2::Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(Error::limit(format!(
                "private key: its PBKDF2 asks for {} iterations; memtls decrypts keys \
                 with at most {MAX_PBKDF2_ITERATIONS}",
                p.iteration_count
            )))
        }
        pbes2::Kdf::Scrypt(p) => {
            let (n, r, parallel) = (
                p.cost_parameter,
                u64::from(p.block_size),
                u64::from(p.parallelization),
            );
            let memory = n.saturating_mul(r).saturating_mul(128);
            let work = n.saturating_mul(r).saturating_mul(parallel);
            if memory > MAX_SCRYPT_MEMORY || work > MAX_SCRYPT_WORK {
                return Err(Error::limit(format!(
                    "private key: its scrypt parameters (N={n}, r={r}, p={parallel}) need \
                     {} MiB and {work} blocks of work; memtls decrypts keys with at most \
                     {} MiB and {MAX_SCRYPT_WORK} blocks",
                    memory >> 20,
                    MAX_SCRYPT_MEMORY >> 20
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// OpenSSL's traditional PEM encryption: the key is EVP_BytesToKey with MD5,
/// one iteration, the IV's first 8 bytes as salt; then CBC with PKCS#7 padding.
fn traditional(cipher: &str, iv: &[u8], password: &[u8], body: &[u8]) -> Result<Vec<u8>> {
    let key_len = match cipher {
        "AES-128-CBC" => 16,
        "AES-192-CBC" => 24,
        "AES-256-CBC" => 32,
        "DES-EDE3-CBC" => 24,
        "DES-CBC" => 8,
        other => {
            return Err(Error::config(format!(
                "private key: it is encrypted with {other}, which memtls does not decrypt \
                 (AES-128/192/256-CBC, DES-EDE3-CBC and DES-CBC are)"
            )));
        }
    };
    let block = if cipher.starts_with("AES") { 16 } else { 8 };
    if iv.len() != block {
        return Err(Error::config(format!(
            "private key: the DEK-Info IV is {} bytes; {cipher} takes {block}",
            iv.len()
        )));
    }
    let key = bytes_to_key(password, &iv[..8], key_len);
    match cipher {
        "AES-128-CBC" => cbc_decrypt::<aes::Aes128>(&key, iv, body),
        "AES-192-CBC" => cbc_decrypt::<aes::Aes192>(&key, iv, body),
        "AES-256-CBC" => cbc_decrypt::<aes::Aes256>(&key, iv, body),
        "DES-EDE3-CBC" => cbc_decrypt::<des::TdesEde3>(&key, iv, body),
        _ => cbc_decrypt::<des::Des>(&key, iv, body),
    }
}

/// CBC decryption with PKCS#7 padding; bad padding is a wrong password.
fn cbc_decrypt<C>(key: &[u8], iv: &[u8], body: &[u8]) -> Result<Vec<u8>>
where
    C: BlockDecryptMut + BlockCipher + KeyInit,
{
    cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| Error::config("private key: the DEK-Info IV does not fit its cipher"))?
        .decrypt_padded_vec_mut::<Pkcs7>(body)
        .map_err(|_| bad_decrypt())
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one iteration.
fn bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(len + 16);
    let mut last: Vec<u8> = Vec::new();
    while key.len() < len {
        let mut md5 = Md5::new();
        md5.update(&last);
        md5.update(password);
        md5.update(salt);
        last = md5.finalize().to_vec();
        key.extend_from_slice(&last);
    }
    key.truncate(len);
    key
}

/// The text between `-----BEGIN {label}-----` and its END line, with line
/// endings made `\n` (empty lines kept: they end the headers).
fn block(text: &str, label: &str) -> Option<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body = text[start..stop].replace("\r\n", "\n");
    Some(body.trim_matches('\n').to_string())
}

fn base64(text: &str, label: &str) -> Result<Vec<u8>> {
    let joined: String = text.split_whitespace().collect();
    Base64::decode_vec(&joined).map_err(|_| {
        Error::config(format!(
            "private key: the {label} block's base64 is damaged"
        ))
    })
}

#[cfg(test)]
mod tests {
    use pkcs8::der::Encode as _;

    use super::*;
    use crate::{ErrorKind, parse_private_key_with_password};

    /// An `ENCRYPTED PRIVATE KEY` PEM block with `params` and junk for data:
    /// the limits are checked before any decryption.
    fn encrypted_pem(params: pbes2::Parameters<'_>) -> Vec<u8> {
        let info = EncryptedPrivateKeyInfo {
            encryption_algorithm: EncryptionScheme::Pbes2(params),
            encrypted_data: &[7; 64],
        };
        let der = info.to_der().unwrap();
        format!(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{}\n-----END ENCRYPTED PRIVATE KEY-----\n",
            Base64::encode_string(&der)
        )
        .into_bytes()
    }

    fn refused(key: &[u8], password: Option<&[u8]>) -> Error {
        parse_private_key_with_password(key, password).expect_err("refused")
    }

    #[test]
    fn costly_key_derivations_are_refused_before_any_work() {
        let iv = [1; 16];
        let salt = [2; 16];
        // The constructor stops at 10^8 iterations; a file's DER does not.
        let mut many = pbes2::Parameters::pbkdf2_sha256_aes256cbc(1, &salt, &iv).unwrap();
        if let pbes2::Kdf::Pbkdf2(p) = &mut many.kdf {
            p.iteration_count = 2_000_000_000;
        }
        let e = refused(&encrypted_pem(many), Some(b"x"));
        assert_eq!(e.kind, ErrorKind::ResourceLimit);
        assert!(e.message.contains("2000000000 iterations"), "{}", e.message);
        // At the limit, the key is decrypted (and found wrong, being junk).
        let most =
            pbes2::Parameters::pbkdf2_sha256_aes256cbc(MAX_PBKDF2_ITERATIONS, &salt, &iv).unwrap();
        assert_eq!(
            refused(&encrypted_pem(most), Some(b"x")).kind,
            ErrorKind::Configuration
        );
        // 1 GiB of scrypt memory (N = 2^20, r = 8), and 2^22 blocks of work
        // in 16 MiB (p = 16).
        for (log_n, r, p) in [(20, 8, 1), (14, 8, 32)] {
            let params = pkcs8::pkcs5::scrypt::Params::new(log_n, r, p, 32).unwrap();
            let scrypt = pbes2::Parameters::scrypt_aes256cbc(params, &salt, &iv).unwrap();
            let e = refused(&encrypted_pem(scrypt), Some(b"x"));
            assert_eq!(e.kind, ErrorKind::ResourceLimit, "{}", e.message);
            assert!(e.message.contains("scrypt parameters"), "{}", e.message);
        }
    }

    #[test]
    fn encrypted_keys_are_refused_in_words() {
        let iv = [1; 16];
        let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &[2; 16], &iv).unwrap();
        let pkcs8 = encrypted_pem(params);
        let e = refused(&pkcs8, None);
        assert!(
            e.message.contains("encrypted and no password"),
            "{}",
            e.message
        );
        let e = refused(&pkcs8, Some(b"secret"));
        assert!(e.message.contains("bad decrypt"), "{}", e.message);
        let traditional = |headers: &str, body: &str| {
            format!(
                "-----BEGIN RSA PRIVATE KEY-----\n{headers}\n\n{body}\n-----END RSA PRIVATE \
                 KEY-----\n"
            )
            .into_bytes()
        };
        let body = Base64::encode_string(&[9; 32]);
        let proc_type = "Proc-Type: 4,ENCRYPTED";
        for (headers, body, said) in [
            (
                format!("{proc_type}\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF"),
                body.as_str(),
                "bad decrypt",
            ),
            (
                format!("{proc_type}\nDEK-Info: AES-128-CBC,0011"),
                &body,
                "IV is 2 bytes; AES-128-CBC takes 16",
            ),
            (
                format!("{proc_type}\nDEK-Info: AES-128-CBC,XYZ"),
                &body,
                "is not hexadecimal",
            ),
            (
                format!("{proc_type}\nDEK-Info: CAMELLIA-128-CBC,00112233445566778899AABBCCDDEEFF"),
                &body,
                "encrypted with CAMELLIA-128-CBC, which memtls does not decrypt",
            ),
            (proc_type.to_string(), &body, "has no DEK-Info header"),
            (
                "Comment: x".to_string(),
                &body,
                "has PEM headers but no \"Proc-Type: 4,ENCRYPTED\"",
            ),
            (
                format!("{proc_type}\nDEK-Info: DES-EDE3-CBC,0011223344556677"),
                "!!!!",
                "base64 is damaged",
            ),
        ] {
            let e = refused(&traditional(&headers, body), Some(b"secret"));
            assert_eq!(e.kind, ErrorKind::Configuration);
            assert!(e.message.contains(said), "{said:?} not in {:?}", e.message);
        }
    }

    #[test]
    fn bytes_to_key_is_openssls() {
        // `openssl enc -aes-256-cbc -md md5 -pass pass:secret -S 0102030405060708 -P`
        let key = bytes_to_key(b"secret", &[1, 2, 3, 4, 5, 6, 7, 8], 32);
        assert_eq!(
            key.iter().map(|b| format!("{b:02X}")).collect::<String>(),
            "C9E5A1BD216DBE1317E230CEF48F38EE7F0E17AD64022144BCCEC4A1AA2879AB"
        );
    }
}

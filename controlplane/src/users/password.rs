//! Password hashing. Every new hash is an argon2id PHC string (`$argon2id$v=19$m=…`); the one
//! older format, `sha256:<salt hex>:<hash hex>` (a single salted SHA-256, written by fleetboot
//! before argon2id), is still checked so an upgraded server's admin can log in until
//! `fleetboot user passwd admin` replaces it: a hash cannot be converted without the password.

use std::io::Read;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

/// The `argon2` crate's defaults: Argon2id, version 0x13, m = 19 MiB, t = 2, p = 1, which is
/// the first configuration OWASP's Password Storage Cheat Sheet recommends. A check reads the
/// parameters from the stored PHC string, so raising them later keeps old hashes valid.
fn argon2() -> Argon2<'static> {
    Argon2::default()
}

/// The argon2id PHC string of `password`, with a fresh 16-byte salt.
///
/// # Errors
/// No randomness available.
pub fn hash(password: &str) -> std::io::Result<String> {
    let salt = SaltString::encode_b64(&random_bytes(16)?).map_err(std::io::Error::other)?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(std::io::Error::other)
}

/// Whether `password` matches `stored` (a PHC string or the legacy format); the comparison
/// takes the same time wherever the first difference is.
pub fn verify(stored: &str, password: &str) -> bool {
    if let Some(legacy) = stored.strip_prefix(LEGACY_PREFIX) {
        return verify_legacy(legacy, password);
    }
    PasswordHash::new(stored)
        .is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// Spends the time of a real check, for a user who does not exist: how long a login takes
/// must not tell which names exist.
pub fn verify_nobody(password: &str) {
    static NOBODY: LazyLock<String> = LazyLock::new(|| hash("").unwrap_or_default());
    verify(&NOBODY, password);
}

/// Whether `hash` is an argon2id PHC string.
pub fn is_argon2id(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| h.algorithm == argon2::Algorithm::Argon2id.ident())
}

/// Whether `stored` is the legacy single-SHA-256 format (to be replaced).
pub fn is_legacy(stored: &str) -> bool {
    stored.starts_with(LEGACY_PREFIX)
}

const LEGACY_PREFIX: &str = "sha256:";

fn verify_legacy(salt_and_hash: &str, password: &str) -> bool {
    let Some((salt, hash)) = salt_and_hash.split_once(':') else {
        return false;
    };
    constant_time_eq(legacy_hash(salt, password).as_bytes(), hash.as_bytes())
}

/// The legacy scheme: hex(SHA-256(salt ‖ 0 ‖ password)).
fn legacy_hash(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(password.as_bytes());
    hex(&h.finalize())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random password: 18 bytes from the kernel, as 36 hex digits.
///
/// # Errors
/// No randomness available.
pub fn generate() -> std::io::Result<String> {
    Ok(hex(&random_bytes(18)?))
}

/// `n` bytes from the kernel's random source.
///
/// # Errors
/// No randomness available.
pub fn random_bytes(n: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_hash_is_an_argon2id_phc_string_that_verifies() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(&h, "correct horse"));
        assert!(!verify(&h, "correct horsf"));
        assert!(!verify(&h, ""));
        assert_ne!(h, hash("correct horse").unwrap(), "salted");
        assert!(!is_legacy(&h));
    }

    #[test]
    fn the_legacy_format_verifies_and_garbage_never_does() {
        let stored = format!("sha256:abcd:{}", legacy_hash("abcd", "old"));
        assert!(is_legacy(&stored));
        assert!(verify(&stored, "old"));
        assert!(!verify(&stored, "new"));
        for bad in ["", "sha256:", "sha256:abcd", "$argon2id$nonsense", "plain"] {
            assert!(!verify(bad, ""), "{bad:?}");
        }
    }

    #[test]
    fn generated_passwords_are_36_hex_digits_and_differ() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_eq!(a.len(), 36);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}

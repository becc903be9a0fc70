//! Password hashes in RabbitMQ's format, so definitions move between RabbitMQ and Warren
//! unchanged: base64 of a 4-byte salt followed by the digest of salt + password. New hashes use
//! SHA-256 (`rabbit_password_hashing_sha256`, RabbitMQ's default); SHA-512 and MD5 hashes are
//! accepted when imported. Comparison is constant-time.

use base64::Engine;
use sha2::Digest;
use subtle::ConstantTimeEq;

/// RabbitMQ's `hashing_algorithm` values in definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha256,
    Sha512,
    Md5,
}

impl HashAlgorithm {
    /// The name RabbitMQ writes in definitions.
    pub fn rabbit_name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "rabbit_password_hashing_sha256",
            HashAlgorithm::Sha512 => "rabbit_password_hashing_sha512",
            HashAlgorithm::Md5 => "rabbit_password_hashing_md5",
        }
    }

    pub fn from_rabbit_name(name: &str) -> Option<HashAlgorithm> {
        match name {
            "rabbit_password_hashing_sha256" => Some(HashAlgorithm::Sha256),
            "rabbit_password_hashing_sha512" => Some(HashAlgorithm::Sha512),
            "rabbit_password_hashing_md5" => Some(HashAlgorithm::Md5),
            _ => None,
        }
    }

    fn digest(self, salt: &[u8], password: &[u8]) -> Vec<u8> {
        match self {
            HashAlgorithm::Sha256 => sha2::Sha256::new()
                .chain_update(salt)
                .chain_update(password)
                .finalize()
                .to_vec(),
            HashAlgorithm::Sha512 => sha2::Sha512::new()
                .chain_update(salt)
                .chain_update(password)
                .finalize()
                .to_vec(),
            HashAlgorithm::Md5 => md5::Md5::new()
                .chain_update(salt)
                .chain_update(password)
                .finalize()
                .to_vec(),
        }
    }
}

/// A salted password hash: the salt and digest bytes, as decoded from RabbitMQ's base64.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    algorithm: HashAlgorithm,
    /// 4 bytes of salt, then the digest.
    salted: Vec<u8>,
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never in logs.
        write!(f, "PasswordHash({:?})", self.algorithm)
    }
}

const SALT_LEN: usize = 4;

impl PasswordHash {
    /// A new SHA-256 hash of `password` with a fresh random salt.
    pub fn new(password: &str) -> PasswordHash {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).expect("the OS random source failed");
        let mut salted = salt.to_vec();
        salted.extend(HashAlgorithm::Sha256.digest(&salt, password.as_bytes()));
        PasswordHash {
            algorithm: HashAlgorithm::Sha256,
            salted,
        }
    }

    /// A hash from definitions: `password_hash` (base64) with its `hashing_algorithm`. `None`
    /// if the base64 is bad or the length does not fit the algorithm.
    pub fn from_base64(algorithm: HashAlgorithm, encoded: &str) -> Option<PasswordHash> {
        let salted = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let digest_len = algorithm.digest(&[], &[]).len();
        (salted.len() == SALT_LEN + digest_len).then_some(PasswordHash { algorithm, salted })
    }

    /// The `password_hash` field of definitions.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.salted)
    }

    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// Whether `password` is the one hashed, in time independent of where they differ.
    pub fn verify(&self, password: &str) -> bool {
        let (salt, digest) = self.salted.split_at(SALT_LEN);
        let candidate = self.algorithm.digest(salt, password.as_bytes());
        candidate.ct_eq(digest).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_hash_verifies_its_password_only() {
        let h = PasswordHash::new("s3cret");
        assert!(h.verify("s3cret"));
        assert!(!h.verify("s3cres"));
        assert!(!h.verify(""));
        let again = PasswordHash::from_base64(h.algorithm(), &h.to_base64()).unwrap();
        assert!(again.verify("s3cret"));
    }

    #[test]
    fn rabbitmq_hashes_verify() {
        // Made by RabbitMQ 3.10.8: `rabbitmqctl add_user zz_hashcheck guest`, then
        // `rabbitmqctl export_definitions`.
        let h = PasswordHash::from_base64(
            HashAlgorithm::Sha256,
            "LzHYt5ooj19gjUiMeb7682Y1t+a8h/C0ss44/j89plAo//CX",
        )
        .unwrap();
        assert!(h.verify("guest"));
        assert!(!h.verify("guesT"));
    }

    #[test]
    fn bad_lengths_are_refused() {
        assert!(PasswordHash::from_base64(HashAlgorithm::Sha256, "AAAA").is_none());
        assert!(PasswordHash::from_base64(HashAlgorithm::Md5, "not base64!").is_none());
    }
}

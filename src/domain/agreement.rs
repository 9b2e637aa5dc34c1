//! The User Service Agreement (《用户服务协议》): versions are identified by the SHA-256 digest of
//! the exact text shown, so a signature can be checked against the words the owner saw.

use sha2::{Digest, Sha256};

/// The version shipped with the product, published at first start when none exists.
pub const BUILT_IN_VERSION: &str = "2026.1";
pub const BUILT_IN_TEXT: &str = include_str!("../../templates/agreements/2026.1.txt");

/// Lowercase hex SHA-256 of the text's UTF-8 bytes.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A version label: 1–32 characters of letters, digits, `.`, `-`, `_`.
pub fn is_valid_version(version: &str) -> bool {
    (1..=32).contains(&version.len())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_of_the_utf8_text() {
        // Known vector: SHA-256("abc").
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(
            sha256_hex(BUILT_IN_TEXT),
            sha256_hex(&format!("{BUILT_IN_TEXT} "))
        );
        assert_eq!(sha256_hex(BUILT_IN_TEXT).len(), 64);
    }

    #[test]
    fn the_built_in_text_names_its_version_and_the_sensitive_data() {
        assert!(BUILT_IN_TEXT.contains(BUILT_IN_VERSION));
        assert!(BUILT_IN_TEXT.contains("居民身份证号码"));
        assert!(is_valid_version(BUILT_IN_VERSION));
        assert!(!is_valid_version("") && !is_valid_version("v 1") && !is_valid_version("版本1"));
    }
}

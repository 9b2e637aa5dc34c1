//! Request signing for the provincial API (`docs/provincial-api.md`, "Signing").
//!
//! A request is signed by HMAC over a canonical string of five newline-separated fields:
//!
//! ```text
//! METHOD \n PATH \n TIMESTAMP \n NONCE \n hex(DIGEST(body))
//! ```
//!
//! where the HMAC's hash and the body digest are the same algorithm: SHA-256 for
//! `HMAC-SHA256`, SM3 (GB/T 32905) for `HMAC-SM3`. The signature is the MAC in lowercase hex.
//! Only the signature is checked here; the timestamp window and nonce reuse are the
//! receiver's concern, with the limits exported below so both sides share one definition.

use std::fmt;

use hmac::digest::block_api::EagerHash;
use hmac::digest::{Digest, Key};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sm3::Sm3;

/// Header carrying our application id, issued by the province per county.
pub const HEADER_APP_ID: &str = "X-App-Id";
/// Header carrying the request time in Unix seconds.
pub const HEADER_TIMESTAMP: &str = "X-Timestamp";
/// Header carrying the single-use nonce.
pub const HEADER_NONCE: &str = "X-Nonce";
/// Header carrying the lowercase-hex signature.
pub const HEADER_SIGNATURE: &str = "X-Signature";
/// Header naming the [`SignatureMethod`]; absent means `HMAC-SHA256`.
pub const HEADER_SIGNATURE_METHOD: &str = "X-Signature-Method";

/// How far, in seconds, a request's timestamp may be from the receiver's clock either way.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// Shortest nonce the receiver accepts.
pub const NONCE_MIN_LEN: usize = 16;
/// Longest nonce the receiver accepts.
pub const NONCE_MAX_LEN: usize = 64;

/// The MAC algorithm, sent in [`HEADER_SIGNATURE_METHOD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureMethod {
    /// HMAC-SHA256 with a SHA-256 body digest (the default).
    #[default]
    HmacSha256,
    /// HMAC-SM3 with an SM3 body digest, for deployments required to use 国密 algorithms.
    HmacSm3,
}

impl SignatureMethod {
    /// The value sent in [`HEADER_SIGNATURE_METHOD`].
    pub const fn as_header(self) -> &'static str {
        match self {
            Self::HmacSha256 => "HMAC-SHA256",
            Self::HmacSm3 => "HMAC-SM3",
        }
    }

    /// Parses a header or configuration value; ASCII case is ignored because operators type
    /// these into config files, while we always send the canonical spelling.
    pub fn parse(value: &str) -> Option<Self> {
        [Self::HmacSha256, Self::HmacSm3]
            .into_iter()
            .find(|method| method.as_header().eq_ignore_ascii_case(value.trim()))
    }
}

impl fmt::Display for SignatureMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_header())
    }
}

/// Lowercase hex digest of the request body under `method`'s hash (empty body for `GET`).
pub fn body_digest(method: SignatureMethod, body: &[u8]) -> String {
    match method {
        SignatureMethod::HmacSha256 => hex::encode(Sha256::digest(body)),
        SignatureMethod::HmacSm3 => hex::encode(Sm3::digest(body)),
    }
}

/// The exact string that is MACed. No trailing newline; the fields cannot contain `\n`
/// themselves (method token, request path, decimal integer, alphanumeric nonce, hex digest),
/// so the joining is unambiguous.
pub fn canonical_string(
    method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    body_digest: &str,
) -> String {
    format!("{method}\n{path}\n{timestamp}\n{nonce}\n{body_digest}")
}

/// The lowercase-hex signature of one request.
pub fn sign(
    method: SignatureMethod,
    secret: &[u8],
    http_method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    hex::encode(mac_bytes(
        method,
        secret,
        http_method,
        path,
        timestamp,
        nonce,
        body,
    ))
}

/// Whether `signature` is the valid signature of this request. The comparison is constant-time
/// (the MAC crate's `verify_slice`), so response timing does not leak how many leading bytes of
/// a forgery were right. Malformed input (not hex, wrong length) is simply `false`.
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors `sign` plus the signature; the fields are the canonical string's, in order"
)]
pub fn verify(
    method: SignatureMethod,
    secret: &[u8],
    http_method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
    signature: &str,
) -> bool {
    let Ok(tag) = hex::decode(signature) else {
        return false;
    };
    let message = canonical_message(method, http_method, path, timestamp, nonce, body);
    match method {
        SignatureMethod::HmacSha256 => keyed::<Sha256>(secret)
            .chain_update(message)
            .verify_slice(&tag)
            .is_ok(),
        SignatureMethod::HmacSm3 => keyed::<Sm3>(secret)
            .chain_update(message)
            .verify_slice(&tag)
            .is_ok(),
    }
}

/// A fresh nonce: 128 random bits from the thread-local CSPRNG as 32 hex characters, well
/// inside the receiver's 16–64 alphanumeric rule and too large to repeat by chance.
pub fn new_nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Whether `nonce` meets the receiver's syntax rule: 16–64 characters of `[A-Za-z0-9]`.
pub fn nonce_is_well_formed(nonce: &str) -> bool {
    (NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&nonce.len())
        && nonce.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The authentication headers of one signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// [`HEADER_APP_ID`].
    pub app_id: String,
    /// [`HEADER_TIMESTAMP`], Unix seconds.
    pub timestamp: i64,
    /// [`HEADER_NONCE`].
    pub nonce: String,
    /// [`HEADER_SIGNATURE`], lowercase hex.
    pub signature: String,
    /// [`HEADER_SIGNATURE_METHOD`].
    pub method: SignatureMethod,
}

impl SignedHeaders {
    /// Name/value pairs, ready to attach to any HTTP client's request builder.
    pub fn to_pairs(&self) -> [(&'static str, String); 5] {
        [
            (HEADER_APP_ID, self.app_id.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
            (HEADER_SIGNATURE_METHOD, self.method.as_header().to_owned()),
        ]
    }
}

/// Signs a request and returns its headers. The timestamp and nonce are parameters rather than
/// drawn here so that callers (and test vectors) control them; in production pass the current
/// Unix time and [`new_nonce`].
#[expect(
    clippy::too_many_arguments,
    reason = "every input to the signature plus the app id; a builder would only rename them"
)]
pub fn signed_headers(
    app_id: &str,
    secret: &[u8],
    method: SignatureMethod,
    http_method: &str,
    path: &str,
    body: &[u8],
    timestamp: i64,
    nonce: &str,
) -> SignedHeaders {
    SignedHeaders {
        app_id: app_id.to_owned(),
        timestamp,
        nonce: nonce.to_owned(),
        signature: sign(method, secret, http_method, path, timestamp, nonce, body),
        method,
    }
}

fn canonical_message(
    method: SignatureMethod,
    http_method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    let digest = body_digest(method, body);
    canonical_string(http_method, path, timestamp, nonce, &digest)
}

fn mac_bytes(
    method: SignatureMethod,
    secret: &[u8],
    http_method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let message = canonical_message(method, http_method, path, timestamp, nonce, body);
    match method {
        SignatureMethod::HmacSha256 => keyed::<Sha256>(secret)
            .chain_update(message)
            .finalize()
            .into_bytes()
            .to_vec(),
        SignatureMethod::HmacSm3 => keyed::<Sm3>(secret)
            .chain_update(message)
            .finalize()
            .into_bytes()
            .to_vec(),
    }
}

/// HMAC keyed with a secret of any length, infallibly. RFC 2104 defines the key block as the
/// secret zero-padded to the hash's block size, or its digest zero-padded if it is longer;
/// building that block here avoids `new_from_slice`'s `Result`, whose error cannot occur for
/// HMAC but would otherwise need an `expect`. RFC 4231 case 6 below covers the long-key path.
fn keyed<D: EagerHash>(secret: &[u8]) -> Hmac<D> {
    let mut block = Key::<Hmac<D>>::default();
    if secret.len() <= block.len() {
        block[..secret.len()].copy_from_slice(secret);
    } else {
        let digest = D::digest(secret);
        // Every hash offered here has a digest shorter than its block (32 < 64 bytes).
        let n = digest.len().min(block.len());
        block[..n].copy_from_slice(&digest[..n]);
    }
    <Hmac<D> as KeyInit>::new(&block)
}

#[cfg(test)]
mod tests {
    //! The published vectors (`docs/provincial-api.md`, "Worked example") were computed outside
    //! this crate, by three implementations that share no code with RustCrypto:
    //! Python's `hmac`/`hashlib` (OpenSSL 3.0 libcrypto, `hashlib.new("sm3")`), the
    //! `openssl dgst -sha256|-sm3 -hmac` command line, and pure-Python `gmssl` 3.2.2 SM3 with
    //! HMAC written out per RFC 2104. All three agreed on every value below.

    use super::*;

    const SECRET: &[u8] = b"xinyidai-test-secret";
    const APP_ID: &str = "lishu-220322";
    const PATH: &str = "/v1/entities";
    const TIMESTAMP: i64 = 1_767_225_600;
    const NONCE: &str = "0123456789abcdef0123456789abcdef";
    const BODY: &[u8] = br#"{"uscc":"91220322MA0Y3K2B1F"}"#;

    const SHA256_BODY_DIGEST: &str =
        "7d640d6d49db4ee6245afeefc9b3c6cd946c36dad7decc276f60b8fb54e676d0";
    const SHA256_SIGNATURE: &str =
        "224f24c42f2d8358da3c3e7d59d6507550e9cdb371c0654a41474e269c02215b";
    const SM3_BODY_DIGEST: &str =
        "6c439dd8d6689f0856aad12b22a8882207bdf4640d8e88f0221cbb0528a15c77";
    const SM3_SIGNATURE: &str = "341c5b0083fcd3fe8e70425d8c90138f4a2c307e4240ed4f6e3307fd01f300f0";

    const BOTH: [(SignatureMethod, &str, &str); 2] = [
        (
            SignatureMethod::HmacSha256,
            SHA256_BODY_DIGEST,
            SHA256_SIGNATURE,
        ),
        (SignatureMethod::HmacSm3, SM3_BODY_DIGEST, SM3_SIGNATURE),
    ];

    fn mac_hex<D: EagerHash>(key: &[u8], message: &[u8]) -> String {
        hex::encode(
            keyed::<D>(key)
                .chain_update(message)
                .finalize()
                .into_bytes(),
        )
    }

    #[test]
    fn published_vectors_for_both_methods() {
        for (method, digest, signature) in BOTH {
            assert_eq!(body_digest(method, BODY), digest, "{method}");
            let canonical = canonical_string("POST", PATH, TIMESTAMP, NONCE, digest);
            assert_eq!(
                canonical,
                format!(
                    "POST\n/v1/entities\n1767225600\n0123456789abcdef0123456789abcdef\n{digest}"
                )
            );
            assert_eq!(
                sign(method, SECRET, "POST", PATH, TIMESTAMP, NONCE, BODY),
                signature
            );
            assert!(verify(
                method, SECRET, "POST", PATH, TIMESTAMP, NONCE, BODY, signature
            ));
        }
    }

    #[test]
    fn signed_headers_carry_the_published_values() {
        for (method, _, signature) in BOTH {
            let headers =
                signed_headers(APP_ID, SECRET, method, "POST", PATH, BODY, TIMESTAMP, NONCE);
            assert_eq!(
                headers.to_pairs(),
                [
                    ("X-App-Id", APP_ID.to_owned()),
                    ("X-Timestamp", "1767225600".to_owned()),
                    ("X-Nonce", NONCE.to_owned()),
                    ("X-Signature", signature.to_owned()),
                    ("X-Signature-Method", method.as_header().to_owned()),
                ]
            );
        }
    }

    #[test]
    fn sm3_matches_the_standard_test_vector() {
        // GB/T 32905-2016, Appendix A.1.
        assert_eq!(
            body_digest(SignatureMethod::HmacSm3, b"abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // Test case 2: a key shorter than the block.
        assert_eq!(
            mac_hex::<Sha256>(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a 131-byte key, which HMAC must hash first.
        assert_eq!(
            mac_hex::<Sha256>(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn hmac_sm3_hashes_long_keys_like_openssl() {
        // RFC 4231 case 6 inputs under SM3; expected value from OpenSSL and gmssl (see above).
        assert_eq!(
            mac_hex::<Sm3>(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "b4fd844e13342002f0b2e0690ea7741f1497d993a70494cea601e657bedf67a0"
        );
    }

    /// One request's worth of `verify` inputs, so each tampering case names only what it changes.
    #[derive(Clone, Copy)]
    struct Signed<'a> {
        method: SignatureMethod,
        secret: &'a [u8],
        http_method: &'a str,
        path: &'a str,
        timestamp: i64,
        nonce: &'a str,
        body: &'a [u8],
        signature: &'a str,
    }

    impl Signed<'_> {
        fn verifies(self) -> bool {
            verify(
                self.method,
                self.secret,
                self.http_method,
                self.path,
                self.timestamp,
                self.nonce,
                self.body,
                self.signature,
            )
        }
    }

    #[test]
    fn tampering_with_any_field_breaks_verification() {
        for (method, _, signature) in BOTH {
            let genuine = Signed {
                method,
                secret: SECRET,
                http_method: "POST",
                path: PATH,
                timestamp: TIMESTAMP,
                nonce: NONCE,
                body: BODY,
                signature,
            };
            assert!(genuine.verifies());
            let other_method = match method {
                SignatureMethod::HmacSha256 => SignatureMethod::HmacSm3,
                SignatureMethod::HmacSm3 => SignatureMethod::HmacSha256,
            };
            let flipped = flip_last_hex_digit(signature);
            let tampered = [
                (
                    "method",
                    Signed {
                        method: other_method,
                        ..genuine
                    },
                ),
                (
                    "secret",
                    Signed {
                        secret: b"xinyidai-test-secreT",
                        ..genuine
                    },
                ),
                (
                    "http method",
                    Signed {
                        http_method: "PUT",
                        ..genuine
                    },
                ),
                (
                    "path",
                    Signed {
                        path: "/v1/entitie",
                        ..genuine
                    },
                ),
                (
                    "timestamp",
                    Signed {
                        timestamp: TIMESTAMP + 1,
                        ..genuine
                    },
                ),
                (
                    "nonce",
                    Signed {
                        nonce: "0123456789abcdef0123456789abcdee",
                        ..genuine
                    },
                ),
                (
                    "body",
                    Signed {
                        body: br#"{"uscc":"91220322MA0Y3K2B1G"}"#,
                        ..genuine
                    },
                ),
                (
                    "signature",
                    Signed {
                        signature: &flipped,
                        ..genuine
                    },
                ),
            ];
            for (field, request) in tampered {
                assert!(
                    !request.verifies(),
                    "{method}: tampered {field} still verified"
                );
            }
        }
    }

    #[test]
    fn malformed_signatures_are_rejected_not_panics() {
        for (method, _, signature) in BOTH {
            for bad in [
                "",
                &signature[..62],
                &signature[..63],
                &format!("{signature}00"),
                "not hex at all",
                &"0".repeat(64),
            ] {
                assert!(
                    !verify(method, SECRET, "POST", PATH, TIMESTAMP, NONCE, BODY, bad),
                    "{method}: {bad:?}"
                );
            }
        }
    }

    #[test]
    fn method_names_round_trip() {
        for method in [SignatureMethod::HmacSha256, SignatureMethod::HmacSm3] {
            assert_eq!(SignatureMethod::parse(method.as_header()), Some(method));
        }
        assert_eq!(
            SignatureMethod::parse("hmac-sm3"),
            Some(SignatureMethod::HmacSm3)
        );
        assert_eq!(SignatureMethod::parse("HMAC-MD5"), None);
        assert_eq!(SignatureMethod::default(), SignatureMethod::HmacSha256);
    }

    #[test]
    fn nonces_are_fresh_and_well_formed() {
        let (a, b) = (new_nonce(), new_nonce());
        assert_eq!(a.len(), 32);
        assert!(nonce_is_well_formed(&a) && nonce_is_well_formed(&b));
        assert_ne!(a, b);
        assert!(!nonce_is_well_formed("short"));
        assert!(!nonce_is_well_formed(&"a".repeat(65)));
        assert!(!nonce_is_well_formed("0123456789abcdef-0123"));
    }

    fn flip_last_hex_digit(signature: &str) -> String {
        let (head, last) = signature.split_at(signature.len() - 1);
        format!("{head}{}", if last == "0" { "1" } else { "0" })
    }
}

//! The legal representative's resident ID number at rest (PIPL sensitive personal information).
//!
//! Stored twice, neither in clear: sealed with AES-256-GCM so it can be read back when the law
//! requires, and as a keyed HMAC-SHA256 so it can be looked up by equality without decrypting
//! anything. Both keys derive from one 32-byte master key (`XYD_DATA_KEY`, or a key file).
//! Losing the master key loses every stored number: back it up with the database.

use std::fmt;
use std::io::{self, Write as _};
use std::path::Path;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::Date;

use crate::domain::resident_id::ResidentId;

type HmacSha256 = Hmac<Sha256>;

/// Master key length in bytes.
pub const KEY_LEN: usize = 32;
/// First byte of every sealed value; a new scheme gets a new number and `open` keeps the old.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

const ENCRYPTION_LABEL: &[u8] = b"xinyidai id-number encryption v1";
const LOOKUP_LABEL: &[u8] = b"xinyidai id-number lookup v1";
const LINK_LABEL: &[u8] = b"xinyidai signed links v1";

/// The master key is unusable. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the data key must be {expected} hex characters, found {found}", expected = KEY_LEN * 2)]
    Length { found: usize },
    #[error("the data key is not hexadecimal")]
    NotHex,
    #[error("the data key is all zeros: generate a random one")]
    AllZero,
}

/// A sealed value could not be opened. Never carries the plaintext or the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("sealed ID number is truncated")]
    Truncated,
    #[error("sealed ID number has unknown version {0}")]
    Version(u8),
    /// Wrong key, or the bytes were altered: GCM cannot tell which.
    #[error("sealed ID number failed authentication (wrong key or altered data)")]
    Authentication,
    /// Authentic, yet not an ID number: sealed by a buggy writer, not by `seal`.
    #[error("sealed ID number does not decrypt to a valid ID number")]
    Invalid,
}

/// What `seal` stores for one ID number.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// `VERSION ‖ 12-byte random nonce ‖ AES-256-GCM ciphertext ‖ 16-byte tag`.
    pub cipher: Vec<u8>,
    /// Lower-case hex HMAC-SHA256 of the number under the lookup key.
    pub lookup: String,
}

impl fmt::Debug for Sealed {
    /// The lookup hash is a stable pseudonym of a person: keep it out of logs too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("cipher_len", &self.cipher.len())
            .finish_non_exhaustive()
    }
}

/// Seals, opens and looks up resident ID numbers with keys derived from one master key.
#[derive(Clone)]
pub struct IdVault {
    cipher: Aes256Gcm,
    /// Keyed once; cloned per lookup so the key schedule is not redone.
    lookup: HmacSha256,
    /// Signs links that must work without a stored token (the digest's opt-out link).
    links: HmacSha256,
}

impl fmt::Debug for IdVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdVault { .. }")
    }
}

impl IdVault {
    /// Builds the vault from 64 hex characters (surrounding whitespace ignored).
    ///
    /// # Errors
    /// Not 32 bytes of hex, or all zeros (a placeholder, not a key).
    pub fn from_hex(hex_key: &str) -> Result<IdVault, KeyError> {
        let hex_key = hex_key.trim();
        let found = hex_key.chars().count();
        if found != KEY_LEN * 2 {
            return Err(KeyError::Length { found });
        }
        let mut master = [0u8; KEY_LEN];
        hex::decode_to_slice(hex_key, &mut master).map_err(|_| KeyError::NotHex)?;
        if master.iter().all(|&b| b == 0) {
            return Err(KeyError::AllZero);
        }
        Ok(IdVault::from_master(&master))
    }

    /// 32 random bytes as 64 lower-case hex characters, for a new deployment's key.
    pub fn generate_hex() -> String {
        let mut key = [0u8; KEY_LEN];
        rand::fill(&mut key);
        hex::encode(key)
    }

    fn from_master(master: &[u8; KEY_LEN]) -> IdVault {
        let enc_key = subkey(master, ENCRYPTION_LABEL);
        let lookup_key = subkey(master, LOOKUP_LABEL);
        IdVault {
            cipher: Aes256Gcm::new(&enc_key.into()),
            lookup: keyed(&lookup_key),
            links: keyed(&subkey(master, LINK_LABEL)),
        }
    }

    /// Lower-case hex HMAC-SHA256 of `message` under a key of its own (derived from the master
    /// key), for links that prove who they were made for without storing anything.
    pub fn link_tag(&self, message: &[u8]) -> String {
        let mut mac = self.links.clone();
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `tag_hex` is [`IdVault::link_tag`] of `message`, compared in constant time.
    pub fn verify_link_tag(&self, message: &[u8], tag_hex: &str) -> bool {
        let Ok(tag) = hex::decode(tag_hex) else {
            return false;
        };
        let mut mac = self.links.clone();
        mac.update(message);
        mac.verify_slice(&tag).is_ok()
    }

    /// Encrypts `id` under a fresh random nonce and computes its lookup hash.
    pub fn seal(&self, id: &ResidentId) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let header = [VERSION];
        let ciphertext = match self.cipher.encrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload {
                msg: id.as_str().as_bytes(),
                aad: &header,
            },
        ) {
            Ok(ciphertext) => ciphertext,
            // AES-GCM refuses only plaintexts over 64 GiB; an ID number is 18 bytes. Panicking
            // beats storing a value that can never be opened.
            Err(_) => unreachable!("AES-GCM refused an 18-byte plaintext"),
        };
        let mut cipher = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        cipher.extend_from_slice(&header);
        cipher.extend_from_slice(&nonce);
        cipher.extend_from_slice(&ciphertext);
        Sealed {
            cipher,
            lookup: self.lookup(id),
        }
    }

    /// Decrypts what [`IdVault::seal`] produced.
    ///
    /// # Errors
    /// Truncated input, an unknown version, a failed tag check (wrong key or altered bytes).
    pub fn open(&self, sealed: &[u8]) -> Result<ResidentId, VaultError> {
        let (&version, rest) = sealed.split_first().ok_or(VaultError::Truncated)?;
        if version != VERSION {
            return Err(VaultError::Version(version));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(VaultError::Truncated);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| VaultError::Truncated)?;
        let plain = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    // The version byte is authenticated: flipping it cannot select another scheme.
                    aad: &[version],
                },
            )
            .map_err(|_| VaultError::Authentication)?;
        let number = std::str::from_utf8(&plain).map_err(|_| VaultError::Invalid)?;
        // It was valid when sealed; only "not born yet" depends on the day, so judge against the
        // last representable date rather than let a clock error make stored data unreadable.
        ResidentId::parse_on(number, Date::MAX).map_err(|_| VaultError::Invalid)
    }

    /// Lower-case hex HMAC-SHA256 of the number: equal numbers give equal hashes under one key,
    /// and without the key the hash cannot be brute-forced from the small space of ID numbers.
    pub fn lookup(&self, id: &ResidentId) -> String {
        let mut mac = self.lookup.clone();
        mac.update(id.as_str().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// An HMAC-SHA256 keyed with `key`, infallibly: HMAC zero-pads keys shorter than its 64-byte
/// block (RFC 2104), so padding here gives the same MAC as `new_from_slice` without its
/// `Result`, whose error only exists for keys longer than a block.
fn keyed(key: &[u8; KEY_LEN]) -> HmacSha256 {
    let mut block = hmac::digest::Key::<HmacSha256>::default();
    block[..KEY_LEN].copy_from_slice(key);
    <HmacSha256 as KeyInit>::new(&block)
}

/// HMAC-SHA256(master, label): independent keys for independent purposes from one secret.
fn subkey(master: &[u8; KEY_LEN], label: &[u8]) -> [u8; KEY_LEN] {
    let mut mac = keyed(master);
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// Reads the hex key at `path`, or creates it with a fresh random key (mode 0600 on Unix) when
/// it does not exist. Used when `XYD_DATA_KEY` is unset; the content is not validated here,
/// [`IdVault::from_hex`] does that.
///
/// The file appears atomically with its full content (written aside, then hard-linked into
/// place), so two processes starting together agree on one key.
///
/// # Errors
/// I/O errors reading, creating or linking the file.
pub fn load_or_create_key_file(path: &Path) -> io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(key) => return Ok(key.trim().to_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let key = IdVault::generate_hex();
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
    let tmp = dir.join(tmp_name);
    let written = write_private(&tmp, &key).and_then(|()| std::fs::hard_link(&tmp, path));
    // Best effort: the temporary name is random, a leftover harms nothing but tidiness.
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(key)
        }
        // Another process won the race: its key is the key.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)?.trim().to_owned())
        }
        Err(e) => Err(e),
    }
}

fn write_private(path: &Path, key: &str) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(key.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Makes the new directory entry durable, so a power cut cannot leave rows sealed under a key
/// whose file vanished.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn id(s: &str) -> ResidentId {
        ResidentId::parse_on(s, time::macros::date!(2026 - 01 - 01)).unwrap()
    }

    fn vault() -> IdVault {
        IdVault::from_hex(KEY).unwrap()
    }

    #[test]
    fn round_trip() {
        let v = vault();
        let number = id("11010519491231002X");
        let sealed = v.seal(&number);
        assert_eq!(sealed.cipher.len(), 1 + NONCE_LEN + 18 + TAG_LEN);
        assert_eq!(sealed.cipher[0], VERSION);
        assert_eq!(v.open(&sealed.cipher).unwrap(), number);
        assert!(
            !sealed
                .cipher
                .windows(6)
                .any(|w| w == b"110105" || w == b"19491231"),
            "plaintext leaked"
        );
    }

    #[test]
    fn every_byte_is_authenticated() {
        let v = vault();
        let sealed = v.seal(&id("11010519491231002X")).cipher;
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert!(v.open(&tampered).is_err(), "byte {i}");
        }
        assert_eq!(
            v.open(&sealed[..sealed.len() - 1]),
            Err(VaultError::Authentication)
        );
        assert_eq!(v.open(&sealed[..20]), Err(VaultError::Truncated));
        assert_eq!(v.open(&[]), Err(VaultError::Truncated));
        let mut other_version = sealed.clone();
        other_version[0] = 2;
        assert_eq!(v.open(&other_version), Err(VaultError::Version(2)));
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = vault().seal(&id("11010519491231002X"));
        let other = IdVault::from_hex(&IdVault::generate_hex()).unwrap();
        assert_eq!(other.open(&sealed.cipher), Err(VaultError::Authentication));
    }

    #[test]
    fn lookup_is_stable_and_keyed() {
        let v = vault();
        let a = id("11010519491231002X");
        let b = id("360426199101010071");
        assert_eq!(v.lookup(&a), v.lookup(&a));
        assert_eq!(v.seal(&a).lookup, v.lookup(&a));
        assert_eq!(vault().lookup(&a), v.lookup(&a), "same key, same hash");
        assert_ne!(v.lookup(&a), v.lookup(&b));
        let other = IdVault::from_hex(&IdVault::generate_hex()).unwrap();
        assert_ne!(other.lookup(&a), v.lookup(&a));
        assert_eq!(v.lookup(&a).len(), 64);
        assert!(!v.lookup(&a).contains("110105"));
        // Not a bare SHA-256 of the number, nor an HMAC under the master key itself.
        let mut master = [0u8; KEY_LEN];
        hex::decode_to_slice(KEY, &mut master).unwrap();
        let mut under_master = keyed(&master);
        under_master.update(a.as_str().as_bytes());
        assert_ne!(
            hex::encode(under_master.finalize().into_bytes()),
            v.lookup(&a)
        );
    }

    #[test]
    fn padded_hmac_key_is_the_rfc_2104_key() {
        let key: [u8; KEY_LEN] = std::array::from_fn(|i| i as u8);
        let mut ours = keyed(&key);
        let mut reference = <HmacSha256 as KeyInit>::new_from_slice(&key).unwrap();
        ours.update(b"x");
        reference.update(b"x");
        assert_eq!(
            ours.finalize().into_bytes(),
            reference.finalize().into_bytes()
        );
    }

    #[test]
    fn nonces_differ_between_seals() {
        let v = vault();
        let a = id("11010519491231002X");
        let nonces: std::collections::HashSet<Vec<u8>> = (0..64)
            .map(|_| v.seal(&a).cipher[1..=NONCE_LEN].to_vec())
            .collect();
        assert_eq!(nonces.len(), 64);
    }

    #[test]
    fn key_parsing() {
        assert!(IdVault::from_hex(&format!("  {KEY}\n")).is_ok());
        assert!(IdVault::from_hex(&KEY.to_uppercase()).is_ok());
        assert_eq!(
            IdVault::from_hex("abc").unwrap_err(),
            KeyError::Length { found: 3 }
        );
        assert_eq!(
            IdVault::from_hex(&"zz".repeat(32)).unwrap_err(),
            KeyError::NotHex
        );
        assert_eq!(
            IdVault::from_hex(&"00".repeat(32)).unwrap_err(),
            KeyError::AllZero
        );
        let generated = IdVault::generate_hex();
        assert_eq!(generated.len(), 64);
        assert_ne!(generated, IdVault::generate_hex());
    }

    #[test]
    fn debug_never_shows_keys_or_numbers() {
        let v = vault();
        let sealed = v.seal(&id("11010519491231002X"));
        let shown = format!("{v:?} {sealed:?}");
        assert!(!shown.contains("0001020304"), "{shown}");
        assert!(!shown.contains(&sealed.lookup), "{shown}");
        assert!(!shown.contains("1101051949"), "{shown}");
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("xyd-key-{:016x}", rand::random::<u64>()));
        let path = dir.join("nested").join("data.key");
        let created = load_or_create_key_file(&path).unwrap();
        assert!(IdVault::from_hex(&created).is_ok());
        assert_eq!(load_or_create_key_file(&path).unwrap(), created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "temporary file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Password hashing (argon2id) and the password rules shown at registration.
//!
//! Hashing is deliberately expensive (19 MiB, two passes), so it runs on tokio's blocking pool
//! behind a semaphore: a burst of logins queues instead of pinning every blocking thread and
//! allocating 19 MiB each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{self, PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Memory cost in KiB (19 MiB), time cost and lanes: OWASP's baseline for argon2id.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Evaluated at compile time, so invalid parameters fail the build rather than a login.
const PARAMS: Params = match Params::new(M_COST_KIB, T_COST, P_COST, None) {
    Ok(params) => params,
    Err(_) => panic!("invalid argon2 parameters"),
};

/// Fixed inputs of the dummy hash: nothing secret, it only has to cost what a real one does.
const DUMMY_PASSWORD: &[u8] = b"xinyidai dummy password";
const DUMMY_SALT: &[u8] = b"xinyidai-dummy-salt";

/// Concurrent hashes when none is configured.
pub const DEFAULT_MAX_CONCURRENT: usize = 2;

/// Shortest and longest accepted password, in characters.
pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

/// Why hashing or verifying failed. Never carries the password or the stored hash.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2 failed")]
    Argon2(#[source] password_hash::Error),
    #[error("the stored password hash is malformed")]
    MalformedHash(#[source] password_hash::Error),
    #[error("the password hashing task did not finish")]
    Task(#[from] tokio::task::JoinError),
    #[error("the password hasher is shut down")]
    Closed(#[from] tokio::sync::AcquireError),
}

/// Hashes and verifies passwords on the blocking pool, at most `max_concurrent` at a time.
/// Cloning shares the limit.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// KDF evaluations so far, dummy ones included (metrics; tests use it to see the dummy ran).
    kdf_runs: Arc<AtomicU64>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        PasswordHasher::new(DEFAULT_MAX_CONCURRENT)
    }
}

impl PasswordHasher {
    /// `max_concurrent` is raised to 1: a limit of 0 would make every login wait forever.
    pub fn new(max_concurrent: usize) -> Self {
        PasswordHasher {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            kdf_runs: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with a fresh random salt.
    ///
    /// # Errors
    /// Only on an internal failure (RNG, allocation, a panicked task).
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_owned();
        let runs = Arc::clone(&self.kdf_runs);
        self.run(move || {
            runs.fetch_add(1, Ordering::Relaxed);
            argon2()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(PasswordError::Argon2)
        })
        .await
    }

    /// Whether `password` matches `stored`. With `None` (no such account) it still runs the KDF,
    /// against a dummy hash with the same parameters, and answers `false`: a login for an
    /// unknown email then costs what a wrong password costs.
    ///
    /// # Errors
    /// `stored` is not a PHC string argon2 understands, or an internal failure.
    pub async fn verify(
        &self,
        password: &str,
        stored: Option<&str>,
    ) -> Result<bool, PasswordError> {
        let password = password.to_owned();
        let stored = stored.map(str::to_owned);
        let runs = Arc::clone(&self.kdf_runs);
        self.run(move || {
            let (phc, known) = match &stored {
                Some(s) => (s.as_str(), true),
                None => (dummy_hash()?, false),
            };
            let phc = PasswordHash::new(phc).map_err(|e| PasswordError::MalformedHash(e.into()))?;
            runs.fetch_add(1, Ordering::Relaxed);
            // Params come from the stored string, so hashes made with older settings still verify.
            match argon2().verify_password(password.as_bytes(), &phc) {
                Ok(()) => Ok(known),
                Err(password_hash::Error::PasswordInvalid) => Ok(false),
                Err(
                    e @ (password_hash::Error::Crypto
                    | password_hash::Error::Internal
                    | password_hash::Error::OutOfMemory
                    | password_hash::Error::RngFailure),
                ) => Err(PasswordError::Argon2(e)),
                // Unsupported algorithm, version or parameters: the stored string is at fault.
                Err(e) => Err(PasswordError::MalformedHash(e)),
            }
        })
        .await
    }

    /// How many times the KDF has run through this hasher (shared by its clones).
    pub fn kdf_runs(&self) -> u64 {
        self.kdf_runs.load(Ordering::Relaxed)
    }

    /// Runs `work` on the blocking pool once a permit is free; the permit moves into the task so
    /// it is held until the hash finishes even if the caller's future is dropped mid-way.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = Arc::clone(&self.permits).acquire_owned().await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await?
    }
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, PARAMS)
}

/// The dummy PHC string, computed on first use (on a blocking thread) and kept for the process.
fn dummy_hash() -> Result<&'static str, PasswordError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = argon2()
        .hash_password_with_salt(DUMMY_PASSWORD, DUMMY_SALT)
        .map_err(PasswordError::Argon2)?
        .to_string();
    // A racing thread may have set it first; both values are identical (fixed salt).
    Ok(DUMMY.get_or_init(|| hash))
}

/// A password rule that a new password breaks. `Display` is the message shown to the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRule {
    #[error("密码至少需要8位")]
    TooShort,
    #[error("密码不能超过128位")]
    TooLong,
    #[error("密码至少要包含字母、数字、符号中的两类")]
    TooSimple,
    #[error("这个密码太常见，容易被猜中，请换一个")]
    Common,
    #[error("密码不能包含邮箱地址@前面的部分")]
    ContainsEmail,
    #[error("工作人员和管理员的密码至少需要12位")]
    OfficialTooShort,
    #[error("工作人员和管理员的密码须包含大写字母、小写字母、数字、符号中的至少三类")]
    OfficialTooSimple,
}

impl PasswordRule {
    /// Stable machine code for the JSON API.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            PasswordRule::TooShort => "password_too_short",
            PasswordRule::TooLong => "password_too_long",
            PasswordRule::TooSimple => "password_too_simple",
            PasswordRule::Common => "password_common",
            PasswordRule::ContainsEmail => "password_contains_email",
            PasswordRule::OfficialTooShort => "password_too_short",
            PasswordRule::OfficialTooSimple => "password_too_simple",
        }
    }
}

/// Checks a new password; reports the first rule broken, in the order of [`PasswordRule`].
///
/// Length counts characters, not bytes. Letters are any alphabetic character (Chinese included),
/// digits any numeric one, symbols everything else (spaces too). The common-password list and
/// the email comparison ignore ASCII case.
///
/// # Errors
/// The first rule `password` breaks.
pub fn check_rules(password: &str, email: Option<&str>) -> Result<(), PasswordRule> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(PasswordRule::TooShort);
    }
    if len > MAX_LEN {
        return Err(PasswordRule::TooLong);
    }
    let lower = password.to_ascii_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return Err(PasswordRule::Common);
    }
    let (mut letter, mut digit, mut symbol) = (false, false, false);
    for c in password.chars() {
        if c.is_alphabetic() {
            letter = true;
        } else if c.is_numeric() {
            digit = true;
        } else {
            symbol = true;
        }
    }
    if u8::from(letter) + u8::from(digit) + u8::from(symbol) < 2 {
        return Err(PasswordRule::TooSimple);
    }
    let local = email
        .and_then(|e| e.rsplit_once('@'))
        .map(|(local, _)| local.trim().to_ascii_lowercase());
    if let Some(local) = local.filter(|l| l.chars().count() >= 3)
        && lower.contains(&local)
    {
        return Err(PasswordRule::ContainsEmail);
    }
    Ok(())
}

/// Longest-held rule for accounts that see other people's data (staff, leaders, admins), after
/// the MLPS 2.0 (等保 2.0) practice: the owner rules, then at least 12 characters and three of
/// upper case, lower case, digits and symbols.
///
/// # Errors
/// The first rule `password` breaks.
pub fn check_official_rules(password: &str, email: Option<&str>) -> Result<(), PasswordRule> {
    check_rules(password, email)?;
    if password.chars().count() < OFFICIAL_MIN_LEN {
        return Err(PasswordRule::OfficialTooShort);
    }
    let has = |f: fn(char) -> bool| u8::from(password.chars().any(f));
    let kinds = has(|c| c.is_uppercase())
        + has(|c| c.is_lowercase())
        + has(|c| c.is_numeric())
        + has(|c| !c.is_alphanumeric());
    if kinds < 3 {
        return Err(PasswordRule::OfficialTooSimple);
    }
    Ok(())
}

/// Minimum length of a staff, leader or admin password.
pub const OFFICIAL_MIN_LEN: usize = 12;

/// The most common passwords in leaked sets, English and Chinese (lower case). Entries shorter
/// than 8 characters or of a single class fail earlier rules anyway; they are listed so the list
/// stays right if those rules are ever relaxed.
const COMMON: &[&str] = &[
    // Digits and keyboard runs.
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "12345",
    "1234567",
    "123123",
    "123123123",
    "111111",
    "11111111",
    "000000",
    "00000000",
    "666666",
    "66666666",
    "888888",
    "88888888",
    "987654321",
    "654321",
    "123321",
    "112233",
    "147258369",
    "147258",
    "159357",
    "159753",
    "135792468",
    "121212",
    "7758521",
    "11223344",
    "12344321",
    "qwerty",
    "qwerty123",
    "qwerty1",
    "qwertyuiop",
    "qwe123",
    "qwe123456",
    "qweasd123",
    "qweasdzxc",
    "qwer1234",
    "1234qwer",
    "q1w2e3r4",
    "q1w2e3r4t5",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1q2w3e",
    "1qaz2wsx",
    "1qaz@wsx",
    "1qaz2wsx3edc",
    "zaq12wsx",
    "!qaz2wsx",
    "asdfghjkl",
    "asdf1234",
    "asd123456",
    "asdasd123",
    "zxcvbnm",
    "zxcvbnm123",
    "zxc123456",
    "abcd1234",
    "abcd@1234",
    "abc123",
    "abc12345",
    "abc123456",
    "abc@123",
    "abcdefg",
    "abcdefgh",
    "abcdef123",
    "aaaaaaaa",
    "a1b2c3d4",
    "a1b2c3d4e5",
    "a123456",
    "a1234567",
    "a12345678",
    "a123456789",
    "a123123",
    "aa123456",
    "aa123123",
    "aa112233",
    "aaa123456",
    "123456a",
    "123456aa",
    "123456abc",
    "123456qwe",
    "123456789a",
    "123abc",
    "123qwe",
    "123qweasd",
    "123qwe!@#",
    "1234abcd",
    "12345abc",
    "12345qwert",
    "q123456",
    "q12345678",
    "z123456",
    "z123456789",
    "w123456",
    "123456789q",
    "123456q",
    "1q2w3e4r5t6y",
    // Chinese favourites: 我爱你, 520/1314 (一生一世), QQ, pinyin.
    "woaini",
    "woaini1314",
    "woaini520",
    "woaini521",
    "woaini123",
    "woaini123456",
    "woaini1314520",
    "5201314",
    "52013145201314",
    "1314520",
    "1314521",
    "520520",
    "521521",
    "5211314",
    "a5201314",
    "aini1314",
    "iloveyou1314",
    "qq123456",
    "qq5201314",
    "qq123456789",
    "qq666666",
    "qq111111",
    "woaiwojia",
    "zhang123",
    "wang123456",
    "li123456",
    "liu123456",
    "chen123456",
    "zhongguo",
    "zhongguo123",
    "beijing",
    "beijing2008",
    "shanghai",
    "nihao123",
    "nihao123456",
    "wobuzhidao",
    "mima123456",
    "mima1234",
    "jiayou123",
    "xiaoming",
    "aptx4869",
    // Admin and default passwords.
    "password",
    "password1",
    "password12",
    "password123",
    "password!",
    "p@ssw0rd",
    "p@ssword",
    "passw0rd",
    "p@ssw0rd123",
    "pass1234",
    "admin",
    "admin123",
    "admin1234",
    "admin12345",
    "admin@123",
    "admin888",
    "admin123456",
    "administrator",
    "root",
    "root123",
    "root1234",
    "root@123",
    "toor",
    "test",
    "test123",
    "test1234",
    "test@123",
    "guest",
    "guest123",
    "user1234",
    "changeme",
    "welcome",
    "welcome1",
    "welcome123",
    "default",
    "letmein",
    "letmein1",
    "secret",
    "secret123",
    // English favourites.
    "iloveyou",
    "iloveyou1",
    "iloveyou2",
    "sunshine",
    "sunshine1",
    "princess",
    "princess1",
    "football",
    "football1",
    "baseball",
    "basketball",
    "monkey",
    "monkey123",
    "dragon",
    "dragon123",
    "master",
    "master123",
    "superman",
    "batman",
    "trustno1",
    "shadow",
    "starwars",
    "pokemon",
    "whatever",
    "freedom",
    "hello123",
    "hello1234",
    "helloworld",
    "computer",
    "internet",
    "qazwsx",
    "qazwsx123",
    "michael",
    "jennifer",
    "jordan23",
    "charlie",
    "lovely",
    "loveme",
    "flower",
    "chocolate",
    "cheese",
    "summer",
    "mustang",
    "access",
    "ninja",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// One hasher per test, so the counter sees only that test's work.
    fn hasher() -> PasswordHasher {
        PasswordHasher::new(2)
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hasher();
        let phc = h.hash("Lishu-2024!").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify("Lishu-2024!", Some(&phc)).await.unwrap());
        assert!(!h.verify("lishu-2024!", Some(&phc)).await.unwrap());
        // A fresh salt each time.
        assert_ne!(h.hash("Lishu-2024!").await.unwrap(), phc);
    }

    #[tokio::test]
    async fn unknown_account_runs_the_kdf_and_is_refused() {
        let h = hasher();
        let before = h.kdf_runs();
        // Even the dummy's own password does not log in to a missing account.
        let dummy = std::str::from_utf8(DUMMY_PASSWORD).unwrap();
        assert!(!h.verify(dummy, None).await.unwrap());
        assert!(!h.verify("Lishu-2024!", None).await.unwrap());
        assert_eq!(h.kdf_runs() - before, 2);
    }

    #[tokio::test]
    async fn dummy_costs_what_a_real_hash_costs() {
        let real = hasher().hash("Lishu-2024!").await.unwrap();
        let params = |phc: &str| {
            let parsed = PasswordHash::new(phc).unwrap();
            (
                parsed.algorithm.to_string(),
                parsed.version,
                parsed.params.to_string(),
                parsed.hash.map(|o| o.len()),
            )
        };
        let dummy = tokio::task::spawn_blocking(|| dummy_hash().map(str::to_owned))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(params(&dummy), params(&real));
    }

    #[tokio::test]
    async fn malformed_stored_hash_is_an_error_not_a_match() {
        let err = hasher().verify("x", Some("not a hash")).await.unwrap_err();
        assert!(matches!(err, PasswordError::MalformedHash(_)), "{err:?}");
    }

    #[tokio::test]
    async fn hashes_share_the_permits() {
        let h = PasswordHasher::new(1);
        let clone = h.clone();
        let (a, b) = tokio::join!(h.hash("Lishu-2024!"), clone.hash("Lishu-2025!"));
        a.unwrap();
        b.unwrap();
        assert_eq!(h.kdf_runs(), 2);
        assert_eq!(h.permits.available_permits(), 1);
    }

    #[test]
    fn zero_concurrency_is_raised_to_one() {
        assert_eq!(PasswordHasher::new(0).permits.available_permits(), 1);
    }

    #[test]
    fn length_rules() {
        assert_eq!(check_rules("aB3$xyz", None), Err(PasswordRule::TooShort));
        assert_eq!(check_rules("梨树县2024年", None), Ok(()));
        assert_eq!(check_rules("梨树县2024", None), Err(PasswordRule::TooShort));
        assert_eq!(
            check_official_rules("Lishu-2026", None),
            Err(PasswordRule::OfficialTooShort)
        );
        assert_eq!(
            check_official_rules("lishu-county-2026", None),
            Ok(()),
            "lower case, digits and symbols are three kinds"
        );
        assert_eq!(
            check_official_rules("lishucounty2026", None),
            Err(PasswordRule::OfficialTooSimple)
        );
        assert_eq!(check_official_rules("Lishu County 2026", None), Ok(()));
        let long = "a1".repeat(64);
        assert_eq!(check_rules(&long, None), Ok(()));
        assert_eq!(
            check_rules(&format!("{long}x"), None),
            Err(PasswordRule::TooLong)
        );
    }

    #[test]
    fn needs_two_classes() {
        for simple in [
            "abcdefghij",
            "ABCDefghIJ",
            "9876543210",
            "!@#$%^&*()",
            "梨树县梨树镇城区",
        ] {
            assert_eq!(
                check_rules(simple, None),
                Err(PasswordRule::TooSimple),
                "{simple}"
            );
        }
        for ok in ["river-stone", "river7stone", "83920174!", "梨树县梨树镇2号"] {
            assert_eq!(check_rules(ok, None), Ok(()), "{ok}");
        }
    }

    #[test]
    fn common_passwords_refused_whatever_the_case() {
        for common in [
            "woaini1314",
            "qq123456",
            "a12345678",
            "123456abc",
            "Password1",
            "P@ssw0rd",
            "1QAZ2WSX",
            "12345678",
        ] {
            assert_eq!(
                check_rules(common, None),
                Err(PasswordRule::Common),
                "{common}"
            );
        }
    }

    #[test]
    fn common_list_is_lower_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for p in COMMON {
            assert_eq!(*p, p.to_ascii_lowercase(), "{p}");
            assert!(seen.insert(p), "duplicate {p}");
        }
        assert!(COMMON.len() >= 200, "{}", COMMON.len());
    }

    #[test]
    fn email_local_part() {
        let email = Some("Lishu.Farm@example.org");
        assert_eq!(
            check_rules("my-lishu.farm-9", email),
            Err(PasswordRule::ContainsEmail)
        );
        assert_eq!(check_rules("river7stone", email), Ok(()));
        // Too short a local part to mean anything.
        assert_eq!(
            check_rules("ab-river7stone", Some("ab@example.org")),
            Ok(())
        );
        assert_eq!(check_rules("river7stone", Some("not an email")), Ok(()));
    }

    #[test]
    fn messages_and_codes() {
        assert_eq!(PasswordRule::TooShort.to_string(), "密码至少需要8位");
        assert_eq!(PasswordRule::TooShort.code(), "password_too_short");
        assert_eq!(PasswordRule::TooLong.code(), "password_too_long");
        assert_eq!(PasswordRule::TooSimple.code(), "password_too_simple");
        assert_eq!(PasswordRule::Common.code(), "password_common");
        assert_eq!(
            PasswordRule::ContainsEmail.code(),
            "password_contains_email"
        );
    }
}

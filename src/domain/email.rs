//! 电子邮箱 (email address).
//!
//! Syntax per the HTML5 `type=email` rule (through `validator`), which is what
//! a browser would accept in the same form field. Personal data: `Debug`
//! prints the masked form.

use std::fmt;

use validator::ValidateEmail;

use super::uscc::fold_full_width;

/// Longest address accepted, in bytes (RFC 5321 path limit minus `<>`).
pub const EMAIL_MAX_LEN: usize = 254;

/// Why an input is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Blank input.
    #[error("请填写电子邮箱")]
    Empty,
    /// Longer than [`EMAIL_MAX_LEN`] bytes.
    #[error("电子邮箱过长，最多254个字符")]
    TooLong,
    /// Not a syntactically valid address.
    #[error("电子邮箱格式不正确")]
    Format,
}

impl EmailError {
    /// Stable machine code for the JSON API.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            EmailError::Empty => "email_required",
            EmailError::TooLong => "email_too_long",
            EmailError::Format => "email_format",
        }
    }
}

/// A syntactically valid email address with a lower-case domain.
///
/// The local part keeps its case: RFC 5321 lets servers treat it as
/// case-sensitive, so folding it could address someone else.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses user input: full-width ASCII (`＠`, `．` from a Chinese IME)
    /// folded to ASCII, surrounding whitespace trimmed, domain lower-cased.
    ///
    /// # Errors
    /// [`EmailError::Empty`], then [`EmailError::TooLong`], then
    /// [`EmailError::Format`].
    pub fn parse(input: &str) -> Result<EmailAddress, EmailError> {
        let folded: String = input.chars().map(fold_full_width).collect();
        let trimmed = folded.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > EMAIL_MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(EmailError::Format)?;
        let address = format!("{local}@{}", domain.to_lowercase());
        // Validated after lower-casing, so what is stored is what was checked,
        // and the length limit still holds (lower-casing can grow a string).
        // A dotless domain (`user@localhost`) is valid HTML5 but on a public
        // form it is a typo.
        if address.len() > EMAIL_MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if !address.validate_email() || !domain.contains('.') {
            return Err(EmailError::Format);
        }
        Ok(EmailAddress(address))
    }

    /// The full address. Personal data: never log it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the last `@`, lower case.
    #[must_use]
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// First character of the local part, then `***@` and the domain:
    /// `z***@example.com`.
    #[must_use]
    pub fn masked(&self) -> String {
        let first = self.0.chars().next().unwrap_or('*');
        format!("{first}***@{}", self.domain())
    }
}

impl fmt::Debug for EmailAddress {
    /// Masked, so a stray `{:?}` cannot leak the address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EmailAddress").field(&self.masked()).finish()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ok(input: &str) -> String {
        match EmailAddress::parse(input) {
            Ok(email) => email.as_str().to_owned(),
            Err(e) => panic!("{input:?}: {e}"),
        }
    }

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(ok("zhang.san@example.com"), "zhang.san@example.com");
        assert_eq!(ok("  Zhang.San@Example.COM \n"), "Zhang.San@example.com");
        assert_eq!(ok("wang+tag@mail.qq.com"), "wang+tag@mail.qq.com");
        assert_eq!(ok("li\u{FF20}163\u{FF0E}com"), "li@163.com");
        assert_eq!(ok("\u{3000}li@163.com\u{3000}"), "li@163.com");
        // Internationalised domains are allowed and lower-cased as Unicode.
        assert_eq!(ok("info@例子.中国"), "info@例子.中国");
        assert_eq!(ok("a@[127.0.0.1]"), "a@[127.0.0.1]");
    }

    #[test]
    fn empty_is_required() {
        for input in ["", "  ", "\u{3000}", "\n"] {
            assert_eq!(
                EmailAddress::parse(input),
                Err(EmailError::Empty),
                "{input:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_syntax() {
        for input in [
            "zhangsan",
            "zhangsan@",
            "@example.com",
            "zhang san@example.com",
            "zhang@exa mple.com",
            "zhang@@example.com",
            "zhang@example..com",
            "zhang@-example.com",
            "zhang@localhost",
            "张三@example.com",
            "zhang@example.com.",
        ] {
            assert_eq!(
                EmailAddress::parse(input),
                Err(EmailError::Format),
                "{input:?}"
            );
        }
    }

    #[test]
    fn length_limit_is_checked_before_syntax() {
        let local = "a".repeat(64);
        let domain = format!("{}.com", "b".repeat(185));
        let at_limit = format!("{local}@{domain}");
        assert_eq!(at_limit.len(), EMAIL_MAX_LEN);
        // Labels over 63 chars make it invalid, but length is judged first.
        let too_long = format!("{local}@{domain}x");
        assert_eq!(EmailAddress::parse(&too_long), Err(EmailError::TooLong));
        assert_eq!(
            EmailAddress::parse(&"x".repeat(300)),
            Err(EmailError::TooLong)
        );
        let labels = ["c".repeat(60), "d".repeat(60), "e".repeat(60)].join(".");
        let fits = format!("{}@{labels}.cn", "f".repeat(64));
        assert!(fits.len() <= EMAIL_MAX_LEN);
        assert!(EmailAddress::parse(&fits).is_ok());
    }

    #[test]
    fn error_messages_and_codes() {
        assert_eq!(EmailError::Empty.code(), "email_required");
        assert_eq!(EmailError::Format.code(), "email_format");
        assert_eq!(EmailError::TooLong.code(), "email_too_long");
        assert_eq!(EmailError::Empty.to_string(), "请填写电子邮箱");
        assert_eq!(EmailError::Format.to_string(), "电子邮箱格式不正确");
        assert_eq!(
            EmailError::TooLong.to_string(),
            "电子邮箱过长，最多254个字符"
        );
    }

    #[test]
    fn masked_domain_and_debug() {
        let email = EmailAddress::parse("Zhang.San@Example.com").unwrap();
        assert_eq!(email.domain(), "example.com");
        assert_eq!(email.masked(), "Z***@example.com");
        assert_eq!(format!("{email:?}"), "EmailAddress(\"Z***@example.com\")");
        // Found by fuzzing: an address can equal its own mask; it hides nothing.
        let starred = EmailAddress::parse("l***@gxam.cqmple.com").unwrap();
        assert_eq!(starred.masked(), starred.as_str());
        // A one-character local part is still padded, so the mask differs.
        let short = EmailAddress::parse("a@b.cn").unwrap();
        assert_eq!(short.masked(), "a***@b.cn");
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = EmailAddress::parse(&input);
        }

        #[test]
        fn reparse_is_stable(input in "[a-zA-Z0-9.+_\\-]{1,12}@[a-zA-Z0-9\\-]{1,10}(\\.[a-zA-Z]{2,4}){1,2}") {
            if let Ok(email) = EmailAddress::parse(&input) {
                prop_assert_eq!(EmailAddress::parse(email.as_str()), Ok(email.clone()));
                let (local, domain) = input.rsplit_once('@').unwrap_or_default();
                prop_assert_eq!(email.domain(), domain.to_lowercase());
                prop_assert!(email.as_str().starts_with(local));
                if local.len() > 1 {
                    prop_assert!(!email.masked().contains(email.as_str()));
                }
            }
        }
    }
}

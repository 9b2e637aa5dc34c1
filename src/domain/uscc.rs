//! 统一社会信用代码 (Unified Social Credit Code, USCC), GB 32100-2015.
//!
//! Layout of the 18 characters:
//!
//! | chars | meaning |
//! |---|---|
//! | 1 | registration authority (登记管理部门代码) |
//! | 2 | entity type within that authority (机构类别代码) |
//! | 3–8 | division code of the registering office (登记管理机关行政区划码) |
//! | 9–17 | GB 11714 organisation code: 8 body chars + its own check char |
//! | 18 | check char over chars 1–17 (GB/T 17710, MOD 31) |

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::entity_kind::{EntityKind, is_known_type_code};

/// The 31 characters a USCC may use (no I, O, Z, S, V); a char's value in the
/// final check is its index here.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of chars 1–17 in the final check: 3^i mod 31.
const USCC_WEIGHTS: [usize; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Weights of the 8 body chars of a GB 11714 organisation code.
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Division code used by offices registering at national level.
const NATIONAL_DIVISION: &str = "100000";

/// Length of a USCC in characters.
pub const USCC_LEN: usize = 18;

/// Why an input is not a valid USCC. Each variant is one rule, checked in the
/// order listed; parsing reports the first rule that fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    /// Nothing left after removing whitespace and separators.
    #[error("请填写统一社会信用代码")]
    Empty,
    /// Not 18 characters after normalisation.
    #[error("统一社会信用代码应为18位，实际为{found}位")]
    Length {
        /// Characters found.
        found: usize,
    },
    /// A character outside `0-9` and `A-Z` minus I, O, Z, S, V.
    #[error("第{position}位字符“{found}”不是统一社会信用代码允许的字符")]
    Charset {
        /// 1-based position in the normalised code (separators removed).
        position: usize,
        /// The offending character.
        found: char,
    },
    /// Chars 1–2 are not a defined authority + entity type pair.
    #[error("登记管理部门和机构类别代码“{code}”不存在")]
    Type {
        /// The 2-character pair found.
        code: String,
    },
    /// Chars 3–8 are not a plausible division code.
    #[error("行政区划码“{code}”无效")]
    Division {
        /// The 6 characters found.
        code: String,
    },
    /// Char 17 does not match the GB 11714 check over chars 9–16.
    #[error("组织机构代码校验位错误：应为“{expected}”，实际为“{found}”")]
    OrgCheck {
        /// Check char computed from the body.
        expected: char,
        /// Check char present in the input.
        found: char,
    },
    /// Char 18 does not match the check over chars 1–17.
    #[error("统一社会信用代码校验位错误：应为“{expected}”，实际为“{found}”")]
    Check {
        /// Check char computed from chars 1–17.
        expected: char,
        /// Check char present in the input.
        found: char,
    },
}

impl UsccError {
    /// Stable machine code for the JSON API (`{"errors": {"uscc": [code]}}`).
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            UsccError::Empty => "uscc_required",
            UsccError::Length { .. } => "uscc_length",
            UsccError::Charset { .. } => "uscc_charset",
            UsccError::Type { .. } => "uscc_type",
            UsccError::Division { .. } => "uscc_division",
            UsccError::OrgCheck { .. } => "uscc_org_check",
            UsccError::Check { .. } => "uscc_check",
        }
    }
}

/// A valid USCC in canonical form: 18 upper-case characters, no separators.
///
/// The only ways to obtain one are [`Uscc::parse`] and [`Uscc::assemble`], so
/// holding a `Uscc` proves every GB 32100-2015 rule checked here holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc(String);

impl Uscc {
    /// Parses user input.
    ///
    /// Normalisation first: full-width ASCII (typed with a Chinese IME) is
    /// folded to ASCII, all whitespace (ASCII, ideographic, line breaks) and
    /// hyphens removed, ASCII letters upper-cased. Then the
    /// rules of [`UsccError`] are checked in order.
    ///
    /// # Errors
    /// The first rule the normalised input breaks.
    pub fn parse(input: &str) -> Result<Uscc, UsccError> {
        let code = normalise(input);
        let length = code.chars().count();
        if length == 0 {
            return Err(UsccError::Empty);
        }
        if length != USCC_LEN {
            return Err(UsccError::Length { found: length });
        }
        if let Some((i, found)) = code
            .chars()
            .enumerate()
            .find(|&(_, c)| alphabet_index(c).is_none())
        {
            return Err(UsccError::Charset {
                position: i + 1,
                found,
            });
        }
        // Every char is now one of the 31 ASCII alphabet chars: bytes are chars.
        let bytes = code.as_bytes();
        let type_code = &code[0..2];
        if !is_known_type_code(type_code) {
            return Err(UsccError::Type {
                code: type_code.to_owned(),
            });
        }
        let division = &code[2..8];
        if !is_valid_uscc_division(division) {
            return Err(UsccError::Division {
                code: division.to_owned(),
            });
        }
        let (expected, found) = (org_check(&bytes[8..16]), char::from(bytes[16]));
        if found != expected {
            return Err(UsccError::OrgCheck { expected, found });
        }
        let (expected, found) = (uscc_check(&bytes[..17]), char::from(bytes[17]));
        if found != expected {
            return Err(UsccError::Check { expected, found });
        }
        Ok(Uscc(code))
    }

    /// Builds a valid USCC from its parts, computing both check characters.
    ///
    /// For demo data and tests. `type_code` is chars 1–2 (`"91"`),
    /// `division_code` chars 3–8 (`"220322"`), `org_body` the 8 body chars of
    /// the organisation code; the parts go through the same normalisation as
    /// [`Uscc::parse`].
    ///
    /// # Errors
    /// The rule the parts break, as [`Uscc::parse`] would report it for the
    /// assembled code (lengths are reported for the whole 18-char code).
    pub fn assemble(
        type_code: &str,
        division_code: &str,
        org_body: &str,
    ) -> Result<Uscc, UsccError> {
        let mut head = normalise(type_code);
        head.push_str(&normalise(division_code));
        head.push_str(&normalise(org_body));
        let head_len = head.chars().count();
        if head_len != USCC_LEN - 2 {
            return Err(UsccError::Length {
                found: head_len + 2,
            });
        }
        // A `None` check means a char outside the alphabet; a placeholder lets
        // `parse` report that charset error with its position.
        let org_check = head.get(8..16).and_then(org_code_check_char).unwrap_or('0');
        head.push(org_check);
        let check = uscc_check_char(&head).unwrap_or('0');
        head.push(check);
        Uscc::parse(&head)
    }

    /// The canonical 18-character code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Chars 1–2: registration authority + entity type (`"91"`).
    #[must_use]
    pub fn type_code(&self) -> &str {
        &self.0[0..2]
    }

    /// Chars 3–8: division code of the registering office (`"220322"`).
    #[must_use]
    pub fn division_code(&self) -> &str {
        &self.0[2..8]
    }

    /// Chars 9–17: the GB 11714 organisation code including its check char.
    #[must_use]
    pub fn organization_code(&self) -> &str {
        &self.0[8..17]
    }

    /// Coarse entity kind from [`Uscc::type_code`].
    #[must_use]
    pub fn entity_kind(&self) -> EntityKind {
        // `parse` only admits defined type codes, so the fallback never fires.
        EntityKind::from_type_code(self.type_code()).unwrap_or(EntityKind::Other)
    }

    /// Consumes the value, returning the canonical string.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Check character (char 18) for the first 17 chars of a USCC, or `None` if
/// `first17` is not 17 characters from the USCC alphabet.
#[must_use]
pub fn uscc_check_char(first17: &str) -> Option<char> {
    // Alphabet chars are ASCII, so 17 bytes that are all alphabet chars are
    // exactly 17 chars.
    let valid =
        first17.len() == USCC_WEIGHTS.len() && first17.chars().all(|c| alphabet_index(c).is_some());
    valid.then(|| uscc_check(first17.as_bytes()))
}

/// GB 11714 check character for the 8 body chars of an organisation code, or
/// `None` if `body8` is not 8 characters from `0-9A-Z`.
///
/// GB 11714 admits I, O, S, V and Z in a body even though a USCC does not.
#[must_use]
pub fn org_code_check_char(body8: &str) -> Option<char> {
    let valid = body8.len() == ORG_WEIGHTS.len()
        && body8
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    valid.then(|| org_check(body8.as_bytes()))
}

/// MOD 31 check over 17 alphabet bytes (callers validate).
fn uscc_check(first17: &[u8]) -> char {
    let sum: usize = first17
        .iter()
        .zip(USCC_WEIGHTS)
        .map(|(&b, weight)| alphabet_index(char::from(b)).unwrap_or(0) * weight)
        .sum();
    // The index is below 31, so it is always in the alphabet.
    char::from(ALPHABET[(31 - sum % 31) % 31])
}

/// GB 11714 MOD 11 check over 8 bytes from `0-9A-Z` (callers validate).
fn org_check(body: &[u8]) -> char {
    // Digits are worth 0–9 and A–Z 10–35: exactly base-36 digit values.
    let sum: u32 = body
        .iter()
        .zip(ORG_WEIGHTS)
        .map(|(&b, weight)| char::from(b).to_digit(36).unwrap_or(0) * weight)
        .sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        v => char::from_digit(v, 10).unwrap_or('0'),
    }
}

/// The 2-digit province-level division codes of GB/T 2260: 11–15, 21–23,
/// 31–37, 41–46, 50–54, 61–65, 71 (Taiwan), 81–82 (Hong Kong, Macao).
pub(crate) const PROVINCE_PREFIXES: [&str; 34] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];

/// Whether a 2-digit prefix is a province-level division code.
pub(crate) fn is_province_prefix(prefix: &str) -> bool {
    PROVINCE_PREFIXES.contains(&prefix)
}

/// Maps full-width ASCII variants (U+FF01–U+FF5E, typed with a Chinese IME in
/// full-width mode) and the ideographic space to their ASCII counterparts.
pub(crate) fn fold_full_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// 6 ASCII digits with a province prefix, or the national-level `100000`.
fn is_valid_uscc_division(code: &str) -> bool {
    code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && (code == NATIONAL_DIVISION || code.get(0..2).is_some_and(is_province_prefix))
}

fn alphabet_index(c: char) -> Option<usize> {
    let byte = u8::try_from(c).ok()?;
    ALPHABET.iter().position(|&a| a == byte)
}

/// Canonical form of user input; idempotent.
fn normalise(input: &str) -> String {
    input
        .chars()
        .map(fold_full_width)
        .filter(|&c| c != ' ' && c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Uscc {
    type Err = UsccError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uscc::parse(s)
    }
}

impl AsRef<str> for Uscc {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Uscc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Uscc {
    /// Goes through [`Uscc::parse`], so stored or posted data cannot smuggle in
    /// an invalid code.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Uscc::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;

//! 居民身份证号码 (resident ID number), GB 11643-1999.
//!
//! 18 characters: 6-digit division code of first registration, 8-digit birth
//! date `YYYYMMDD`, 3-digit sequence (odd for men, even for women), and an
//! ISO 7064 MOD 11-2 check character (`0`–`9` or `X`).
//!
//! The number is sensitive personal information under PIPL. [`ResidentId`]
//! therefore has no `Display` and no `Serialize`, its `Debug` prints the masked
//! form, and [`ResidentIdError`] never carries digits of the number beyond a
//! single offending character.

use std::fmt;

use time::{Date, Month};

use super::uscc::{fold_full_width, is_province_prefix};

/// Length of a resident ID number in characters.
pub const RESIDENT_ID_LEN: usize = 18;

/// Weights of digits 1–17 in the check: 2^(17−i) mod 11.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// Earliest birth date accepted; older numbers are data-entry errors here.
const EARLIEST_BIRTH: Date = time::macros::date!(1900 - 01 - 01);

/// Why an input is not a valid resident ID number. Variants are rules in the
/// order they are checked; parsing reports the first that fails.
///
/// No variant carries the division code or birth date: errors get logged, and
/// those fields are personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResidentIdError {
    /// Nothing left after removing whitespace.
    #[error("请填写身份证号码")]
    Empty,
    /// Not 18 characters.
    #[error("身份证号码应为18位，实际为{found}位")]
    Length {
        /// Characters found.
        found: usize,
    },
    /// Not 17 digits followed by a digit or `X`.
    #[error("第{position}位字符“{found}”不是身份证号码允许的字符")]
    Charset {
        /// 1-based position in the normalised number (spaces removed).
        position: usize,
        /// The offending character.
        found: char,
    },
    /// Digits 1–6 do not start with a province-level code.
    #[error("身份证号码前6位地址码无效")]
    Division,
    /// Digits 7–14 are not a calendar date on or after 1900-01-01.
    #[error("身份证号码第7至14位不是有效的出生日期")]
    BirthDate,
    /// The birth date lies after today.
    #[error("身份证号码中的出生日期晚于今天")]
    BirthFuture,
    /// The last character does not match the MOD 11-2 check.
    #[error("身份证号码校验位错误：应为“{expected}”，实际为“{found}”")]
    Check {
        /// Check char computed from digits 1–17.
        expected: char,
        /// Check char present in the input.
        found: char,
    },
}

impl ResidentIdError {
    /// Stable machine code for the JSON API.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            ResidentIdError::Empty => "id_required",
            ResidentIdError::Length { .. } => "id_length",
            ResidentIdError::Charset { .. } => "id_charset",
            ResidentIdError::Division => "id_division",
            ResidentIdError::BirthDate => "id_birth_date",
            ResidentIdError::BirthFuture => "id_birth_future",
            ResidentIdError::Check { .. } => "id_check",
        }
    }
}

/// A valid 18-character resident ID number (upper-case `X`).
///
/// Sensitive: [`ResidentId::as_str`] returns the full number and must never
/// reach a log; show [`ResidentId::masked`] to people.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentId {
    number: String,
    /// Decoded once by `parse_on`, so the accessor cannot fail.
    birth: Date,
}

impl ResidentId {
    /// Parses user input, judging the birth date against `today`.
    ///
    /// Normalisation: full-width ASCII folded to ASCII, all whitespace removed,
    /// `x` upper-cased. Then the rules of [`ResidentIdError`] in order.
    ///
    /// # Errors
    /// The first rule the normalised input breaks.
    pub fn parse_on(input: &str, today: Date) -> Result<ResidentId, ResidentIdError> {
        let number = normalise(input);
        let length = number.chars().count();
        if length == 0 {
            return Err(ResidentIdError::Empty);
        }
        if length != RESIDENT_ID_LEN {
            return Err(ResidentIdError::Length { found: length });
        }
        if let Some((i, found)) = number
            .chars()
            .enumerate()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == RESIDENT_ID_LEN - 1 && c == 'X')))
        {
            return Err(ResidentIdError::Charset {
                position: i + 1,
                found,
            });
        }
        // All ASCII from here on: bytes are chars.
        let bytes = number.as_bytes();
        if !is_province_prefix(&number[0..2]) {
            return Err(ResidentIdError::Division);
        }
        let birth = birth_date_of(&bytes[6..14]).ok_or(ResidentIdError::BirthDate)?;
        if birth < EARLIEST_BIRTH {
            return Err(ResidentIdError::BirthDate);
        }
        if birth > today {
            return Err(ResidentIdError::BirthFuture);
        }
        let (expected, found) = (check_of(&bytes[..17]), char::from(bytes[17]));
        if found != expected {
            return Err(ResidentIdError::Check { expected, found });
        }
        Ok(ResidentId { number, birth })
    }

    /// Builds a valid number from its parts, computing the check character.
    /// For tests and demo data.
    ///
    /// The birth date is not compared with today (a generator may want any
    /// date); every other rule applies.
    ///
    /// # Errors
    /// [`ResidentIdError::Length`] if `division` is not 6 characters or
    /// `sequence` exceeds 999, otherwise the rule the parts break.
    pub fn assemble(
        division: &str,
        birth: Date,
        sequence: u16,
    ) -> Result<ResidentId, ResidentIdError> {
        if !(0..=9999).contains(&birth.year()) {
            return Err(ResidentIdError::BirthDate);
        }
        let mut id = format!(
            "{division}{:04}{:02}{:02}{sequence:03}",
            birth.year(),
            u8::from(birth.month()),
            birth.day()
        );
        // Placeholder when the head is malformed: `parse_on` then reports why.
        let check = id.get(0..17).and_then(check_char).unwrap_or('0');
        id.push(check);
        ResidentId::parse_on(&id, Date::MAX)
    }

    /// The full number. Sensitive: never log it; store it encrypted.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// Digits 1–6: division code of first registration.
    #[must_use]
    pub fn division_code(&self) -> &str {
        &self.number[0..6]
    }

    /// Birth date from digits 7–14.
    #[must_use]
    pub fn birth_date(&self) -> Date {
        self.birth
    }

    /// Age in full years on `date`: one less until the birthday is reached.
    ///
    /// Someone born on 29 February turns a year older on 1 March in common
    /// years. Dates before the birth give 0.
    #[must_use]
    pub fn age_on(&self, date: Date) -> u32 {
        let birth = self.birth;
        let mut years = date.year() - birth.year();
        if (u8::from(date.month()), date.day()) < (u8::from(birth.month()), birth.day()) {
            years -= 1;
        }
        u32::try_from(years).unwrap_or(0)
    }

    /// Whether the sequence digit (17th) is even, which GB 11643 assigns to women.
    #[must_use]
    pub fn is_female(&self) -> bool {
        // b'0' is even, so the ASCII byte has the digit's parity.
        self.number.as_bytes()[16].is_multiple_of(2)
    }

    /// First 4 and last 4 characters with 10 `*` between: `2203**********123X`.
    #[must_use]
    pub fn masked(&self) -> String {
        format!("{}**********{}", &self.number[0..4], &self.number[14..18])
    }
}

impl fmt::Debug for ResidentId {
    /// Masked, so a stray `{:?}` in a log line cannot leak the number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResidentId").field(&self.masked()).finish()
    }
}

/// Calendar date from the 8 ASCII digits `YYYYMMDD`, if it exists.
fn birth_date_of(digits: &[u8]) -> Option<Date> {
    let text = std::str::from_utf8(digits).ok()?;
    let year: i32 = text.get(0..4)?.parse().ok()?;
    let month: u8 = text.get(4..6)?.parse().ok()?;
    let day: u8 = text.get(6..8)?.parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// MOD 11-2 check character for 17 ASCII digits, or `None` for other input.
fn check_char(first17: &str) -> Option<char> {
    let valid = first17.len() == WEIGHTS.len() && first17.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| check_of(first17.as_bytes()))
}

/// MOD 11-2 check over 17 ASCII digits (callers validate).
fn check_of(digits: &[u8]) -> char {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(&b, weight)| u32::from(b.wrapping_sub(b'0')) * weight)
        .sum();
    match (12 - sum % 11) % 11 {
        10 => 'X',
        v => char::from_digit(v, 10).unwrap_or('0'),
    }
}

/// Canonical form of user input; idempotent.
fn normalise(input: &str) -> String {
    input
        .chars()
        .map(fold_full_width)
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == 'x' { 'X' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2025 - 06 - 15);

    fn id(input: &str) -> ResidentId {
        ResidentId::parse_on(input, TODAY).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }

    fn err(input: &str) -> ResidentIdError {
        match ResidentId::parse_on(input, TODAY) {
            Ok(id) => panic!("{input:?} parsed as {id:?}"),
            Err(e) => e,
        }
    }

    /// Valid numbers from python-stdnum's `stdnum/cn/ric.py` and
    /// `tests/test_cn_ric.doctest` (arthurdejong/python-stdnum). The last two
    /// fail there only on its historical county database, which L1 does not
    /// consult.
    #[test]
    fn python_stdnum_valid_numbers_parse() {
        for number in [
            "360426199101010071",
            "44011320141005001X",
            "412723199010050012",
            "110102199101010078",
            "120110198012010073",
            "120110199212010072",
            "110111198012010078",
            "110201199312010077",
        ] {
            assert_eq!(id(number).as_str(), number);
        }
        assert_eq!(id("44011320141005001x").as_str(), "44011320141005001X");
    }

    #[test]
    fn python_stdnum_invalid_numbers() {
        assert_eq!(
            err("T60426199101010078"),
            ResidentIdError::Charset {
                position: 1,
                found: 'T'
            }
        );
        assert_eq!(err("990426199112010074"), ResidentIdError::Division);
        assert_eq!(err("360426199113010079"), ResidentIdError::BirthDate);
        assert_eq!(
            err("36042619910102009X"),
            ResidentIdError::Check {
                expected: '3',
                found: 'X'
            }
        );
    }

    #[test]
    fn empty_and_length() {
        for input in ["", "  ", "\u{3000}", "\n\t"] {
            assert_eq!(err(input), ResidentIdError::Empty, "{input:?}");
        }
        assert_eq!(
            err("36042619910101007"),
            ResidentIdError::Length { found: 17 }
        );
        assert_eq!(
            err("3604261991010100711"),
            ResidentIdError::Length { found: 19 }
        );
        // First-generation 15-digit numbers are not accepted.
        assert_eq!(
            err("360426910101007"),
            ResidentIdError::Length { found: 15 }
        );
        assert_eq!(err("身份证号码"), ResidentIdError::Length { found: 5 });
    }

    #[test]
    fn charset_allows_x_only_last() {
        assert_eq!(
            err("3604261991X1010071"),
            ResidentIdError::Charset {
                position: 11,
                found: 'X'
            }
        );
        assert_eq!(
            err("36042619910101007Y"),
            ResidentIdError::Charset {
                position: 18,
                found: 'Y'
            }
        );
        assert_eq!(
            err("36042619910101007-"),
            ResidentIdError::Charset {
                position: 18,
                found: '-'
            }
        );
        // Charset comes before the division rule.
        assert_eq!(
            err("99042619910101007A"),
            ResidentIdError::Charset {
                position: 18,
                found: 'A'
            }
        );
    }

    #[test]
    fn division_needs_a_province_prefix() {
        assert_eq!(err("100426199101010071"), ResidentIdError::Division);
        assert_eq!(err("000426199101010071"), ResidentIdError::Division);
        // Division comes before the birth date.
        assert_eq!(err("990426199113010079"), ResidentIdError::Division);
    }

    #[test]
    fn birth_date_must_be_a_real_date_from_1900() {
        for (birth, ok) in [
            ("20000229", true),
            ("19000101", true),
            ("19001231", true),
            ("19000229", false),
            ("18991231", false),
            ("20230229", false),
            ("19910431", false),
            ("19910001", false),
            ("19910100", false),
        ] {
            let head = format!("220322{birth}001");
            let check = check_char(&head).unwrap();
            let result = ResidentId::parse_on(&format!("{head}{check}"), TODAY);
            if ok {
                assert!(result.is_ok(), "{birth}: {result:?}");
            } else {
                assert_eq!(result, Err(ResidentIdError::BirthDate), "{birth}");
            }
        }
    }

    #[test]
    fn future_birth_date_is_rejected() {
        let tomorrow = ResidentId::assemble("220322", date!(2025 - 06 - 16), 1).unwrap();
        assert_eq!(
            ResidentId::parse_on(tomorrow.as_str(), TODAY),
            Err(ResidentIdError::BirthFuture)
        );
        let today = ResidentId::assemble("220322", TODAY, 1).unwrap();
        assert!(ResidentId::parse_on(today.as_str(), TODAY).is_ok());
        // Judged against the real today, clearly past and future dates agree.
        let real_today = crate::domain::calendar::day_of(time::OffsetDateTime::now_utc());
        assert!(ResidentId::parse_on("360426199101010071", real_today).is_ok());
        let far_future = ResidentId::assemble("220322", date!(2999 - 01 - 01), 1).unwrap();
        assert_eq!(
            ResidentId::parse_on(far_future.as_str(), real_today),
            Err(ResidentIdError::BirthFuture)
        );
    }

    #[test]
    fn check_char_is_verified_last() {
        let e = err("360426199101010072");
        assert_eq!(
            e,
            ResidentIdError::Check {
                expected: '1',
                found: '2'
            }
        );
        assert_eq!(e.to_string(), "身份证号码校验位错误：应为“1”，实际为“2”");
        // Birth date is judged before the check.
        assert_eq!(err("360426199113010070"), ResidentIdError::BirthDate);
    }

    #[test]
    fn error_messages_and_codes() {
        let cases = [
            (ResidentIdError::Empty, "id_required", "请填写身份证号码"),
            (
                ResidentIdError::Length { found: 15 },
                "id_length",
                "身份证号码应为18位，实际为15位",
            ),
            (
                ResidentIdError::Charset {
                    position: 3,
                    found: 'A',
                },
                "id_charset",
                "第3位字符“A”不是身份证号码允许的字符",
            ),
            (
                ResidentIdError::Division,
                "id_division",
                "身份证号码前6位地址码无效",
            ),
            (
                ResidentIdError::BirthDate,
                "id_birth_date",
                "身份证号码第7至14位不是有效的出生日期",
            ),
            (
                ResidentIdError::BirthFuture,
                "id_birth_future",
                "身份证号码中的出生日期晚于今天",
            ),
            (
                ResidentIdError::Check {
                    expected: 'X',
                    found: '3',
                },
                "id_check",
                "身份证号码校验位错误：应为“X”，实际为“3”",
            ),
        ];
        for (error, code, message) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn normalisation() {
        for input in [
            "44011320141005001x",
            " 440113 20141005 001X ",
            "440113\u{3000}20141005001X",
            "\u{FF14}4011320141005001\u{FF58}",
        ] {
            assert_eq!(id(input).as_str(), "44011320141005001X", "{input:?}");
        }
        // Hyphens are not a way people write ID numbers; they are rejected.
        assert!(matches!(
            err("440113-20141005-001X"),
            ResidentIdError::Length { found: 20 }
        ));
    }

    #[test]
    fn accessors() {
        let man = id("360426199101010071");
        assert_eq!(man.division_code(), "360426");
        assert_eq!(man.birth_date(), date!(1991 - 01 - 01));
        assert!(!man.is_female());
        let woman = ResidentId::assemble("412723", date!(1990 - 10 - 05), 2).unwrap();
        assert!(woman.is_female());
        assert_eq!(id("44011320141005001X").birth_date(), date!(2014 - 10 - 05));
    }

    #[test]
    fn masked_and_debug_hide_the_middle() {
        let number = ResidentId::assemble("220322", date!(1985 - 03 - 07), 123).unwrap();
        let full = number.as_str().to_owned();
        let masked = number.masked();
        assert_eq!(masked.chars().count(), 18);
        assert_eq!(&masked[..4], "2203");
        assert_eq!(&masked[4..14], "**********");
        assert_eq!(&masked[14..], &full[14..]);
        let debug = format!("{number:?}");
        assert_eq!(debug, format!("ResidentId({masked:?})"));
        assert!(!debug.contains(&full));
        assert!(!debug.contains("19850307"));
        // The example from DESIGN.md §6.
        assert_eq!(id("22032219850318123X").masked(), "2203**********123X");
    }

    #[test]
    fn age_on_counts_full_years() {
        let person = ResidentId::assemble("220322", date!(1990 - 06 - 15), 1).unwrap();
        assert_eq!(person.age_on(date!(2025 - 06 - 14)), 34);
        assert_eq!(person.age_on(date!(2025 - 06 - 15)), 35);
        assert_eq!(person.age_on(date!(2025 - 06 - 16)), 35);
        assert_eq!(person.age_on(date!(1990 - 06 - 15)), 0);
        assert_eq!(person.age_on(date!(1991 - 06 - 14)), 0);
        assert_eq!(person.age_on(date!(1991 - 06 - 15)), 1);
        // A date before birth never underflows.
        assert_eq!(person.age_on(date!(1980 - 01 - 01)), 0);
    }

    #[test]
    fn age_on_for_leap_day_birthdays() {
        let leap = ResidentId::assemble("220322", date!(2000 - 02 - 29), 2).unwrap();
        // Common year: still 22 on 28 February, 23 from 1 March.
        assert_eq!(leap.age_on(date!(2023 - 02 - 28)), 22);
        assert_eq!(leap.age_on(date!(2023 - 03 - 01)), 23);
        // Leap year: the birthday itself.
        assert_eq!(leap.age_on(date!(2024 - 02 - 28)), 23);
        assert_eq!(leap.age_on(date!(2024 - 02 - 29)), 24);
    }

    #[test]
    fn assemble_validates_parts() {
        let built = ResidentId::assemble("360426", date!(1991 - 01 - 01), 7).unwrap();
        assert_eq!(built.as_str(), "360426199101010071");
        assert_eq!(
            ResidentId::assemble("990426", date!(1991 - 01 - 01), 7),
            Err(ResidentIdError::Division)
        );
        assert_eq!(
            ResidentId::assemble("36042", date!(1991 - 01 - 01), 7),
            Err(ResidentIdError::Length { found: 17 })
        );
        assert_eq!(
            ResidentId::assemble("360426", date!(1991 - 01 - 01), 1000),
            Err(ResidentIdError::Length { found: 19 })
        );
        assert_eq!(
            ResidentId::assemble("360426", date!(1899 - 12 - 31), 7),
            Err(ResidentIdError::BirthDate)
        );
    }

    fn arb_birth() -> impl Strategy<Value = Date> {
        // 1900-01-01 .. 2025-06-15 as Julian days.
        (EARLIEST_BIRTH.to_julian_day()..=TODAY.to_julian_day())
            .prop_map(|day| Date::from_julian_day(day).unwrap_or(EARLIEST_BIRTH))
    }

    fn arb_division() -> impl Strategy<Value = String> {
        (
            proptest::sample::select(vec!["11", "22", "36", "44", "54", "65", "71", "81", "82"]),
            0u32..10_000,
        )
            .prop_map(|(prefix, rest)| format!("{prefix}{rest:04}"))
    }

    fn arb_id() -> impl Strategy<Value = ResidentId> {
        (arb_division(), arb_birth(), 0u16..=999).prop_map(|(division, birth, sequence)| {
            ResidentId::assemble(&division, birth, sequence)
                .unwrap_or_else(|e| panic!("{division} {birth} {sequence}: {e}"))
        })
    }

    proptest! {
        #[test]
        fn assembled_numbers_parse_back(
            (division, birth, sequence) in (arb_division(), arb_birth(), 0u16..=999)
        ) {
            let number = ResidentId::assemble(&division, birth, sequence)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(ResidentId::parse_on(number.as_str(), TODAY), Ok(number.clone()));
            prop_assert_eq!(number.birth_date(), birth);
            prop_assert_eq!(number.division_code(), division.as_str());
            prop_assert_eq!(number.is_female(), sequence % 2 == 0);
        }

        #[test]
        fn any_single_substitution_is_rejected(
            number in arb_id(),
            position in 0usize..RESIDENT_ID_LEN,
            replacement in proptest::sample::select(
                "0123456789X".chars().collect::<Vec<_>>()
            ),
        ) {
            let mut chars: Vec<char> = number.as_str().chars().collect();
            prop_assume!(chars[position] != replacement);
            chars[position] = replacement;
            let mutated: String = chars.into_iter().collect();
            prop_assert!(
                ResidentId::parse_on(&mutated, TODAY).is_err(),
                "substitution at {} accepted",
                position
            );
        }

        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = ResidentId::parse_on(&input, TODAY);
        }

        #[test]
        fn parse_never_panics_on_near_numbers(input in "[0-9xX \u{3000}\u{FF10}-\u{FF19}]{0,22}") {
            if let Ok(number) = ResidentId::parse_on(&input, TODAY) {
                prop_assert_eq!(ResidentId::parse_on(number.as_str(), TODAY), Ok(number.clone()));
            }
        }

        #[test]
        fn normalising_twice_is_normalising_once(input in any::<String>()) {
            let once = normalise(&input);
            prop_assert_eq!(normalise(&once), once);
        }

        #[test]
        fn masked_never_contains_the_number(number in arb_id()) {
            let masked = number.masked();
            prop_assert!(!masked.contains(number.as_str()));
            let debug = format!("{number:?}");
            prop_assert!(!debug.contains(&number.as_str()[4..14]));
        }

        #[test]
        fn age_is_monotonic(number in arb_id(), days in 0i32..40_000) {
            let birth = number.birth_date();
            let later = Date::from_julian_day(birth.to_julian_day() + days).unwrap_or(birth);
            let next = later.next_day().unwrap_or(later);
            prop_assert!(number.age_on(next) >= number.age_on(later));
            prop_assert!(number.age_on(later) <= u32::try_from(days / 365).unwrap_or(u32::MAX));
        }
    }
}

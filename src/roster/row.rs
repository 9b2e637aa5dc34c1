//! Validating one roster row: raw text in, a [`RosterEntry`] out, or every reason it is refused.
//!
//! Reasons are whole Chinese sentences naming the column, because they go verbatim into the
//! rejects file that department staff fix by hand.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use time::{Date, Month};

use super::source::RawFields;
use crate::domain::division::{Division, DivisionTree, Level};
use crate::domain::entity_name::{normalize_entity_name, normalize_person_name};
use crate::domain::entity_status::EntityStatus;
use crate::domain::industry::parse_industry;
use crate::domain::quote::quoted;
use crate::domain::roster_entry::RosterEntry;
use crate::domain::uscc::Uscc;

/// USCC division code of offices registering at national level (e.g. SAMR itself).
const NATIONAL_DIVISION: &str = "100000";
const MAX_NAME_CHARS: usize = 100;
const MAX_LEGAL_REP_CHARS: usize = 50;
const MAX_ADDRESS_CHARS: usize = 200;

/// Why a row was refused: every rule it broke, in column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reasons: Vec<String>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reasons.join("；"))
    }
}

impl std::error::Error for Rejection {}

/// Checks the rows of one roster file against the rules of one jurisdiction.
///
/// Stateful: it remembers the USCCs it accepted, to refuse duplicates inside the file.
pub struct RowValidator<'a> {
    tree: &'a DivisionTree,
    scope: String,
    scope_name: String,
    today: Date,
    /// Packed USCC → line of the row that first had it; see [`dedup_key`]. The line is kept
    /// as `u32` (no roster has 4 billion lines) so an entry takes 24 bytes, not 32.
    accepted: HashMap<(u64, u64), u32>,
    /// Resolutions by numeric code. The tree is keyed by strings and walked per question,
    /// while a roster names the same few dozen divisions a million times.
    townships: HashMap<u32, Result<Place<'a>, String>>,
    uscc_counties: HashMap<u32, Result<&'a Division, String>>,
}

impl fmt::Debug for RowValidator<'_> {
    /// Sizes, not contents: the duplicate index may hold a million codes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowValidator")
            .field("scope", &self.scope)
            .field("today", &self.today)
            .field("accepted", &self.accepted.len())
            .finish_non_exhaustive()
    }
}

/// A township and the county-level unit it belongs to.
#[derive(Debug, Clone, Copy)]
struct Place<'a> {
    township: &'a Division,
    county: &'a Division,
}

impl<'a> RowValidator<'a> {
    /// `scope` is the division code of the jurisdiction being imported (`"220322"`,
    /// `"220300"`). It should exist in `tree` (callers check it up front); an unknown scope
    /// matches no township, so every row naming one is refused.
    #[must_use]
    pub fn new(tree: &'a DivisionTree, scope: &str, today: Date) -> RowValidator<'a> {
        let scope_name = tree
            .get(scope)
            .map_or(scope, |d| d.name.as_str())
            .to_owned();
        RowValidator {
            tree,
            scope: scope.to_owned(),
            scope_name,
            today,
            accepted: HashMap::new(),
            townships: HashMap::new(),
            uscc_counties: HashMap::new(),
        }
    }

    /// Makes room for `rows` more accepted codes up front, sparing the duplicate index its
    /// repeated regrowth on a large file. Pass
    /// [`RosterFile::row_count_hint`](super::source::RosterFile::row_count_hint).
    pub fn reserve(&mut self, rows: u64) {
        self.accepted
            .reserve(usize::try_from(rows).unwrap_or(usize::MAX));
    }

    /// Validates one row. `line` is the row's line in the file, remembered so a later
    /// duplicate can point back to it.
    ///
    /// # Errors
    /// Every rule the row breaks, each as a Chinese sentence naming the column.
    pub fn check(&mut self, line: u64, fields: &RawFields) -> Result<RosterEntry, Rejection> {
        // Every `Err(())` below stands for a reason already pushed, so an `Err` anywhere
        // implies `reasons` is non-empty.
        let mut reasons = Vec::new();
        let mut note = Notes(&mut reasons);

        let uscc = note.take(parse_uscc(&fields.uscc));
        let name = note.take(entity_name(&fields.name));
        let legal_rep = note.take(legal_rep(&fields.legal_rep));
        let township = note.take(self.township(fields.township_code.as_deref()));
        let county = match (&uscc, township) {
            (_, Err(())) => Err(()),
            (uscc, Ok(place)) => match self.county(uscc.as_ref().ok(), place) {
                Some(result) => note.take(result),
                // The USCC is invalid and no township was given: its reason covers this.
                None => Err(()),
            },
        };
        let industry = note.take(fields.industry.as_deref().map(parse_industry).transpose());
        let address = note.take(address(fields.address.as_deref()));
        let founded = note.take(self.founded(fields.founded.as_deref()));
        let status = note.take(status(fields.status.as_deref()));

        // One probe of the duplicate index per row: at a million rows it no longer fits in the
        // CPU caches, and each probe is a memory round trip.
        if let Ok(uscc) = &uscc {
            match self.accepted.entry(dedup_key(uscc.as_str())) {
                Entry::Occupied(first) => {
                    reasons.insert(0, format!("与第{}行的统一社会信用代码重复", first.get()))
                }
                // Only a row that is accepted claims its code.
                Entry::Vacant(slot) if reasons.is_empty() => {
                    slot.insert(u32::try_from(line).unwrap_or(u32::MAX));
                }
                Entry::Vacant(_) => {}
            }
        }

        match (
            uscc, name, legal_rep, township, county, industry, address, founded, status,
        ) {
            (
                Ok(uscc),
                Ok(name),
                Ok(legal_rep),
                Ok(township),
                Ok(county),
                Ok(industry),
                Ok(address),
                Ok(founded),
                Ok(status),
            ) if reasons.is_empty() => Ok(RosterEntry {
                kind: uscc.entity_kind(),
                uscc,
                name,
                legal_rep,
                county_code: county.code.clone(),
                township_code: township.map(|place| place.township.code.clone()),
                industry,
                address,
                founded,
                status,
            }),
            _ => Err(Rejection { reasons }),
        }
    }

    fn township(&mut self, raw: Option<&str>) -> Result<Option<Place<'a>>, String> {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        // NBS publishes 12-digit codes; a township's is its 9 digits followed by "000".
        let code = match raw.strip_suffix("000") {
            Some(head) if raw.len() == 12 => head,
            _ => raw,
        };
        if code.len() != 9 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("乡镇代码“{}”应为9位数字", quoted(raw)));
        }
        let (tree, scope, scope_name) = (self.tree, &self.scope, &self.scope_name);
        memoised(&mut self.townships, code, || match tree.get(code) {
            None => Err(format!("乡镇代码“{code}”不存在")),
            Some(d) if d.level != Level::Township => {
                Err(format!("乡镇代码“{code}”不是乡镇街道的代码"))
            }
            Some(_) if !tree.is_within(code, scope) => {
                Err(format!("乡镇代码“{code}”不在本辖区（{scope_name}）内"))
            }
            Some(township) => match tree.county_of(code) {
                Some(county) => Ok(Place { township, county }),
                None => Err(format!("乡镇代码“{code}”找不到所属县区")),
            },
        })
        .map(Some)
    }

    /// The county-level unit the entity belongs to; `None` when nothing is left to say
    /// (no township and an invalid USCC, whose own reason covers it).
    fn county(
        &mut self,
        uscc: Option<&Uscc>,
        place: Option<Place<'a>>,
    ) -> Option<Result<&'a Division, String>> {
        match (place, uscc) {
            (Some(place), Some(uscc)) => Some(
                self.check_registered_above(uscc.division_code(), place.county)
                    .map(|()| place.county),
            ),
            (Some(place), None) => Some(Ok(place.county)),
            (None, Some(uscc)) => Some(self.county_from_uscc(uscc.division_code())),
            (None, None) => None,
        }
    }

    /// The registering office may be the county's own, a city or province office above it,
    /// or the national one. A code missing from the tree is accepted on the township's word:
    /// a USCC never changes, so entities keep codes of divisions since renamed or moved
    /// (公主岭市 left 四平市 for 长春市 in 2020).
    fn check_registered_above(&self, division: &str, county: &Division) -> Result<(), String> {
        let consistent = division == county.code
            || division == NATIONAL_DIVISION
            || self.tree.get(division).is_none()
            || self.tree.is_within(&county.code, division);
        if consistent {
            Ok(())
        } else {
            Err(format!(
                "统一社会信用代码的行政区划码“{division}”与乡镇所属县区“{}”不一致",
                county.code
            ))
        }
    }

    /// Without a township, the USCC's division code must itself be a county in scope.
    fn county_from_uscc(&mut self, division: &str) -> Result<&'a Division, String> {
        let (tree, scope, scope_name) = (self.tree, &self.scope, &self.scope_name);
        memoised(&mut self.uscc_counties, division, || {
            match tree.get(division) {
                Some(d) if d.level == Level::County && tree.is_within(division, scope) => Ok(d),
                Some(d) if d.level == Level::County => Err(format!(
                    "统一社会信用代码的行政区划码“{division}”（{}）不在本辖区（{scope_name}）内",
                    d.name
                )),
                _ => Err(format!(
                    "无法确定所属县区：统一社会信用代码的行政区划码为“{division}”，请填写乡镇代码"
                )),
            }
        })
    }

    fn founded(&self, raw: Option<&str>) -> Result<Option<Date>, String> {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let earliest = Date::from_calendar_date(1900, Month::January, 1).unwrap_or(Date::MIN);
        match parse_date(raw) {
            Err(DateError::Format) => Err(format!(
                "成立日期“{}”格式无法识别，应为 2020-01-31、2020/1/31、20200131 或 2020年1月31日",
                quoted(raw)
            )),
            Err(DateError::NoSuchDay) => Err(format!("成立日期“{raw}”不是日历上的日期")),
            Ok(date) if date > self.today => Err(format!("成立日期“{raw}”晚于今天")),
            Ok(date) if date < earliest => Err(format!("成立日期“{raw}”早于1900年")),
            Ok(date) => Ok(Some(date)),
        }
    }
}

/// Looks `code` (all digits) up in `memo`, resolving and remembering it on first sight.
fn memoised<T: Clone>(memo: &mut HashMap<u32, T>, code: &str, resolve: impl FnOnce() -> T) -> T {
    match code.parse::<u32>() {
        Ok(key) => memo.entry(key).or_insert_with(resolve).clone(),
        Err(_) => resolve(),
    }
}

/// Moves each failure's reason into the row's list, leaving `Err(())` as the marker.
struct Notes<'r>(&'r mut Vec<String>);

impl Notes<'_> {
    fn take<T>(&mut self, result: Result<T, String>) -> Result<T, ()> {
        result.map_err(|reason| self.0.push(reason))
    }
}

/// Packs a normalised USCC (18 ASCII characters, 7 bits each = 126 bits) into two `u64`s, so
/// the duplicate index allocates nothing per row: ~25 MB for a million rows instead of ~100 MB
/// of `String`s. Injective on valid codes, which are all the index ever sees.
fn dedup_key(uscc: &str) -> (u64, u64) {
    let packed = uscc
        .bytes()
        .fold(0u128, |key, b| (key << 7) | u128::from(b & 0x7F));
    // The truncating casts split the u128 into its halves.
    ((packed >> 64) as u64, packed as u64)
}

fn parse_uscc(raw: &str) -> Result<Uscc, String> {
    if raw.trim().is_empty() {
        return Err("统一社会信用代码为空".to_owned());
    }
    Uscc::parse(raw).map_err(|e| format!("统一社会信用代码：{e}"))
}

fn entity_name(raw: &str) -> Result<String, String> {
    let name = normalize_entity_name(raw);
    if name.is_empty() {
        return Err("名称为空".to_owned());
    }
    check_text("名称", &name, MAX_NAME_CHARS)?;
    Ok(name)
}

fn legal_rep(raw: &str) -> Result<String, String> {
    let name = normalize_person_name(raw);
    if name.is_empty() {
        return Err("法定代表人为空".to_owned());
    }
    check_text("法定代表人", &name, MAX_LEGAL_REP_CHARS)?;
    // Digits mean a phone or ID number landed in the wrong column.
    if name.contains(|c: char| c.is_ascii_digit() || ('０'..='９').contains(&c)) {
        return Err(format!("法定代表人“{}”中不应有数字", quoted(&name)));
    }
    Ok(name)
}

fn address(raw: Option<&str>) -> Result<Option<String>, String> {
    let Some(address) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    check_text("住所", address, MAX_ADDRESS_CHARS)?;
    Ok(Some(address.to_owned()))
}

/// Length and visible characters of a free-text cell; `column` names it in the reason.
fn check_text(column: &str, text: &str, max_chars: usize) -> Result<(), String> {
    // UTF-8 has at least one byte per char, so most cells are short enough without counting.
    if text.len() > max_chars {
        let chars = text.chars().count();
        if chars > max_chars {
            return Err(format!("{column}过长：{chars}个字，最多{max_chars}个字"));
        }
    }
    if text.contains(char::is_control) {
        return Err(format!("{column}含有不可见的控制字符"));
    }
    Ok(())
}

fn status(raw: Option<&str>) -> Result<EntityStatus, String> {
    let raw = raw.unwrap_or_default();
    EntityStatus::parse_label(raw).ok_or_else(|| {
        format!(
            "登记状态“{}”无法识别，可填：在营（存续、开业、正常、在业）、停业（歇业）、吊销、注销、迁出",
            quoted(raw.trim())
        )
    })
}

#[derive(Debug, PartialEq, Eq)]
enum DateError {
    Format,
    NoSuchDay,
}

/// `2020-01-31`, `2020/1/31`, `2020.1.31`, `20200131`, `2020年1月31日`; a time after the date
/// (`2020/1/31 0:00`, as Excel writes date cells into CSV) is ignored.
fn parse_date(raw: &str) -> Result<Date, DateError> {
    let date = raw
        .split(|c: char| c.is_whitespace() || c == 'T')
        .next()
        .unwrap_or_default();
    let (year, month, day) = if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
        (&date[..4], &date[4..6], &date[6..])
    } else if let Some(rest) = date.strip_suffix('日') {
        let (year, rest) = rest.split_once('年').ok_or(DateError::Format)?;
        let (month, day) = rest.split_once('月').ok_or(DateError::Format)?;
        (year, month, day)
    } else {
        let separator = date
            .chars()
            .find(|c| matches!(c, '-' | '/' | '.'))
            .ok_or(DateError::Format)?;
        let mut parts = date.split(separator);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(year), Some(month), Some(day), None) => (year, month, day),
            _ => return Err(DateError::Format),
        }
    };
    let number = |text: &str, digits: std::ops::RangeInclusive<usize>| -> Result<u16, DateError> {
        if digits.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse().map_err(|_| DateError::Format)
        } else {
            Err(DateError::Format)
        }
    };
    let year = number(year, 4..=4)?;
    let month = number(month, 1..=2)?;
    let day = number(day, 1..=2)?;
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or(DateError::NoSuchDay)?;
    let day = u8::try_from(day).map_err(|_| DateError::NoSuchDay)?;
    Date::from_calendar_date(i32::from(year), month, day).map_err(|_| DateError::NoSuchDay)
}

#[cfg(test)]
mod tests;

//! Validating one roster row: raw text in, a [`RosterEntry`] out, or every reason it is refused.
//!
//! Reasons are whole Chinese sentences naming the column, because they go verbatim into the
//! rejects file that department staff fix by hand.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use super::source::RawFields;
use crate::domain::division::{Division, DivisionTree, Level};
use crate::domain::entity_kind::EntityKind;
use crate::domain::uscc::Uscc;

/// USCC division code of offices registering at national level (e.g. SAMR itself).
const NATIONAL_DIVISION: &str = "100000";
const MAX_NAME_CHARS: usize = 100;
const MAX_LEGAL_REP_CHARS: usize = 50;
const MAX_ADDRESS_CHARS: usize = 200;
/// Quoted input longer than this is cut in messages, so one bad cell cannot flood a reason.
const MAX_QUOTED_CHARS: usize = 40;

/// A roster row that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub uscc: Uscc,
    /// Normalised with [`normalize_entity_name`].
    pub name: String,
    pub kind: EntityKind,
    /// Normalised with [`normalize_person_name`].
    pub legal_rep: String,
    /// The county-level unit (6 digits) the entity counts toward.
    pub county_code: String,
    pub township_code: Option<String>,
    /// GB/T 4754-2017 section letter, `A`–`T`.
    pub industry: Option<char>,
    pub address: Option<String>,
    pub founded: Option<Date>,
    pub status: EntityStatus,
}

/// Registration status (登记状态) of a market entity.
///
/// Serialised as the stable code of [`EntityStatus::as_str`]; never rename those codes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EntityStatus {
    /// 在营 (存续, 开业, 正常, 在业).
    #[default]
    Active,
    /// 停业, 歇业.
    Suspended,
    /// 吊销 (licence revoked, entity not yet cancelled).
    Revoked,
    /// 注销.
    Cancelled,
    /// 迁出 (moved to another registration authority).
    MovedOut,
}

impl EntityStatus {
    pub const ALL: [EntityStatus; 5] = [
        EntityStatus::Active,
        EntityStatus::Suspended,
        EntityStatus::Revoked,
        EntityStatus::Cancelled,
        EntityStatus::MovedOut,
    ];

    /// Stable lowercase code stored in the database.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EntityStatus::Active => "active",
            EntityStatus::Suspended => "suspended",
            EntityStatus::Revoked => "revoked",
            EntityStatus::Cancelled => "cancelled",
            EntityStatus::MovedOut => "moved_out",
        }
    }

    /// Inverse of [`EntityStatus::as_str`]; exact match only.
    #[must_use]
    pub fn parse_code(code: &str) -> Option<EntityStatus> {
        EntityStatus::ALL.into_iter().find(|s| s.as_str() == code)
    }

    #[must_use]
    pub const fn label_zh(self) -> &'static str {
        match self {
            EntityStatus::Active => "在营",
            EntityStatus::Suspended => "停业",
            EntityStatus::Revoked => "吊销",
            EntityStatus::Cancelled => "注销",
            EntityStatus::MovedOut => "迁出",
        }
    }

    /// Accepted labels, in the form [`status_key`] produces.
    const fn aliases(self) -> &'static [&'static str] {
        match self {
            // "在册" appears in SAMR's "存续（在营、开业、在册）".
            EntityStatus::Active => &["在营", "存续", "开业", "正常", "在业", "在册", "active"],
            EntityStatus::Suspended => &["停业", "歇业", "suspended"],
            EntityStatus::Revoked => &["吊销", "吊销未注销", "revoked"],
            // 撤销登记 voids the registration: for the roster the entity is gone, as if cancelled.
            EntityStatus::Cancelled => &[
                "注销",
                "已注销",
                "吊销已注销",
                "撤销",
                "cancelled",
                "canceled",
            ],
            EntityStatus::MovedOut => &["迁出", "已迁出", "movedout"],
        }
    }

    /// Reads a status as registries and spreadsheets write it: Chinese or English, any case,
    /// with SAMR's parenthesised synonyms (`存续（在营、开业、在册）`). Empty means active: a
    /// roster lists the entities to onboard, and those are overwhelmingly active.
    #[must_use]
    pub fn parse_label(label: &str) -> Option<EntityStatus> {
        let key = status_key(label);
        if key.is_empty() {
            return Some(EntityStatus::Active);
        }
        EntityStatus::ALL
            .into_iter()
            .find(|s| s.aliases().contains(&key.as_str()))
    }

    /// Whether the entity still exists and so counts toward onboarding targets.
    #[must_use]
    pub const fn is_countable(self) -> bool {
        !matches!(self, EntityStatus::Cancelled | EntityStatus::MovedOut)
    }
}

impl fmt::Display for EntityStatus {
    /// The Chinese label; use [`EntityStatus::as_str`] for the stored code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_zh())
    }
}

/// Lower-cases and drops whitespace, separators and a parenthesised tail.
fn status_key(label: &str) -> String {
    let head = label.split(['(', '（']).next().unwrap_or_default();
    head.chars()
        .filter(|&c| !c.is_whitespace() && !matches!(c, '_' | '-' | ',' | '，' | '、'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// GB/T 4754-2017 sections: letter, Chinese name, first and last two-digit division.
const INDUSTRY_SECTIONS: [(char, &str, u8, u8); 20] = [
    ('A', "农、林、牧、渔业", 1, 5),
    ('B', "采矿业", 6, 12),
    ('C', "制造业", 13, 43),
    ('D', "电力、热力、燃气及水生产和供应业", 44, 46),
    ('E', "建筑业", 47, 50),
    ('F', "批发和零售业", 51, 52),
    ('G', "交通运输、仓储和邮政业", 53, 60),
    ('H', "住宿和餐饮业", 61, 62),
    ('I', "信息传输、软件和信息技术服务业", 63, 65),
    ('J', "金融业", 66, 69),
    ('K', "房地产业", 70, 70),
    ('L', "租赁和商务服务业", 71, 72),
    ('M', "科学研究和技术服务业", 73, 75),
    ('N', "水利、环境和公共设施管理业", 76, 79),
    ('O', "居民服务、修理和其他服务业", 80, 82),
    ('P', "教育", 83, 83),
    ('Q', "卫生和社会工作", 84, 85),
    ('R', "文化、体育和娱乐业", 86, 90),
    ('S', "公共管理、社会保障和社会组织", 91, 96),
    ('T', "国际组织", 97, 97),
];

/// The Chinese name of a GB/T 4754-2017 section letter.
#[must_use]
pub fn industry_label_zh(section: char) -> Option<&'static str> {
    INDUSTRY_SECTIONS
        .iter()
        .find(|s| s.0 == section)
        .map(|s| s.1)
}

/// Reads an industry as rosters write it: the section letter (`c`), letter plus a division,
/// group or class code (`C13`, `C1310`), that code alone (`1310`), the section name
/// (`制造业`), or letter and name (`C 制造业`).
///
/// # Errors
/// A Chinese sentence saying why the text is not an industry section.
pub fn parse_industry(input: &str) -> Result<char, String> {
    let text = input.trim();
    if let Some(section) = INDUSTRY_SECTIONS.iter().find(|s| s.1 == text) {
        return Ok(section.0);
    }
    let unknown = || {
        format!(
            "行业门类“{}”无法识别，应为门类字母（如 C）、门类加行业代码（如 C13）或门类名称（如 制造业）",
            quoted(text)
        )
    };
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return Err(unknown());
    };
    if first.is_ascii_digit() {
        return section_of_code(text).ok_or_else(unknown);
    }
    let letter = first.to_ascii_uppercase();
    let Some(&(_, section_name, _, _)) = INDUSTRY_SECTIONS.iter().find(|s| s.0 == letter) else {
        return Err(unknown());
    };
    let rest = chars
        .as_str()
        .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '.' | ':' | '：'));
    if rest.is_empty() || rest == section_name {
        return Ok(letter);
    }
    match section_of_code(rest) {
        Some(section) if section == letter => Ok(letter),
        Some(section) => Err(format!(
            "行业门类“{}”：行业代码{rest}属于门类{section}，不属于门类{letter}（{section_name}）",
            quoted(text)
        )),
        None => Err(unknown()),
    }
}

/// Section of a 2–4 digit GB/T 4754 code, judged by its first two digits (the division).
fn section_of_code(code: &str) -> Option<char> {
    if !(2..=4).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let division: u8 = code.get(..2)?.parse().ok()?;
    INDUSTRY_SECTIONS
        .iter()
        .find(|s| (s.2..=s.3).contains(&division))
        .map(|s| s.0)
}

/// Trims, collapses inner whitespace to one space, and writes parentheses full-width as SAMR
/// registers them, so a name typed with `(` matches the registered `（`.
#[must_use]
pub fn normalize_entity_name(raw: &str) -> String {
    collapse_whitespace(raw, |c| match c {
        '(' => '（',
        ')' => '）',
        _ => c,
    })
}

/// Trims and collapses inner whitespace of a person's name.
#[must_use]
pub fn normalize_person_name(raw: &str) -> String {
    collapse_whitespace(raw, |c| c)
}

fn collapse_whitespace(raw: &str, map: impl Fn(char) -> char) -> String {
    let mut out = String::with_capacity(raw.len());
    for word in raw.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().map(&map));
    }
    out
}

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
#[derive(Debug)]
pub struct RowValidator<'a> {
    tree: &'a DivisionTree,
    scope: String,
    scope_name: String,
    today: Date,
    /// Packed USCC → line of the row that first had it; see [`dedup_key`].
    accepted: HashMap<u128, u64>,
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
        }
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

        let uscc = note.take(self.uscc(&fields.uscc));
        let name = note.take(entity_name(&fields.name));
        let legal_rep = note.take(legal_rep(&fields.legal_rep));
        let township = note.take(self.township(fields.township_code.as_deref()));
        let county = match (&uscc, &township) {
            (_, Err(())) => Err(()),
            (uscc, Ok(township)) => match self.county(uscc.as_ref().ok(), *township) {
                Some(result) => note.take(result),
                // The USCC is invalid and no township was given: its reason covers this.
                None => Err(()),
            },
        };
        let industry = note.take(fields.industry.as_deref().map(parse_industry).transpose());
        let address = note.take(address(fields.address.as_deref()));
        let founded = note.take(self.founded(fields.founded.as_deref()));
        let status = note.take(status(fields.status.as_deref()));

        match (
            uscc, name, legal_rep, township, county, industry, address, founded, status,
        ) {
            (
                Ok(uscc),
                Ok(name),
                Ok(legal_rep),
                Ok(township),
                Ok(county_code),
                Ok(industry),
                Ok(address),
                Ok(founded),
                Ok(status),
            ) if reasons.is_empty() => {
                self.accepted.insert(dedup_key(uscc.as_str()), line);
                Ok(RosterEntry {
                    kind: uscc.entity_kind(),
                    uscc,
                    name,
                    legal_rep,
                    county_code,
                    township_code: township.map(|t| t.code.clone()),
                    industry,
                    address,
                    founded,
                    status,
                })
            }
            _ => Err(Rejection { reasons }),
        }
    }

    fn uscc(&self, raw: &str) -> Result<Uscc, String> {
        if raw.trim().is_empty() {
            return Err("统一社会信用代码为空".to_owned());
        }
        let uscc = Uscc::parse(raw).map_err(|e| format!("统一社会信用代码：{e}"))?;
        match self.accepted.get(&dedup_key(uscc.as_str())) {
            Some(first) => Err(format!("与第{first}行的统一社会信用代码重复")),
            None => Ok(uscc),
        }
    }

    fn township(&self, raw: Option<&str>) -> Result<Option<&'a Division>, String> {
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
        match self.tree.get(code) {
            None => Err(format!("乡镇代码“{code}”不存在")),
            Some(d) if d.level != Level::Township => {
                Err(format!("乡镇代码“{code}”不是乡镇街道的代码"))
            }
            Some(_) if !self.tree.is_within(code, &self.scope) => Err(format!(
                "乡镇代码“{code}”不在本辖区（{}）内",
                self.scope_name
            )),
            Some(d) => Ok(Some(d)),
        }
    }

    /// The county-level unit the entity belongs to; `None` when nothing is left to say
    /// (no township and an invalid USCC, whose own reason covers it).
    fn county(
        &self,
        uscc: Option<&Uscc>,
        township: Option<&Division>,
    ) -> Option<Result<String, String>> {
        let Some(township) = township else {
            return uscc.map(|uscc| self.county_from_uscc(uscc));
        };
        let Some(county) = self.tree.county_of(&township.code) else {
            return Some(Err(format!("乡镇代码“{}”找不到所属县区", township.code)));
        };
        if let Some(uscc) = uscc {
            let division = uscc.division_code();
            // The registering office may be the county's own, a city or province office above
            // it, or the national one. A code missing from the tree is accepted on the
            // township's word: a USCC never changes, so entities keep codes of divisions since
            // renamed or moved (公主岭市 left 四平市 for 长春市 in 2020).
            let consistent = division == county.code
                || division == NATIONAL_DIVISION
                || self.tree.get(division).is_none()
                || self.tree.is_within(&county.code, division);
            if !consistent {
                return Some(Err(format!(
                    "统一社会信用代码的行政区划码“{division}”与乡镇所属县区“{}”不一致",
                    county.code
                )));
            }
        }
        Some(Ok(county.code.clone()))
    }

    fn county_from_uscc(&self, uscc: &Uscc) -> Result<String, String> {
        let division = uscc.division_code();
        match self.tree.get(division) {
            Some(d) if d.level == Level::County && self.tree.is_within(division, &self.scope) => {
                Ok(d.code.clone())
            }
            Some(d) if d.level == Level::County => Err(format!(
                "统一社会信用代码的行政区划码“{division}”（{}）不在本辖区（{}）内",
                d.name, self.scope_name
            )),
            _ => Err(format!(
                "无法确定所属县区：统一社会信用代码的行政区划码为“{division}”，请填写乡镇代码"
            )),
        }
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

/// Moves each failure's reason into the row's list, leaving `Err(())` as the marker.
struct Notes<'r>(&'r mut Vec<String>);

impl Notes<'_> {
    fn take<T>(&mut self, result: Result<T, String>) -> Result<T, ()> {
        result.map_err(|reason| self.0.push(reason))
    }
}

/// Packs a normalised USCC (18 ASCII characters, 7 bits each = 126 bits) into a `u128`, so the
/// duplicate index allocates nothing per row: ~30 MB for a million rows instead of ~100 MB of
/// `String`s. Injective on valid codes, which are all the index ever sees.
fn dedup_key(uscc: &str) -> u128 {
    uscc.bytes()
        .fold(0u128, |key, b| (key << 7) | u128::from(b & 0x7F))
}

fn entity_name(raw: &str) -> Result<String, String> {
    let name = normalize_entity_name(raw);
    if name.is_empty() {
        return Err("名称为空".to_owned());
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(format!("名称过长：{chars}个字，最多{MAX_NAME_CHARS}个字"));
    }
    if name.chars().any(char::is_control) {
        return Err("名称含有不可见的控制字符".to_owned());
    }
    Ok(name)
}

fn legal_rep(raw: &str) -> Result<String, String> {
    let name = normalize_person_name(raw);
    if name.is_empty() {
        return Err("法定代表人为空".to_owned());
    }
    let chars = name.chars().count();
    if chars > MAX_LEGAL_REP_CHARS {
        return Err(format!(
            "法定代表人过长：{chars}个字，最多{MAX_LEGAL_REP_CHARS}个字"
        ));
    }
    // Digits mean a phone or ID number landed in the wrong column.
    if name
        .chars()
        .any(|c| c.is_ascii_digit() || ('０'..='９').contains(&c))
    {
        return Err(format!("法定代表人“{}”中不应有数字", quoted(&name)));
    }
    if name.chars().any(char::is_control) {
        return Err("法定代表人含有不可见的控制字符".to_owned());
    }
    Ok(name)
}

fn address(raw: Option<&str>) -> Result<Option<String>, String> {
    let Some(address) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let chars = address.chars().count();
    if chars > MAX_ADDRESS_CHARS {
        return Err(format!(
            "住所过长：{chars}个字，最多{MAX_ADDRESS_CHARS}个字"
        ));
    }
    if address.chars().any(char::is_control) {
        return Err("住所含有不可见的控制字符".to_owned());
    }
    Ok(Some(address.to_owned()))
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

/// User text for a message, cut to a readable length.
fn quoted(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

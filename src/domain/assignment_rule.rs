//! Responsible departments (责任部门): which department answers for a roster entity, and the
//! targets departments are held to. Pure rules here; the SQL that applies them set-wise is in
//! `store::assignment_sql`, the CSV of manual assignments in `application::assignment`.
//!
//! # How rules apply
//!
//! A rule matches entities by township code (乡镇代码), by industry section (GB/T 4754 门类
//! letter), by kind (企业, 个体工商户 …), or all of them (`any`, the catch-all). Every entity gets
//! the department of the FIRST rule that matches it, in this order:
//!
//! 1. lower `priority` number first (priority 0 before 10);
//! 2. at equal priority the more specific rule first: township, then industry, then kind, then
//!    `any` — a township is a handful of villages, a section spans the county, a kind spans
//!    most of it;
//! 3. then the older rule (lower id), so the order is total and re-applying is stable.
//!
//! Entities an admin assigned by hand (`assigned_by = 'manual'`) are never touched by rules.
//! Entities no rule matches have no department: add an `any` rule so that every entity has one.

use std::cmp::Ordering;

use time::Date;

use super::entity_kind::EntityKind;
use super::industry::parse_industry;

/// What a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    Township,
    Industry,
    Kind,
    Any,
}

impl MatchKind {
    pub const ALL: [MatchKind; 4] = [
        MatchKind::Township,
        MatchKind::Industry,
        MatchKind::Kind,
        MatchKind::Any,
    ];

    /// Stable code stored in `assignment_rules.match_kind`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            MatchKind::Township => "township",
            MatchKind::Industry => "industry",
            MatchKind::Kind => "kind",
            MatchKind::Any => "any",
        }
    }

    #[must_use]
    pub fn parse(code: &str) -> Option<MatchKind> {
        MatchKind::ALL.into_iter().find(|k| k.as_str() == code)
    }

    #[must_use]
    pub const fn label_zh(self) -> &'static str {
        match self {
            MatchKind::Township => "乡镇",
            MatchKind::Industry => "行业门类",
            MatchKind::Kind => "主体类型",
            MatchKind::Any => "全部（兜底）",
        }
    }

    /// Lower is more specific; see the module documentation.
    const fn specificity(self) -> u8 {
        match self {
            MatchKind::Township => 0,
            MatchKind::Industry => 1,
            MatchKind::Kind => 2,
            MatchKind::Any => 3,
        }
    }

    /// The `entities` column a rule of this kind compares with its value.
    #[must_use]
    pub const fn column(self) -> Option<&'static str> {
        match self {
            MatchKind::Township => Some("township_code"),
            MatchKind::Industry => Some("industry"),
            MatchKind::Kind => Some("kind"),
            MatchKind::Any => None,
        }
    }

    /// Checks and normalises a rule's value: a 9-digit township code, a section letter (read
    /// as rosters write it, `c`, `C13`, `制造业`), or a kind code or its Chinese label.
    /// Whether a township lies in the county is the caller's check (it needs the tree).
    ///
    /// # Errors
    /// A Chinese sentence saying what is wrong.
    pub fn normalise_value(self, value: Option<&str>) -> Result<Option<String>, String> {
        let value = value.map(str::trim).filter(|v| !v.is_empty());
        match (self, value) {
            (MatchKind::Any, None) => Ok(None),
            (MatchKind::Any, Some(_)) => {
                Err("“全部（any）”规则不需要匹配值，请去掉 --value".into())
            }
            (_, None) => Err(format!("{}规则需要匹配值（--value）", self.label_zh())),
            (MatchKind::Township, Some(v)) => {
                if v.len() == 9 && v.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(Some(v.to_owned()))
                } else {
                    Err(format!("乡镇代码应为9位数字，实际为“{v}”"))
                }
            }
            (MatchKind::Industry, Some(v)) => parse_industry(v).map(|c| Some(c.to_string())),
            (MatchKind::Kind, Some(v)) => EntityKind::ALL
                .into_iter()
                .find(|k| k.as_str() == v || k.label_zh() == v)
                .map(|k| Some(k.as_str().to_owned()))
                .ok_or_else(|| {
                    let known: Vec<String> = EntityKind::ALL
                        .iter()
                        .map(|k| format!("{}（{}）", k.as_str(), k.label_zh()))
                        .collect();
                    format!("主体类型“{v}”无法识别，应为：{}", known.join("、"))
                }),
        }
    }
}

/// One assignment rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: i64,
    pub priority: i64,
    pub kind: MatchKind,
    /// Normalised ([`MatchKind::normalise_value`]); `None` only for [`MatchKind::Any`].
    pub value: Option<String>,
    pub department_id: i64,
}

impl Rule {
    /// The order rules are tried in: see the module documentation.
    #[must_use]
    pub fn precedence(&self, other: &Rule) -> Ordering {
        (self.priority, self.kind.specificity(), self.id).cmp(&(
            other.priority,
            other.kind.specificity(),
            other.id,
        ))
    }

    #[must_use]
    pub fn matches(&self, entity: &EntityFacts<'_>) -> bool {
        let value = self.value.as_deref();
        match self.kind {
            MatchKind::Any => true,
            MatchKind::Township => entity.township_code.is_some() && entity.township_code == value,
            MatchKind::Industry => entity.industry.is_some() && entity.industry == value,
            MatchKind::Kind => Some(entity.kind) == value,
        }
    }
}

/// What the rules look at in an entity (stored codes).
#[derive(Debug, Clone, Copy)]
pub struct EntityFacts<'a> {
    pub township_code: Option<&'a str>,
    pub industry: Option<&'a str>,
    pub kind: &'a str,
}

/// Sorts rules into the order they are tried in.
pub fn sort_rules(rules: &mut [Rule]) {
    rules.sort_by(Rule::precedence);
}

/// The rule that decides `entity`'s department, if any (`rules` in any order).
#[must_use]
pub fn decide<'r>(rules: &'r [Rule], entity: &EntityFacts<'_>) -> Option<&'r Rule> {
    rules
        .iter()
        .filter(|r| r.matches(entity))
        .min_by(|a, b| a.precedence(b))
}

/// A department's target for one period: a number of entities, or a share of its entities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TargetAmount {
    Count(i64),
    Share(f64),
}

impl TargetAmount {
    /// Exactly one of `count` and `share`; a count ≥ 1, a share in (0, 1].
    ///
    /// # Errors
    /// A Chinese sentence saying what is wrong.
    pub fn new(count: Option<i64>, share: Option<f64>) -> Result<TargetAmount, String> {
        match (count, share) {
            (Some(_), Some(_)) => {
                Err("目标只能是数量（--count）或比例（--share）之一，不能同时设置".into())
            }
            (None, None) => Err("请设置目标数量（--count N）或目标比例（--share 0.8）".into()),
            (Some(n), None) if n >= 1 => Ok(TargetAmount::Count(n)),
            (Some(n), None) => Err(format!("目标数量应为正整数，实际为 {n}")),
            (None, Some(s)) if s.is_finite() && s > 0.0 && s <= 1.0 => Ok(TargetAmount::Share(s)),
            (None, Some(s)) => Err(format!(
                "目标比例应大于 0 且不超过 1（如 0.8 表示 80%），实际为 {s}"
            )),
        }
    }
}

/// Checks a period (`YYYY-MM`, a month) and returns it as stored.
///
/// # Errors
/// A Chinese sentence saying what is wrong.
pub fn parse_period(input: &str) -> Result<String, String> {
    let text = input.trim();
    let bad = || format!("考核期应为“年-月”，如 2026-12，实际为“{text}”");
    let (year, month) = text.split_once('-').ok_or_else(bad)?;
    if year.len() != 4
        || month.len() != 2
        || !year.bytes().all(|b| b.is_ascii_digit())
        || !month.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let month: u8 = month.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) {
        return Err(bad());
    }
    Ok(text.to_owned())
}

/// Reads a deadline written `YYYY-MM-DD`.
///
/// # Errors
/// A Chinese sentence saying what is wrong.
pub fn parse_deadline(input: &str) -> Result<Date, String> {
    let text = input.trim();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, format)
        .map_err(|_| format!("截止日期应为“年-月-日”，如 2026-12-31，实际为“{text}”"))
}

/// One data row of an assignment CSV: (统一社会信用代码, 部门).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRow {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    /// The cells as read, for the rejects file.
    pub original: Vec<String>,
    pub uscc: String,
    /// A department's name or numeric id.
    pub department: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn rule(
        id: i64,
        priority: i64,
        kind: MatchKind,
        value: Option<&str>,
        dept: i64,
    ) -> Rule {
        Rule {
            id,
            priority,
            kind,
            value: value.map(str::to_owned),
            department_id: dept,
        }
    }

    fn facts<'a>(
        township: Option<&'a str>,
        industry: Option<&'a str>,
        kind: &'a str,
    ) -> EntityFacts<'a> {
        EntityFacts {
            township_code: township,
            industry,
            kind,
        }
    }

    #[test]
    fn lower_priority_number_wins_then_the_more_specific_rule() {
        let rules = vec![
            rule(1, 10, MatchKind::Any, None, 100),
            rule(2, 5, MatchKind::Kind, Some("individual_business"), 200),
            rule(3, 5, MatchKind::Township, Some("220322100"), 300),
            rule(4, 5, MatchKind::Industry, Some("A"), 400),
        ];
        let shop = facts(Some("220322100"), Some("A"), "individual_business");
        assert_eq!(decide(&rules, &shop).map(|r| r.department_id), Some(300));
        let farm = facts(Some("220322101"), Some("A"), "individual_business");
        assert_eq!(decide(&rules, &farm).map(|r| r.department_id), Some(400));
        let other = facts(None, None, "individual_business");
        assert_eq!(decide(&rules, &other).map(|r| r.department_id), Some(200));
        let firm = facts(None, Some("C"), "enterprise");
        assert_eq!(decide(&rules, &firm).map(|r| r.department_id), Some(100));
        // A lower number beats specificity.
        let mut rules = rules;
        rules[0].priority = 1;
        assert_eq!(decide(&rules, &shop).map(|r| r.department_id), Some(100));
    }

    #[test]
    fn without_a_catch_all_some_entities_stay_unassigned() {
        let rules = vec![rule(1, 0, MatchKind::Township, Some("220322100"), 1)];
        assert!(decide(&rules, &facts(None, Some("A"), "enterprise")).is_none());
        assert!(decide(&[], &facts(None, None, "enterprise")).is_none());
    }

    #[test]
    fn sorting_follows_decide() {
        let mut rules = vec![
            rule(9, 0, MatchKind::Any, None, 1),
            rule(8, 0, MatchKind::Kind, Some("enterprise"), 2),
            rule(7, 0, MatchKind::Kind, Some("other"), 3),
            rule(1, 3, MatchKind::Township, Some("220322100"), 4),
        ];
        sort_rules(&mut rules);
        assert_eq!(rules.iter().map(|r| r.id).collect::<Vec<_>>(), [7, 8, 9, 1]);
    }

    #[test]
    fn rule_values_are_checked_and_normalised() {
        assert_eq!(
            MatchKind::Industry.normalise_value(Some(" c13 ")),
            Ok(Some("C".into()))
        );
        assert_eq!(
            MatchKind::Industry.normalise_value(Some("农、林、牧、渔业")),
            Ok(Some("A".into()))
        );
        assert!(MatchKind::Industry.normalise_value(Some("Z")).is_err());
        assert_eq!(
            MatchKind::Kind.normalise_value(Some("个体工商户")),
            Ok(Some("individual_business".into()))
        );
        assert_eq!(
            MatchKind::Kind.normalise_value(Some("enterprise")),
            Ok(Some("enterprise".into()))
        );
        assert!(
            MatchKind::Kind
                .normalise_value(Some("公司"))
                .unwrap_err()
                .contains("无法识别")
        );
        assert_eq!(
            MatchKind::Township.normalise_value(Some("220322100")),
            Ok(Some("220322100".into()))
        );
        assert!(
            MatchKind::Township
                .normalise_value(Some("22032210"))
                .is_err()
        );
        assert_eq!(MatchKind::Any.normalise_value(None), Ok(None));
        assert_eq!(MatchKind::Any.normalise_value(Some("  ")), Ok(None));
        assert!(MatchKind::Any.normalise_value(Some("x")).is_err());
        assert!(
            MatchKind::Kind
                .normalise_value(None)
                .unwrap_err()
                .contains("--value")
        );
        assert_eq!(MatchKind::parse("township"), Some(MatchKind::Township));
        assert_eq!(MatchKind::parse("乡镇"), None);
    }

    #[test]
    fn targets_are_a_count_or_a_share() {
        assert_eq!(
            TargetAmount::new(Some(50), None),
            Ok(TargetAmount::Count(50))
        );
        assert_eq!(
            TargetAmount::new(None, Some(1.0)),
            Ok(TargetAmount::Share(1.0))
        );
        assert!(
            TargetAmount::new(Some(1), Some(0.5))
                .unwrap_err()
                .contains("不能同时")
        );
        assert!(TargetAmount::new(None, None).is_err());
        assert!(TargetAmount::new(Some(0), None).is_err());
        for bad in [0.0, -0.1, 1.01, f64::NAN, 80.0] {
            assert!(TargetAmount::new(None, Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn periods_and_deadlines_are_checked() {
        assert_eq!(parse_period(" 2026-12 "), Ok("2026-12".into()));
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "202612",
            "2026-12-01",
            "二〇二六-12",
        ] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_deadline("2026-12-31"),
            Ok(time::macros::date!(2026 - 12 - 31))
        );
        assert!(parse_deadline("2026-02-30").is_err());
        assert!(
            parse_deadline("2026/12/31")
                .unwrap_err()
                .contains("年-月-日")
        );
    }
}

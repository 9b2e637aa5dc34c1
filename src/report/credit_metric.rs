//! The credit-monitoring figure (docs/metrics.md): the weighted onboarding rate of a
//! jurisdiction's market entities, per month, with the rank among sibling counties.
//!
//! Everything here is computed from read-model rows ([`CountRow`]): the live counts for the
//! current month, the snapshot of the month's last day for a past one. Weighted sums are kept in
//! ten-thousandths (weights have at most 4 decimals), so the figure is exact and rounding happens
//! once, at the end.

use std::collections::BTreeMap;
use std::fmt;

use time::{Date, Month};

use crate::config::{MetricSettings, WeightE4};
use crate::domain::division::{DivisionTree, Level};
use crate::domain::entity_kind::EntityKind;
use crate::store::league::{self, CountRow};
use crate::store::progress::Stage;
use crate::store::{Db, StoreError};

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub month: Month,
}

impl Period {
    /// `YYYY-MM` with a month 01–12 and a year 2000–2099; anything else is `None`.
    pub fn parse(s: &str) -> Option<Period> {
        let (y, m) = s.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
        (2000..=2099)
            .contains(&year)
            .then_some(Period { year, month })
    }

    pub fn of(day: Date) -> Period {
        Period {
            year: day.year(),
            month: day.month(),
        }
    }

    /// The month's last day (its snapshot is the month's figure).
    pub fn last_day(self) -> Date {
        let day = self.month.length(self.year);
        // A valid year and month always have this day; the fallback is never taken.
        Date::from_calendar_date(self.year, self.month, day).unwrap_or(Date::MIN)
    }

    pub fn previous(self) -> Period {
        match self.month {
            Month::January => Period {
                year: self.year - 1,
                month: Month::December,
            },
            m => Period {
                year: self.year,
                month: m.previous(),
            },
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

/// The inputs of one entity kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindInput {
    /// The stored kind code (`enterprise`, …).
    pub kind: String,
    pub label: String,
    pub weight_e4: WeightE4,
    /// Entities counted in the denominator (not excluded).
    pub counted: i64,
    /// Of those, onboarded (stage `synced`).
    pub onboarded: i64,
}

/// The figure of one area.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Figure {
    /// Per kind, in [`EntityKind::ALL`] order (unknown kinds last, by code).
    pub kinds: Vec<KindInput>,
    /// Entities left out for their roster status.
    pub excluded: i64,
    /// Σ weight·onboarded, in ten-thousandths.
    pub numerator_e4: i64,
    /// Σ weight·counted, in ten-thousandths.
    pub denominator_e4: i64,
}

impl Figure {
    /// Adds up `rows` (any counties, townships, departments) under `settings`.
    pub fn of<'a>(
        rows: impl IntoIterator<Item = &'a CountRow>,
        settings: &MetricSettings,
    ) -> Figure {
        let excluded: Vec<&str> = settings.excluded.iter().map(|s| s.as_str()).collect();
        let synced = Stage::Synced.as_str();
        let mut by_kind: BTreeMap<(usize, String), (i64, i64)> = BTreeMap::new();
        let mut figure = Figure::default();
        for row in rows {
            if excluded.contains(&row.status.as_str()) {
                figure.excluded += row.n;
                continue;
            }
            let order = EntityKind::parse_code(&row.kind)
                .and_then(|k| EntityKind::ALL.iter().position(|x| *x == k))
                .unwrap_or(usize::MAX);
            let entry = by_kind.entry((order, row.kind.clone())).or_default();
            entry.0 += row.n;
            if row.stage == synced {
                entry.1 += row.n;
            }
        }
        for ((_, kind), (counted, onboarded)) in by_kind {
            let known = EntityKind::parse_code(&kind);
            // An unknown kind (none is stored today) weighs 1, like an unlisted one.
            let weight_e4 = known.map_or(10_000, |k| settings.weight_of(k));
            figure.numerator_e4 += weight_e4 * onboarded;
            figure.denominator_e4 += weight_e4 * counted;
            figure.kinds.push(KindInput {
                label: known.map_or_else(|| kind.clone(), |k| k.label_zh().to_owned()),
                kind,
                weight_e4,
                counted,
                onboarded,
            });
        }
        figure
    }

    /// The rate rounded half up to 4 decimals, in ten-thousandths (6667 = 0.6667); `None` when
    /// the denominator is 0.
    pub fn rate_e4(&self) -> Option<i64> {
        (self.denominator_e4 > 0).then(|| {
            // Exact: (2·num·10⁴ + den) / (2·den) is num/den·10⁴ rounded half up.
            let num = i128::from(self.numerator_e4) * 20_000 + i128::from(self.denominator_e4);
            let rate = num / (i128::from(self.denominator_e4) * 2);
            i64::try_from(rate).unwrap_or(i64::MAX)
        })
    }

    /// The rate as a number with 4 decimals (0.6667).
    pub fn value(&self) -> Option<f64> {
        self.rate_e4().map(|r| r as f64 / 10_000.0)
    }

    /// The rate as shown: `66.67%`, from the 4-decimal value; `—` without a denominator.
    pub fn percent(&self) -> String {
        self.rate_e4().map_or_else(
            || "—".to_owned(),
            |r| format!("{}.{:02}%", r / 100, r % 100),
        )
    }

    pub fn numerator(&self) -> f64 {
        self.numerator_e4 as f64 / 10_000.0
    }

    pub fn denominator(&self) -> f64 {
        self.denominator_e4 as f64 / 10_000.0
    }

    /// Entities counted, unweighted.
    pub fn counted(&self) -> i64 {
        self.kinds.iter().map(|k| k.counted).sum()
    }

    /// Entities onboarded among those counted, unweighted.
    pub fn onboarded(&self) -> i64 {
        self.kinds.iter().map(|k| k.onboarded).sum()
    }
}

/// A weighted sum or weight in ten-thousandths as text without trailing zeros (`2.5`, `3`).
pub fn e4_text(v: i64) -> String {
    let whole = v / 10_000;
    let frac = (v % 10_000).abs();
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:04}")
            .trim_end_matches('0')
            .to_owned()
    }
}

/// One line of the ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub code: String,
    pub name: String,
    pub level: Level,
    /// The deployment's own jurisdiction.
    pub own: bool,
    pub figure: Figure,
    /// 1 for the highest value among the ranked counties; equal values share a rank. `None`
    /// for a city (ranked above its counties, not among them) and for a county without a
    /// denominator.
    pub rank: Option<usize>,
}

/// Gives ranks to the entries with `rankable` set: by the 4-decimal value, highest first;
/// equal values share a rank and the next rank skips (1, 1, 3).
pub fn rank(entries: &mut [Entry], rankable: impl Fn(&Entry) -> bool) {
    let rates: Vec<Option<i64>> = entries
        .iter()
        .map(|e| rankable(e).then(|| e.figure.rate_e4()).flatten())
        .collect();
    for (entry, rate) in entries.iter_mut().zip(&rates) {
        entry.rank = rate.map(|r| 1 + rates.iter().filter(|o| o.is_some_and(|o| o > r)).count());
    }
}

/// Which areas a deployment compares: `own` and the counties it is ranked among (or, for a
/// city, the counties it is made of).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub own: String,
    pub own_level: Level,
    /// Candidate counties, by code (the deployment's own county included); only those with
    /// entities in the period's data get a line.
    pub counties: Vec<(String, String)>,
}

impl Scope {
    /// A county is compared with the other counties of its city; a city (or province) with
    /// the counties below it. A county without a known city stands alone.
    pub fn of(tree: &DivisionTree, jurisdiction: &str) -> Scope {
        let own = tree.get(jurisdiction);
        let own_level = own.map_or(Level::County, |d| d.level);
        let counties_under = |code: &str| -> Vec<(String, String)> {
            let mut out: Vec<(String, String)> = Vec::new();
            let mut stack = vec![code.to_owned()];
            while let Some(c) = stack.pop() {
                for d in tree.children(&c) {
                    match d.level {
                        Level::County => out.push((d.code.clone(), d.name.clone())),
                        Level::Province | Level::City => stack.push(d.code.clone()),
                        Level::Township => {}
                    }
                }
            }
            out.sort();
            out
        };
        let counties = match own_level {
            Level::County | Level::Township => {
                let parent = own.and_then(|d| d.parent.clone());
                let mut list = parent.map(|p| counties_under(&p)).unwrap_or_default();
                if !list.iter().any(|(c, _)| c == jurisdiction) {
                    let name = own.map_or_else(|| jurisdiction.to_owned(), |d| d.name.clone());
                    list.push((jurisdiction.to_owned(), name));
                    list.sort();
                }
                list
            }
            Level::City | Level::Province => counties_under(jurisdiction),
        };
        Scope {
            own: jurisdiction.to_owned(),
            own_level,
            counties,
        }
    }

    pub fn county_codes(&self) -> Vec<String> {
        self.counties.iter().map(|(c, _)| c.clone()).collect()
    }

    /// The lines of one period from its rows: for a city, the city first (no rank); then the
    /// counties that have entities in `rows` (the deployment's own county always), ranked.
    pub fn entries(
        &self,
        tree: &DivisionTree,
        rows: &[CountRow],
        settings: &MetricSettings,
    ) -> Vec<Entry> {
        let mut entries = Vec::new();
        let own_is_area = matches!(self.own_level, Level::City | Level::Province);
        for (code, name) in &self.counties {
            let mine: Vec<&CountRow> = rows.iter().filter(|r| &r.county_code == code).collect();
            let own = !own_is_area && *code == self.own;
            if mine.is_empty() && !own {
                continue;
            }
            entries.push(Entry {
                code: code.clone(),
                name: name.clone(),
                level: Level::County,
                own,
                figure: Figure::of(mine, settings),
                rank: None,
            });
        }
        rank(&mut entries, |_| true);
        entries.sort_by(|a, b| {
            (a.rank.is_none(), a.rank, &a.code).cmp(&(b.rank.is_none(), b.rank, &b.code))
        });
        if own_is_area {
            let codes = self.county_codes();
            let name = tree
                .get(&self.own)
                .map_or_else(|| self.own.clone(), |d| d.name.clone());
            entries.insert(
                0,
                Entry {
                    code: self.own.clone(),
                    name,
                    level: self.own_level,
                    own: true,
                    figure: Figure::of(
                        rows.iter().filter(|r| codes.contains(&r.county_code)),
                        settings,
                    ),
                    rank: None,
                },
            );
        }
        entries
    }
}

/// Where a month's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Today's live counts (the current month).
    Live(Date),
    /// The snapshot of the month's last day.
    Snapshot(Date),
}

impl Source {
    pub fn day(self) -> Date {
        match self {
            Source::Live(d) | Source::Snapshot(d) => d,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Live(_) => "live",
            Source::Snapshot(_) => "snapshot",
        }
    }
}

/// The figures of one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthFigures {
    pub period: Period,
    pub source: Source,
    pub entries: Vec<Entry>,
}

/// The figures of `period` for the areas of `scope`: live for the current month, the snapshot
/// of the last day for a past one; `None` for a future month or a past one without that
/// snapshot (never guessed from another day).
///
/// # Errors
/// Database errors.
pub async fn load(
    db: &Db,
    tree: &DivisionTree,
    scope: &Scope,
    settings: &MetricSettings,
    period: Period,
    today: Date,
) -> Result<Option<MonthFigures>, StoreError> {
    let current = Period::of(today);
    let counties = scope.county_codes();
    let (source, rows) = if period == current {
        (Source::Live(today), league::counts(db, &counties).await?)
    } else if period < current {
        let day = period.last_day();
        match league::snapshot_counts(db, day, &counties).await? {
            Some(rows) => (Source::Snapshot(day), rows),
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    Ok(Some(MonthFigures {
        period,
        source,
        entries: scope.entries(tree, &rows, settings),
    }))
}

/// One month of the monitoring window for the deployment's own jurisdiction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowMonth {
    pub period: Period,
    /// `None`: no snapshot of that month's last day (reported as missing).
    pub source: Option<Source>,
    pub own: Option<Entry>,
}

/// The monitoring window ending with the current month, oldest first.
///
/// # Errors
/// Database errors.
pub async fn window(
    db: &Db,
    tree: &DivisionTree,
    scope: &Scope,
    settings: &MetricSettings,
    today: Date,
) -> Result<Vec<WindowMonth>, StoreError> {
    let mut periods = vec![Period::of(today)];
    for _ in 1..settings.window_months.max(1) {
        let before = periods[periods.len() - 1].previous();
        periods.push(before);
    }
    periods.reverse();
    let mut out = Vec::with_capacity(periods.len());
    for period in periods {
        let month = load(db, tree, scope, settings, period, today).await?;
        out.push(WindowMonth {
            period,
            source: month.as_ref().map(|m| m.source),
            own: month.and_then(|m| m.entries.into_iter().find(|e| e.own)),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::domain::division::Division;
    use crate::domain::entity_status::EntityStatus;

    fn row(county: &str, kind: &str, status: &str, stage: &str, n: i64) -> CountRow {
        CountRow {
            county_code: county.to_owned(),
            township_code: String::new(),
            department_id: 0,
            kind: kind.to_owned(),
            status: status.to_owned(),
            stage: stage.to_owned(),
            n,
        }
    }

    fn tree() -> DivisionTree {
        let d = |code: &str, name: &str, level, parent: Option<&str>| Division {
            code: code.to_owned(),
            name: name.to_owned(),
            level,
            parent: parent.map(str::to_owned),
        };
        DivisionTree::from_divisions([
            d("220300", "四平市", Level::City, None),
            d("220302", "铁西区", Level::County, Some("220300")),
            d("220303", "铁东区", Level::County, Some("220300")),
            d("220322", "梨树县", Level::County, Some("220300")),
            d("220322100", "梨树镇", Level::Township, Some("220322")),
        ])
    }

    #[test]
    fn periods_parse_strictly() {
        assert_eq!(
            Period::parse("2026-02").map(|p| p.to_string()),
            Some("2026-02".to_owned())
        );
        for bad in [
            "2026-13", "2026-00", "2026-2", "26-02", "2026/02", "abcd-ef", "1999-12", "",
        ] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Period::parse("2024-02").unwrap().last_day(),
            date!(2024 - 02 - 29)
        );
        assert_eq!(
            Period::parse("2026-01").unwrap().previous().to_string(),
            "2025-12"
        );
    }

    #[test]
    fn weights_and_exclusions() {
        let rows = [
            row("220322", "enterprise", "active", "synced", 3),
            row("220322", "enterprise", "active", "not_started", 1),
            row("220322", "individual_business", "active", "synced", 1),
            row("220322", "individual_business", "suspended", "started", 3),
            row("220322", "enterprise", "cancelled", "synced", 5),
            row("220322", "enterprise", "moved_out", "not_started", 2),
        ];
        // Defaults: weight 1, 注销 excluded: (3 + 1) / (4 + 4 + 2).
        let plain = Figure::of(&rows, &MetricSettings::default());
        assert_eq!(
            (plain.numerator_e4, plain.denominator_e4),
            (40_000, 100_000)
        );
        assert_eq!(plain.excluded, 5);
        assert_eq!(plain.rate_e4(), Some(4000));
        assert_eq!(plain.percent(), "40.00%");
        assert_eq!((plain.counted(), plain.onboarded()), (10, 4));
        // Individual businesses weigh 0.5, 迁出 excluded too: (3 + 0.5) / (4 + 2).
        let settings = MetricSettings {
            weights: vec![(EntityKind::IndividualBusiness, 5_000)],
            excluded: vec![EntityStatus::Cancelled, EntityStatus::MovedOut],
            window_months: 12,
        };
        let f = Figure::of(&rows, &settings);
        assert_eq!((f.numerator_e4, f.denominator_e4), (35_000, 60_000));
        assert_eq!(f.excluded, 7);
        // 0.58333… rounds to 0.5833.
        assert_eq!(f.rate_e4(), Some(5833));
        assert_eq!(f.value(), Some(0.5833));
        assert_eq!(f.percent(), "58.33%");
        assert_eq!(e4_text(f.numerator_e4), "3.5");
        assert_eq!(e4_text(f.denominator_e4), "6");
        let kinds: Vec<(&str, i64, i64, i64)> = f
            .kinds
            .iter()
            .map(|k| (k.kind.as_str(), k.weight_e4, k.counted, k.onboarded))
            .collect();
        assert_eq!(
            kinds,
            [
                ("enterprise", 10_000, 4, 3),
                ("individual_business", 5_000, 4, 1)
            ]
        );
        // Nothing excluded: everything counts.
        let none = MetricSettings {
            excluded: vec![],
            ..MetricSettings::default()
        };
        let all = Figure::of(&rows, &none);
        assert_eq!(
            (all.numerator_e4, all.denominator_e4, all.excluded),
            (90_000, 150_000, 0)
        );
    }

    #[test]
    fn rounding_is_half_up_at_four_decimals() {
        let f = |num: i64, den: i64| Figure {
            numerator_e4: num,
            denominator_e4: den,
            ..Figure::default()
        };
        assert_eq!(f(2, 3).rate_e4(), Some(6667));
        assert_eq!(f(1, 3).rate_e4(), Some(3333));
        // 1/8 = 0.125 exactly; 1/16 = 0.0625; 1/32000 = 0.00003125 → 0.0000; 0.00005 → 0.0001.
        assert_eq!(f(1, 8).percent(), "12.50%");
        assert_eq!(f(1, 20_000).rate_e4(), Some(1));
        assert_eq!(f(1, 32_000).rate_e4(), Some(0));
        assert_eq!(f(5, 5).percent(), "100.00%");
        assert_eq!(f(0, 0).rate_e4(), None);
        assert_eq!(f(0, 0).percent(), "—");
    }

    #[test]
    fn an_empty_denominator_has_no_value_and_no_rank() {
        let rows = [
            row("220322", "enterprise", "cancelled", "synced", 2),
            row("220302", "enterprise", "active", "synced", 1),
        ];
        let scope = Scope::of(&tree(), "220322");
        let entries = scope.entries(&tree(), &rows, &MetricSettings::default());
        let got: Vec<(&str, Option<usize>, Option<i64>)> = entries
            .iter()
            .map(|e| (e.code.as_str(), e.rank, e.figure.rate_e4()))
            .collect();
        assert_eq!(
            got,
            [("220302", Some(1), Some(10_000)), ("220322", None, None)]
        );
        assert_eq!(entries[1].figure.excluded, 2);
    }

    #[test]
    fn a_county_is_ranked_among_the_counties_in_the_data_and_ties_share() {
        let rows = [
            row("220322", "enterprise", "active", "synced", 1),
            row("220322", "enterprise", "active", "started", 1),
            row("220302", "enterprise", "active", "synced", 2),
            row("220302", "enterprise", "active", "not_started", 2),
            row("220303", "enterprise", "active", "synced", 1),
            row("220303", "enterprise", "active", "not_started", 3),
        ];
        let scope = Scope::of(&tree(), "220322");
        assert_eq!(scope.county_codes(), ["220302", "220303", "220322"]);
        let entries = scope.entries(&tree(), &rows, &MetricSettings::default());
        let got: Vec<(&str, Option<usize>, bool)> = entries
            .iter()
            .map(|e| (e.code.as_str(), e.rank, e.own))
            .collect();
        assert_eq!(
            got,
            [
                ("220302", Some(1), false),
                ("220322", Some(1), true),
                ("220303", Some(3), false)
            ]
        );
        // Without 铁东区 in the data it gets no line; the own county always has one.
        let only = scope.entries(&tree(), &rows[2..4], &MetricSettings::default());
        let codes: Vec<&str> = only.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["220302", "220322"]);
        assert_eq!(only[1].figure.denominator_e4, 0);
    }

    #[test]
    fn a_city_gets_its_total_and_its_counties_are_ranked() {
        let rows = [
            row("220322", "enterprise", "active", "synced", 1),
            row("220322", "enterprise", "active", "started", 3),
            row("220302", "enterprise", "active", "synced", 3),
            row("220302", "enterprise", "active", "not_started", 1),
            // Not a county of the city: ignored.
            row("220422", "enterprise", "active", "synced", 9),
        ];
        let scope = Scope::of(&tree(), "220300");
        let entries = scope.entries(&tree(), &rows, &MetricSettings::default());
        let got: Vec<(&str, Option<usize>, bool, Option<i64>)> = entries
            .iter()
            .map(|e| (e.code.as_str(), e.rank, e.own, e.figure.rate_e4()))
            .collect();
        assert_eq!(
            got,
            [
                ("220300", None, true, Some(5000)),
                ("220302", Some(1), false, Some(7500)),
                ("220322", Some(2), false, Some(2500)),
            ]
        );
    }
}

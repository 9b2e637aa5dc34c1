//! Administrative divisions (行政区划) and the jurisdiction tree: province → city → county → township.
//!
//! County-level codes follow GB/T 2260 (6 digits); township codes are the National Bureau of
//! Statistics' 9-digit statistical codes (2023 edition). The seed below restates the public codes
//! for 吉林省 / 四平市 that this deployment serves.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Province,
    City,
    County,
    Township,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::City => "city",
            Level::County => "county",
            Level::Township => "township",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "province" => Some(Level::Province),
            "city" => Some(Level::City),
            "county" => Some(Level::County),
            "township" => Some(Level::Township),
            _ => None,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Level::Province => "省",
            Level::City => "市",
            Level::County => "县区",
            Level::Township => "乡镇街道",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent: Option<String>,
}

/// The divisions a deployment knows, indexed by code.
#[derive(Debug, Clone, Default)]
pub struct DivisionTree {
    by_code: HashMap<String, Division>,
}

impl DivisionTree {
    pub fn from_divisions(divisions: impl IntoIterator<Item = Division>) -> DivisionTree {
        DivisionTree {
            by_code: divisions.into_iter().map(|d| (d.code.clone(), d)).collect(),
        }
    }

    /// The built-in seed: 吉林省, 四平市, its five county-level units and their townships.
    pub fn seed() -> DivisionTree {
        DivisionTree::from_divisions(SEED.iter().map(|&(code, name, level, parent)| Division {
            code: code.to_owned(),
            name: name.to_owned(),
            level,
            parent: (!parent.is_empty()).then(|| parent.to_owned()),
        }))
    }

    pub fn get(&self, code: &str) -> Option<&Division> {
        self.by_code.get(code)
    }

    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }

    /// All divisions, parents before children, then by code.
    pub fn iter_ordered(&self) -> Vec<&Division> {
        let mut all: Vec<&Division> = self.by_code.values().collect();
        all.sort_by(|a, b| a.level.cmp(&b.level).then_with(|| a.code.cmp(&b.code)));
        all
    }

    pub fn children<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Division> + 'a {
        let mut kids: Vec<&Division> = self
            .by_code
            .values()
            .filter(move |d| d.parent.as_deref() == Some(code))
            .collect();
        kids.sort_by(|a, b| a.code.cmp(&b.code));
        kids.into_iter()
    }

    /// The division itself, then its parent, up to the root.
    pub fn ancestors_and_self<'a>(&'a self, code: &str) -> impl Iterator<Item = &'a Division> + 'a {
        let mut next = self.get(code);
        std::iter::from_fn(move || {
            let current = next?;
            next = current.parent.as_deref().and_then(|p| self.get(p));
            Some(current)
        })
    }

    /// True when `code` is `ancestor` or lies below it.
    pub fn is_within(&self, code: &str, ancestor: &str) -> bool {
        self.ancestors_and_self(code).any(|d| d.code == ancestor)
    }

    /// The county-level unit a division belongs to (itself for a county).
    pub fn county_of(&self, code: &str) -> Option<&Division> {
        self.ancestors_and_self(code)
            .find(|d| d.level == Level::County)
    }

    /// "梨树县 · 梨树镇"-style path below the city, for display.
    pub fn display_path(&self, code: &str) -> String {
        let mut names: Vec<&str> = self
            .ancestors_and_self(code)
            .filter(|d| matches!(d.level, Level::County | Level::Township))
            .map(|d| d.name.as_str())
            .collect();
        names.reverse();
        names.join(" · ")
    }
}

/// The significant start of a division code, shared by every division below it:
/// `220322` → `220322`, `220300` → `2203`, `220000` → `22`, `220322100` → `220322100`.
pub fn code_prefix(code: &str) -> &str {
    // A township's three digits name it whole; only a 6-digit code has zero pairs to drop.
    if code.len() > 6 {
        return match code.strip_suffix("000") {
            Some(county) if county.len() == 6 => code_prefix(county),
            _ => code,
        };
    }
    let mut prefix = code;
    while prefix.len() > 2 && prefix.ends_with("00") {
        prefix = &prefix[..prefix.len() - 2];
    }
    prefix
}

/// (code, name, level, parent code)
const SEED: &[(&str, &str, Level, &str)] = &[
    ("220000", "吉林省", Level::Province, ""),
    ("220300", "四平市", Level::City, "220000"),
    ("220302", "铁西区", Level::County, "220300"),
    ("220303", "铁东区", Level::County, "220300"),
    ("220322", "梨树县", Level::County, "220300"),
    ("220323", "伊通满族自治县", Level::County, "220300"),
    ("220382", "双辽市", Level::County, "220300"),
    ("220302001", "仁兴街道", Level::Township, "220302"),
    ("220302002", "英雄街道", Level::Township, "220302"),
    ("220302003", "站前街道", Level::Township, "220302"),
    ("220302004", "北沟街道", Level::Township, "220302"),
    ("220302005", "地直街道", Level::Township, "220302"),
    ("220302200", "平西乡", Level::Township, "220302"),
    ("220302400", "红嘴高新技术开发区", Level::Township, "220302"),
    (
        "220303001",
        "四平市铁东区平东街道",
        Level::Township,
        "220303",
    ),
    (
        "220303002",
        "四平市铁东区北市场街道",
        Level::Township,
        "220303",
    ),
    (
        "220303003",
        "四平市铁东区七马路街道",
        Level::Township,
        "220303",
    ),
    (
        "220303004",
        "四平市铁东区四马路街道",
        Level::Township,
        "220303",
    ),
    (
        "220303005",
        "四平市铁东区解放街道",
        Level::Township,
        "220303",
    ),
    (
        "220303006",
        "四平市铁东区北门街道",
        Level::Township,
        "220303",
    ),
    (
        "220303007",
        "四平市铁东区黄土坑街道",
        Level::Township,
        "220303",
    ),
    (
        "220303008",
        "四平市铁东区平南街道",
        Level::Township,
        "220303",
    ),
    ("220303100", "四平市铁东区山门镇", Level::Township, "220303"),
    ("220303101", "四平市铁东区石岭镇", Level::Township, "220303"),
    (
        "220303102",
        "四平市铁东区叶赫满族镇",
        Level::Township,
        "220303",
    ),
    ("220303200", "四平市铁东区城东乡", Level::Township, "220303"),
    ("220322001", "富强街道", Level::Township, "220322"),
    ("220322002", "康平街道", Level::Township, "220322"),
    ("220322003", "霍家店街道", Level::Township, "220322"),
    ("220322100", "梨树镇", Level::Township, "220322"),
    ("220322101", "郭家店镇", Level::Township, "220322"),
    ("220322102", "榆树台镇", Level::Township, "220322"),
    ("220322103", "孤家子镇", Level::Township, "220322"),
    ("220322104", "小城子镇", Level::Township, "220322"),
    ("220322105", "喇嘛甸镇", Level::Township, "220322"),
    ("220322106", "蔡家镇", Level::Township, "220322"),
    ("220322107", "刘家馆子镇", Level::Township, "220322"),
    ("220322108", "十家堡镇", Level::Township, "220322"),
    ("220322109", "孟家岭镇", Level::Township, "220322"),
    ("220322110", "万发镇", Level::Township, "220322"),
    ("220322111", "东河镇", Level::Township, "220322"),
    ("220322112", "沈洋镇", Level::Township, "220322"),
    ("220322113", "林海镇", Level::Township, "220322"),
    ("220322114", "小宽镇", Level::Township, "220322"),
    ("220322200", "白山乡", Level::Township, "220322"),
    ("220322201", "泉眼岭乡", Level::Township, "220322"),
    ("220322202", "胜利乡", Level::Township, "220322"),
    ("220322203", "四棵树乡", Level::Township, "220322"),
    ("220322204", "双河乡", Level::Township, "220322"),
    ("220322205", "金山乡", Level::Township, "220322"),
    ("220323001", "永盛街道", Level::Township, "220323"),
    ("220323002", "永宁街道", Level::Township, "220323"),
    ("220323100", "伊通镇", Level::Township, "220323"),
    ("220323101", "二道镇", Level::Township, "220323"),
    ("220323102", "伊丹镇", Level::Township, "220323"),
    ("220323103", "马鞍山镇", Level::Township, "220323"),
    ("220323104", "景台镇", Level::Township, "220323"),
    ("220323105", "靠山镇", Level::Township, "220323"),
    ("220323106", "大孤山镇", Level::Township, "220323"),
    ("220323107", "小孤山镇", Level::Township, "220323"),
    ("220323108", "营城子镇", Level::Township, "220323"),
    ("220323109", "西苇镇", Level::Township, "220323"),
    ("220323110", "河源镇", Level::Township, "220323"),
    ("220323111", "黄岭子镇", Level::Township, "220323"),
    ("220323200", "新兴乡", Level::Township, "220323"),
    ("220323201", "莫里青乡", Level::Township, "220323"),
    ("220323202", "三道乡", Level::Township, "220323"),
    ("220382001", "郑家屯街道", Level::Township, "220382"),
    ("220382002", "辽西街道", Level::Township, "220382"),
    ("220382003", "辽南街道", Level::Township, "220382"),
    ("220382004", "辽北街道", Level::Township, "220382"),
    ("220382005", "辽东街道", Level::Township, "220382"),
    ("220382006", "红旗街道", Level::Township, "220382"),
    ("220382100", "茂林镇", Level::Township, "220382"),
    ("220382101", "双山镇", Level::Township, "220382"),
    ("220382102", "卧虎镇", Level::Township, "220382"),
    ("220382103", "服先镇", Level::Township, "220382"),
    ("220382104", "王奔镇", Level::Township, "220382"),
    ("220382105", "玻璃山镇", Level::Township, "220382"),
    ("220382106", "兴隆镇", Level::Township, "220382"),
    ("220382107", "东明镇", Level::Township, "220382"),
    ("220382200", "那木乡", Level::Township, "220382"),
    ("220382201", "柳条乡", Level::Township, "220382"),
    ("220382202", "新立乡", Level::Township, "220382"),
    ("220382203", "永加乡", Level::Township, "220382"),
    ("220382402", "吉林双辽经济开发区", Level::Township, "220382"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_has_the_five_county_level_units_of_siping() {
        let tree = DivisionTree::seed();
        let counties: Vec<&str> = tree.children("220300").map(|d| d.code.as_str()).collect();
        assert_eq!(counties, ["220302", "220303", "220322", "220323", "220382"]);
        assert_eq!(tree.get("220322").map(|d| d.name.as_str()), Some("梨树县"));
    }

    #[test]
    fn every_seeded_parent_exists_and_is_one_level_up() {
        let tree = DivisionTree::seed();
        for d in tree.iter_ordered() {
            if let Some(parent) = &d.parent {
                let p = tree.get(parent);
                assert!(p.is_some(), "{} has unknown parent {parent}", d.code);
                assert!(p.is_some_and(|p| p.level < d.level));
                assert!(
                    d.code.starts_with(code_prefix(parent)),
                    "{} not under {parent}",
                    d.code
                );
            }
        }
    }

    #[test]
    fn code_prefix_drops_trailing_zero_pairs() {
        assert_eq!(code_prefix("220322"), "220322");
        assert_eq!(code_prefix("220300"), "2203");
        assert_eq!(code_prefix("220000"), "22");
        assert_eq!(code_prefix("100000"), "10");
        assert_eq!(code_prefix("220322100"), "220322100");
    }

    #[test]
    fn township_lies_within_its_county_city_and_province() {
        let tree = DivisionTree::seed();
        assert!(tree.is_within("220322100", "220322"));
        assert!(tree.is_within("220322100", "220300"));
        assert!(tree.is_within("220322100", "220000"));
        assert!(!tree.is_within("220322100", "220323"));
        assert_eq!(
            tree.county_of("220322100").map(|d| d.code.as_str()),
            Some("220322")
        );
        assert_eq!(tree.display_path("220322100"), "梨树县 · 梨树镇");
    }

    #[test]
    fn seed_matches_the_shared_division_file() {
        // The shared data file is the published source; the seed restates it.
        let Ok(text) = std::fs::read_to_string("../shared/data/siping-divisions.csv") else {
            return; // outside the workspace the file is absent; the other tests still hold
        };
        let tree = DivisionTree::seed();
        let mut rows = 0;
        for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split(',').collect();
            let d = tree.get(cols[0]);
            assert_eq!(d.map(|d| d.name.as_str()), Some(cols[1]), "{line}");
            assert_eq!(d.map(|d| d.level.as_str()), Some(cols[2]), "{line}");
            rows += 1;
        }
        assert_eq!(rows, tree.len());
    }
}

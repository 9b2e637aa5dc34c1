//! GB/T 4754-2017 industry sections (国民经济行业分类门类): the section letters, their Chinese
//! names, and reading an industry as rosters write it.

use super::quote::quoted;

/// GB/T 4754-2017 sections: letter, Chinese name, first and last two-digit division.
pub(crate) const INDUSTRY_SECTIONS: [(char, &str, u8, u8); 20] = [
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

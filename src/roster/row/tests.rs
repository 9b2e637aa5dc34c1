use proptest::prelude::*;
use time::macros::date;

use super::*;
use crate::domain::entity_kind::EntityKind;
use crate::domain::entity_name::normalize_entity_name;
use crate::domain::industry::{INDUSTRY_SECTIONS, industry_label_zh};
use crate::domain::quote::MAX_QUOTED_CHARS;

const TODAY: Date = date!(2024 - 06 - 01);

fn tree() -> &'static DivisionTree {
    static TREE: std::sync::OnceLock<DivisionTree> = std::sync::OnceLock::new();
    TREE.get_or_init(DivisionTree::seed)
}

fn validator() -> RowValidator<'static> {
    RowValidator::new(tree(), "220322", TODAY)
}

fn uscc(type_code: &str, division: &str) -> String {
    Uscc::assemble(type_code, division, "MA0Y3K2B")
        .unwrap()
        .into_string()
}

/// A row with only the required columns, registered in 梨树县.
fn minimal() -> RawFields {
    RawFields {
        uscc: uscc("91", "220322"),
        name: "梨树县丰收农业机械有限公司".into(),
        legal_rep: "张伟".into(),
        ..RawFields::default()
    }
}

fn with(edit: impl FnOnce(&mut RawFields)) -> RawFields {
    let mut fields = minimal();
    edit(&mut fields);
    fields
}

fn accepted(fields: &RawFields) -> RosterEntry {
    validator().check(2, fields).unwrap()
}

fn reasons(fields: &RawFields) -> Vec<String> {
    validator().check(2, fields).unwrap_err().reasons
}

fn reason(fields: &RawFields) -> String {
    let reasons = reasons(fields);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    reasons.into_iter().next().unwrap_or_default()
}

#[test]
fn a_complete_row_becomes_an_entry() {
    let entry = accepted(&RawFields {
        uscc: uscc("92", "220322").to_lowercase(),
        name: " 梨树县郭家店镇小王饭店(个体) ".into(),
        legal_rep: " 王芳 ".into(),
        township_code: Some("220322101".into()),
        industry: Some("h".into()),
        address: Some(" 吉林省四平市梨树县郭家店镇站前路3号 ".into()),
        founded: Some("2019/11/20".into()),
        status: Some("存续（在营、开业、在册）".into()),
    });
    assert_eq!(entry.uscc.as_str(), uscc("92", "220322"));
    assert_eq!(entry.kind, EntityKind::IndividualBusiness);
    assert_eq!(entry.name, "梨树县郭家店镇小王饭店（个体）");
    assert_eq!(entry.legal_rep, "王芳");
    assert_eq!(entry.county_code, "220322");
    assert_eq!(entry.township_code.as_deref(), Some("220322101"));
    assert_eq!(entry.industry, Some('H'));
    assert_eq!(
        entry.address.as_deref(),
        Some("吉林省四平市梨树县郭家店镇站前路3号")
    );
    assert_eq!(entry.founded, Some(date!(2019 - 11 - 20)));
    assert_eq!(entry.status, EntityStatus::Active);
}

#[test]
fn a_minimal_row_takes_its_county_from_the_uscc_and_defaults_to_active() {
    let entry = accepted(&minimal());
    assert_eq!(entry.county_code, "220322");
    assert_eq!(entry.kind, EntityKind::Enterprise);
    assert_eq!(entry.township_code, None);
    assert_eq!(entry.industry, None);
    assert_eq!(entry.address, None);
    assert_eq!(entry.founded, None);
    assert_eq!(entry.status, EntityStatus::Active);
}

#[test]
fn an_empty_uscc_is_refused() {
    assert_eq!(
        reason(&with(|f| f.uscc = "  ".into())),
        "统一社会信用代码为空"
    );
}

#[test]
fn an_invalid_uscc_says_which_rule_failed() {
    let mut bad = uscc("91", "220322");
    bad.replace_range(17.., if bad.ends_with('0') { "1" } else { "0" });
    let text = reason(&with(|f| f.uscc = bad));
    assert!(
        text.starts_with("统一社会信用代码：统一社会信用代码校验位错误"),
        "{text}"
    );
    assert_eq!(
        reason(&with(|f| f.uscc = "9122".into())),
        "统一社会信用代码：统一社会信用代码应为18位，实际为4位"
    );
}

#[test]
fn a_duplicate_points_to_the_first_accepted_line() {
    let mut validator = validator();
    let fields = minimal();
    assert!(validator.check(2, &fields).is_ok());
    let spaced = with(|f| f.uscc = format!(" {} ", f.uscc.to_lowercase()));
    let rejection = validator.check(7, &spaced).unwrap_err();
    assert_eq!(rejection.reasons, ["与第2行的统一社会信用代码重复"]);
    // The refused duplicate does not replace the first line.
    assert_eq!(
        validator.check(9, &fields).unwrap_err().to_string(),
        "与第2行的统一社会信用代码重复"
    );
}

#[test]
fn a_duplicate_is_reported_beside_the_rows_other_problems() {
    let mut validator = validator();
    assert!(validator.check(2, &minimal()).is_ok());
    let rejection = validator
        .check(3, &with(|f| f.legal_rep.clear()))
        .unwrap_err();
    assert_eq!(
        rejection.reasons,
        ["与第2行的统一社会信用代码重复", "法定代表人为空"]
    );
}

#[test]
fn a_rejected_row_does_not_claim_its_uscc() {
    let mut validator = validator();
    assert!(validator.check(2, &with(|f| f.name.clear())).is_err());
    assert!(validator.check(3, &minimal()).is_ok());
}

#[test]
fn the_name_is_required() {
    assert_eq!(reason(&with(|f| f.name = " \u{3000} ".into())), "名称为空");
}

#[test]
fn the_name_is_normalised_as_samr_writes_it() {
    let entry = accepted(&with(|f| f.name = "  梨树县  老王\t(二店)  ".into()));
    assert_eq!(entry.name, "梨树县 老王 （二店）");
    assert_eq!(normalize_entity_name("A（B）"), "A（B）");
}

#[test]
fn the_name_has_at_most_100_characters() {
    assert!(
        accepted(&with(|f| f.name = "名".repeat(100)))
            .name
            .chars()
            .count()
            == 100
    );
    assert_eq!(
        reason(&with(|f| f.name = "名".repeat(101))),
        "名称过长：101个字，最多100个字"
    );
}

#[test]
fn control_characters_are_refused() {
    assert_eq!(
        reason(&with(|f| f.name = "某\u{0}店".into())),
        "名称含有不可见的控制字符"
    );
    assert_eq!(
        reason(&with(|f| f.legal_rep = "张\u{7}三".into())),
        "法定代表人含有不可见的控制字符"
    );
    assert_eq!(
        reason(&with(|f| f.address = Some("某\u{1b}地".into()))),
        "住所含有不可见的控制字符"
    );
}

#[test]
fn the_legal_representative_is_required() {
    assert_eq!(
        reason(&with(|f| f.legal_rep = " ".into())),
        "法定代表人为空"
    );
}

#[test]
fn the_legal_representative_has_no_digits() {
    assert_eq!(
        reason(&with(|f| f.legal_rep = "张三13800138000".into())),
        "法定代表人“张三13800138000”中不应有数字"
    );
    assert!(
        validator()
            .check(2, &with(|f| f.legal_rep = "张三１".into()))
            .is_err()
    );
    assert_eq!(
        accepted(&with(|f| f.legal_rep = "阿依古丽·买买提".into())).legal_rep,
        "阿依古丽·买买提"
    );
}

#[test]
fn the_legal_representative_has_at_most_50_characters() {
    assert_eq!(
        reason(&with(|f| f.legal_rep = "张".repeat(51))),
        "法定代表人过长：51个字，最多50个字"
    );
}

#[test]
fn a_township_code_has_nine_digits() {
    for bad in ["22032210", "2203221000", "22032210X", "梨树镇"] {
        assert_eq!(
            reason(&with(|f| f.township_code = Some(bad.into()))),
            format!("乡镇代码“{bad}”应为9位数字")
        );
    }
}

#[test]
fn a_twelve_digit_statistical_code_is_read_as_its_township() {
    let entry = accepted(&with(|f| f.township_code = Some("220322100000".into())));
    assert_eq!(entry.township_code.as_deref(), Some("220322100"));
}

#[test]
fn a_township_code_must_exist() {
    assert_eq!(
        reason(&with(|f| f.township_code = Some("220322999".into()))),
        "乡镇代码“220322999”不存在"
    );
}

#[test]
fn a_township_must_lie_in_the_jurisdiction() {
    assert_eq!(
        reason(&with(|f| f.township_code = Some("220302001".into()))),
        "乡镇代码“220302001”不在本辖区（梨树县）内"
    );
    // A city-wide import takes townships of every county.
    let mut city = RowValidator::new(tree(), "220300", TODAY);
    let fields = with(|f| {
        f.uscc = uscc("91", "220302");
        f.township_code = Some("220302001".into());
    });
    assert_eq!(city.check(2, &fields).unwrap().county_code, "220302");
}

#[test]
fn a_township_code_must_name_a_township_with_a_county() {
    // A hand-made tree with the shapes the seed lacks: a 9-digit code that is not a
    // township, and a township hanging directly under a city.
    let division = |code: &str, level, parent: &str| Division {
        code: code.to_owned(),
        name: format!("区划{code}"),
        level,
        parent: Some(parent.to_owned()).filter(|p| !p.is_empty()),
    };
    let tree = DivisionTree::from_divisions([
        division("220300", Level::City, ""),
        division("220322", Level::County, "220300"),
        division("220322100", Level::County, "220300"),
        division("220300001", Level::Township, "220300"),
    ]);
    let mut validator = RowValidator::new(&tree, "220300", TODAY);
    let reasons = |validator: &mut RowValidator<'_>, township: &str| {
        let fields = with(|f| f.township_code = Some(township.into()));
        validator.check(2, &fields).unwrap_err().reasons
    };
    assert_eq!(
        reasons(&mut validator, "220322100"),
        ["乡镇代码“220322100”不是乡镇街道的代码"]
    );
    assert_eq!(
        reasons(&mut validator, "220300001"),
        ["乡镇代码“220300001”找不到所属县区"]
    );
    // Resolutions are remembered; asking again gives the same answer.
    assert_eq!(
        reasons(&mut validator, "220300001"),
        ["乡镇代码“220300001”找不到所属县区"]
    );
}

#[test]
fn the_county_comes_from_the_township_when_given() {
    let entry = accepted(&with(|f| {
        f.uscc = uscc("91", "220300");
        f.township_code = Some("220322104".into());
    }));
    assert_eq!(entry.county_code, "220322");
}

#[test]
fn without_a_township_a_uscc_registered_above_county_level_is_refused() {
    assert_eq!(
        reason(&with(|f| f.uscc = uscc("91", "220300"))),
        "无法确定所属县区：统一社会信用代码的行政区划码为“220300”，请填写乡镇代码"
    );
    assert_eq!(
        reason(&with(|f| f.uscc = uscc("91", "110105"))),
        "无法确定所属县区：统一社会信用代码的行政区划码为“110105”，请填写乡镇代码"
    );
}

#[test]
fn without_a_township_a_uscc_of_another_county_is_out_of_the_jurisdiction() {
    assert_eq!(
        reason(&with(|f| f.uscc = uscc("91", "220382"))),
        "统一社会信用代码的行政区划码“220382”（双辽市）不在本辖区（梨树县）内"
    );
}

#[test]
fn the_uscc_must_not_name_a_different_county_than_the_township() {
    assert_eq!(
        reason(&with(|f| {
            f.uscc = uscc("91", "220302");
            f.township_code = Some("220322100".into());
        })),
        "统一社会信用代码的行政区划码“220302”与乡镇所属县区“220322”不一致"
    );
}

#[test]
fn a_uscc_registered_at_city_province_or_national_level_fits_any_township_below() {
    for division in ["220300", "220000", "100000"] {
        let entry = accepted(&with(|f| {
            f.uscc = uscc("91", division);
            f.township_code = Some("220322100".into());
        }));
        assert_eq!(entry.county_code, "220322", "{division}");
    }
}

#[test]
fn a_uscc_division_outside_the_tree_is_taken_on_the_townships_word() {
    // 公主岭市 (220381) has belonged to 长春市 since 2020; its entities keep their codes.
    let entry = accepted(&with(|f| {
        f.uscc = uscc("91", "220381");
        f.township_code = Some("220322100".into());
    }));
    assert_eq!(entry.county_code, "220322");
}

#[test]
fn industry_sections_are_read_in_every_common_form() {
    for (input, section) in [
        ("c", 'C'),
        ("C", 'C'),
        (" C13 ", 'C'),
        ("C1310", 'C'),
        ("c-13", 'C'),
        ("1310", 'C'),
        ("05", 'A'),
        ("制造业", 'C'),
        ("C 制造业", 'C'),
        ("C:制造业", 'C'),
        ("T97", 'T'),
        ("S96", 'S'),
    ] {
        assert_eq!(parse_industry(input), Ok(section), "{input}");
    }
    for (letter, name, _, _) in INDUSTRY_SECTIONS {
        assert_eq!(parse_industry(name), Ok(letter), "{name}");
        assert_eq!(industry_label_zh(letter), Some(name));
    }
    assert_eq!(industry_label_zh('U'), None);
}

#[test]
fn an_unknown_industry_is_refused() {
    let unknown = |s: &str| {
        format!(
            "行业门类“{s}”无法识别，应为门类字母（如 C）、门类加行业代码（如 C13）或门类名称（如 制造业）"
        )
    };
    for bad in [
        "U", "Z13", "C1", "C12345", "工业", "C 农业", "98", "00", "中",
    ] {
        assert_eq!(parse_industry(bad), Err(unknown(bad)), "{bad}");
    }
    assert_eq!(
        reason(&with(|f| f.industry = Some("X".into()))),
        unknown("X")
    );
}

#[test]
fn an_industry_code_of_another_section_is_refused() {
    assert_eq!(
        reason(&with(|f| f.industry = Some("C05".into()))),
        "行业门类“C05”：行业代码05属于门类A，不属于门类C（制造业）"
    );
}

#[test]
fn founded_dates_are_read_in_every_common_form() {
    for input in [
        "2015-03-08",
        "2015-3-8",
        "2015/3/8",
        "2015/03/08 0:00",
        "2015.3.8",
        "20150308",
        "2015年3月8日",
        "2015-03-08T00:00:00",
    ] {
        let entry = accepted(&with(|f| f.founded = Some(input.into())));
        assert_eq!(entry.founded, Some(date!(2015 - 03 - 08)), "{input}");
    }
}

#[test]
fn a_founded_date_in_an_unknown_form_is_refused() {
    for bad in [
        "2015",
        "15-3-8",
        "2015-03",
        "3/8/2015",
        "2015-03-08-01",
        "2015/3-8",
        "二〇一五年",
    ] {
        assert_eq!(
            reason(&with(|f| f.founded = Some(bad.into()))),
            format!(
                "成立日期“{bad}”格式无法识别，应为 2020-01-31、2020/1/31、20200131 或 2020年1月31日"
            ),
            "{bad}"
        );
    }
}

#[test]
fn a_founded_date_must_exist_on_the_calendar() {
    for bad in ["2023-02-29", "2015-13-01", "2015/4/31", "20150300"] {
        assert_eq!(
            reason(&with(|f| f.founded = Some(bad.into()))),
            format!("成立日期“{bad}”不是日历上的日期")
        );
    }
}

#[test]
fn a_founded_date_lies_between_1900_and_today() {
    assert!(
        accepted(&with(|f| f.founded = Some("2024-06-01".into())))
            .founded
            .is_some()
    );
    assert!(
        accepted(&with(|f| f.founded = Some("1900-01-01".into())))
            .founded
            .is_some()
    );
    assert_eq!(
        reason(&with(|f| f.founded = Some("2024-06-02".into()))),
        "成立日期“2024-06-02”晚于今天"
    );
    assert_eq!(
        reason(&with(|f| f.founded = Some("1899-12-31".into()))),
        "成立日期“1899-12-31”早于1900年"
    );
}

#[test]
fn statuses_are_read_in_chinese_and_english() {
    use EntityStatus::*;
    for (label, status) in [
        ("", Active),
        ("在营", Active),
        ("存续", Active),
        ("开业", Active),
        ("正常", Active),
        ("在业", Active),
        ("Active", Active),
        ("存续（在营、开业、在册）", Active),
        ("停业", Suspended),
        ("歇业", Suspended),
        ("SUSPENDED", Suspended),
        ("吊销", Revoked),
        ("吊销，未注销", Revoked),
        ("revoked", Revoked),
        ("注销", Cancelled),
        ("吊销，已注销", Cancelled),
        ("canceled", Cancelled),
        ("迁出", MovedOut),
        ("moved_out", MovedOut),
        ("Moved Out", MovedOut),
    ] {
        assert_eq!(EntityStatus::parse_label(label), Some(status), "{label}");
    }
    assert_eq!(
        accepted(&with(|f| f.status = Some("注销".into()))).status,
        Cancelled
    );
}

#[test]
fn an_unknown_status_is_refused_with_the_accepted_values() {
    assert_eq!(EntityStatus::parse_label("清算"), None);
    assert_eq!(
        reason(&with(|f| f.status = Some("清算".into()))),
        "登记状态“清算”无法识别，可填：在营（存续、开业、正常、在业）、停业（歇业）、吊销、注销、迁出"
    );
}

#[test]
fn status_codes_round_trip_and_only_live_entities_count() {
    for status in EntityStatus::ALL {
        assert_eq!(EntityStatus::parse_code(status.as_str()), Some(status));
        assert_eq!(EntityStatus::parse_label(status.label_zh()), Some(status));
        assert_eq!(EntityStatus::parse_label(status.as_str()), Some(status));
        assert_eq!(status.to_string(), status.label_zh());
    }
    assert_eq!(EntityStatus::parse_code("Active"), None);
    let countable: Vec<_> = EntityStatus::ALL
        .into_iter()
        .filter(|s| s.is_countable())
        .collect();
    assert_eq!(
        countable,
        [
            EntityStatus::Active,
            EntityStatus::Suspended,
            EntityStatus::Revoked
        ]
    );
}

#[test]
fn the_address_has_at_most_200_characters() {
    assert!(
        accepted(&with(|f| f.address = Some("址".repeat(200))))
            .address
            .is_some()
    );
    assert_eq!(
        reason(&with(|f| f.address = Some("址".repeat(201)))),
        "住所过长：201个字，最多200个字"
    );
}

#[test]
fn every_problem_of_a_row_is_reported_at_once() {
    let fields = RawFields {
        uscc: "9122".into(),
        name: String::new(),
        legal_rep: "张3".into(),
        township_code: Some("220302001".into()),
        industry: Some("Z".into()),
        address: Some("址".repeat(201)),
        founded: Some("2099-01-01".into()),
        status: Some("清算".into()),
    };
    let rejection = validator().check(2, &fields).unwrap_err();
    assert_eq!(rejection.reasons.len(), 8, "{rejection}");
    let text = rejection.to_string();
    for part in [
        "统一社会信用代码：统一社会信用代码应为18位，实际为4位；名称为空；法定代表人“张3”中不应有数字；",
        "乡镇代码“220302001”不在本辖区（梨树县）内；行业门类“Z”无法识别",
        "住所过长",
        "成立日期“2099-01-01”晚于今天",
        "登记状态“清算”无法识别",
    ] {
        assert!(text.contains(part), "{text}");
    }
}

#[test]
fn quoted_input_is_cut_to_a_readable_length() {
    let long = "Z".repeat(500);
    let text = parse_industry(&long).unwrap_err();
    assert!(
        text.contains(&format!("“{}…”", "Z".repeat(MAX_QUOTED_CHARS))),
        "{text}"
    );
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9A-Z]{18}",
        "[0-9 /年月日.-]{0,14}",
        "220322[0-9]{3,6}",
        "\\PC{0,120}",
    ]
}

proptest! {
    #[test]
    fn check_never_panics(
        uscc in any_text(),
        name in any_text(),
        legal_rep in any_text(),
        optional in proptest::collection::vec(proptest::option::of(any_text()), 5),
    ) {
        let fields = RawFields {
            uscc,
            name,
            legal_rep,
            township_code: optional[0].clone(),
            industry: optional[1].clone(),
            address: optional[2].clone(),
            founded: optional[3].clone(),
            status: optional[4].clone(),
        };
        let mut validator = validator();
        for line in 2..4 {
            match validator.check(line, &fields) {
                Ok(entry) => prop_assert!(!entry.name.is_empty()),
                Err(rejection) => prop_assert!(!rejection.reasons.is_empty()),
            }
        }
    }
}

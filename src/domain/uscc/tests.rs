use proptest::prelude::*;

use super::*;
use crate::domain::entity_kind::known_type_codes;

/// Valid codes "found online" in python-stdnum's
/// `tests/test_cn_uscc.doctest` (arthurdejong/python-stdnum, LGPL-2.1+ test
/// data, all 383 of them). Every one also passes the stricter rules here:
/// known type code, province prefix and the inner GB 11714 check.
const STDNUM_VALID: &str = "
    121200004013590816 91110000600037341L 91110000710926094P 91120224064012553U
    911522010783710635 91152201078371135X 911522010783762860 91152201078376307G
    91152201078377449P 9115220107837757XE 9115220107837941X1 91152201078382010M
    911522010783887624 911522010783897302 911522010783898533 91152201078389925U
    9115220107839138X8 911522010783917502 91152201078391769Y 91152201078394644D
    91152201078395081D 91152201078395188Q 91152201078397730B 91152201082151522J
    91310000631696382C 91310000797046224D 91310112087994932F 913101127033980359
    913101145852519045 913101153325803473 91310115MA1K3BTP2B 91310116052958608G
    91310116076409427L 913101203509708598 9131012056010553X5 91320214745555318W
    913205056082348768 913304007429141869 91340600MA2PBM9HXD 91340600MA2PBMA74B
    91340600MA2PBMBL5H 91340600MA2PBMDH5R 91340600MA2PBMQB9E 91340600MA2PBN188W
    91340600MA2PBN831R 91340600MA2PBNE723 91340600MA2PBNR24J 91340600MA2PBP2120
    91340600MA2PBP6A1W 91340600MA2PBP6D6F 91340600MA2PBPAG69 91340600MA2PENCC7K
    91340600MA2PENWF9P 91340600MA2PEP3Y54 91340600MA2PEP518T 91340600MA2PEP7F5B
    91340600MA2PEPM918 91340600MA2PERLJ2D 91340600MA2UJY987H 91340600MA2UJYG49B
    91340602MA2UJY0D0T 91340602MA2UJY3J9W 91340602MA2UJYD90G 91340603MA2UJXXCXF
    91340603MA2UJY1D7L 91340603MA2UJYBQ7Q 91340603MA2UJYN78Q 91340603MA2UJYNU67
    91340603MA2UJYUN35 91340604MA2PBQBH3P 91340604MA2PEL1X3M 91340621MA2PBNXR7P
    91340621MA2PBPDT1J 91340621MA2PBPLU08 91340621MA2PBPM015 91340621MA2PBPM36P
    91340621MA2PBPM608 91340621MA2PBPM870 91340621MA2PELDF2U 91340621MA2PEM704P
    91340621MA2PEMUHX8 91340621MA2PEMWN1C 91340621MA2PEN6Q3Y 91340621MA2PEN8W5L
    91340621MA2PEP2U6U 91340621MA2PEPJB9F 913505007821784439 91371082775260043P
    914112810713741814 91420684MA4927PJ7B 91440300568520498A 9144030071526726XG
    9144060573144633XL 91442000696462712R 91620100719023721L 91620105224521729E
    91620105325333735M 91620105551270533Y 91620105556273987U 9162010555628132X1
    91620105556284969Y 91620105556287545F 91620105566408785F 91620105571627966C
    91620105571630591E 9162010558590643X0 91620105585923360D 91620105660017457X
    91620105665404165K 91620105670820315R 9162010567592034XQ 91620105686055670F
    91620105686057422K 9162010569564942X9 91620105710219971E 91620105719099574H
    91620105720233128P 91620105750906995R 91620105750935948X 91620105756558274W
    91620105756580826D 91620105767707650L 91620105767728304H 91620105773422168Y
    91620105784023285J 91620105789620900B 91620105789634843P 91620105794891756D
    91620105L015101280 91620105MA71T4YW8Q 91620105MA73NBBLXE 92340602MA2PBMEM24
    92340602MA2PBMG99Q 92340602MA2PBMHF45 92340602MA2PBQAH7E 92340602MA2PEL3T3X
    92340602MA2PEL453X 92340602MA2PEL605A 92340602MA2PEL7F4C 92340602MA2PEL8AXA
    92340602MA2PEP745R 92340602MA2UK2TH6F 92340602MA2UK33127 92340603MA2PBMCG0U
    92340603MA2PBMD304 92340603MA2PBMJB45 92340603MA2PBMN509 92340603MA2PBMQL04
    92340603MA2PBMUF7M 92340603MA2PBMYMX1 92340603MA2PBMYN81 92340603MA2PBN161D
    92340603MA2PBN17X5 92340603MA2PBN2W0N 92340603MA2PBN508K 92340603MA2PBNDM9R
    92340603MA2PBNJA9T 92340603MA2PBNK461 92340603MA2PBNLR0R 92340603MA2PBPB95W
    92340603MA2PBQ16XJ 92340603MA2PBQ653D 92340603MA2PBQ7J4K 92340603MA2PBQ7X9E
    92340603MA2PBQA912 92340603MA2PBQBC2X 92340603MA2PBQFT7J 92340603MA2PBQGB6M
    92340603MA2PBQHB2Y 92340603MA2PBQHD9N 92340603MA2PBQUC3U 92340603MA2PBQX04X
    92340603MA2PBQY862 92340603MA2PEL322G 92340603MA2PEL613K 92340603MA2PELAF3Q
    92340603MA2PELBT4W 92340603MA2PELD18T 92340603MA2PELE65C 92340603MA2PELFF5B
    92340603MA2PELHL72 92340603MA2PELKB4T 92340603MA2PELQK6M 92340603MA2PELUD4A
    92340603MA2PEM480D 92340603MA2PEN731K 92340603MA2PEN8A5W 92340603MA2PEN9F2E
    92340603MA2PENAP06 92340603MA2PENCQ1M 92340603MA2PEP42XF 92340603MA2PEPBN6L
    92340603MA2PEPE82T 92340603MA2PEPM83M 92340603MA2UJXYJ3P 92340603MA2UJY0W68
    92340603MA2UJY2M7F 92340603MA2UJY9J74 92340603MA2UJYN358 92340603MA2UJYUM57
    92340603MA2UK0CN1M 92340603MA2UK0E06R 92340603MA2UK0KQ72 92340603MA2UK0ME1G
    92340603MA2UK0N546 92340603MA2UK0Q026 92340603MA2UK0QX24 92340603MA2UK0T79E
    92340603MA2UK1NC4L 92340603MA2UK1PX9B 92340603MA2UK1TD00 92340603MA2UK1UE56
    92340603MA2UK2002C 92340603MA2UK215XT 92340603MA2UK23F43 92340603MA2UK26D7B
    92340603MA2UK27Y5C 92340603MA2UK28G4G 92340603MA2UK2C171 92340603MA2UK2ECXU
    92340603MA2UK2P79U 92340603MA2UK2QAXJ 92340603MA2UK2QT5Q 92340603MA2UK2R393
    92340603MA2UK2TA90 92340603MA2UK2TK0D 92340603MA2UK2UE8N 92340603MA2UK2WX6M
    92340603MA2UK2XD94 92340603MA2UK2Y09C 92340603MA2UK2YX9A 92340603MA2UK31A3N
    92340603MA2UK32C6P 92340603MA2UK37U5G 92340603MA2UK3CP6U 92340603MA2UK3CW3P
    92340603MA2UK3D673 92340603MA2UK3DB8B 92340603MA2UK3DF0N 92340603MA2UK3DT5H
    92340604MA2PBME53K 92340604MA2PBMQK2P 92340604MA2PBMXF6C 92340604MA2PBN5675
    92340604MA2PBNDT64 92340604MA2PBNKM3P 92340604MA2PBNKR4Y 92340604MA2PBNP21L
    92340604MA2PBNQNXM 92340604MA2PBNR83C 92340604MA2PBNUL9N 92340604MA2PBNWH99
    92340604MA2PBNXH5J 92340604MA2PBP1U3Y 92340604MA2PBP7U1T 92340604MA2PBPHC8R
    92340604MA2PBPXJ71 92340604MA2PELFQ53 92340604MA2PEM4L7X 92340604MA2PEM5Q4E
    92340604MA2PEMEE34 92340604MA2PENA300 92340604MA2UJYCE59 92340604MA2UJYPN1K
    92340604MA2UK0015N 92340604MA2UK03G7D 92340604MA2UK04L4X 92340604MA2UK07529
    92340604MA2UK07M1N 92340604MA2UK08Y65 92340604MA2UK0GC73 92340604MA2UK1GD8E
    92340604MA2UK2B104 92340621MA2PBKRXXG 92340621MA2PBL318W 92340621MA2PBLW63G
    92340621MA2PBLWF76 92340621MA2PBLWK8D 92340621MA2PBLWT1Y 92340621MA2PBLX27E
    92340621MA2PBM6286 92340621MA2PBMA318 92340621MA2PBMKK45 92340621MA2PBMNMXM
    92340621MA2PBMPF5T 92340621MA2PBMQD5E 92340621MA2PBMUH3D 92340621MA2PBN0KXX
    92340621MA2PBN145R 92340621MA2PBN1962 92340621MA2PBN1H1T 92340621MA2PBN4YX0
    92340621MA2PBN559X 92340621MA2PBNFH07 92340621MA2PBNGC6A 92340621MA2PBNJ232
    92340621MA2PBNTY9Y 92340621MA2PBP431L 92340621MA2PBP4A9L 92340621MA2PBP4T4M
    92340621MA2PBQ2QXW 92340621MA2PELD34J 92340621MA2PELFR3H 92340621MA2UJRKE7N
    92340621MA2UJRL762 92340621MA2UJT9WXP 92340621MA2UJTCK0M 92340621MA2UJTM785
    92340621MA2UJTP42T 92340621MA2UJTQ22E 92340621MA2UJTT13U 92340621MA2UJTTF8R
    92340621MA2UJTY74U 92340621MA2UJUR13D 92340621MA2UJUUC21 92340621MA2UJUW4X2
    92340621MA2UJW3P2B 92340621MA2UJW4UXQ 92340621MA2UJW690P 92340621MA2UJW703D
    92340621MA2UJW8C8Y 92340621MA2UJW9L8W 92340621MA2UJWA961 92340621MA2UJWAE79
    92340621MA2UJWBN77 92340621MA2UJWCT2H 92340621MA2UJWE83D 92340621MA2UJWEE2G
    92340621MA2UJWFB49 92340621MA2UJWG6X7 92340621MA2UJWGB0J 92340621MA2UJWH58T
    92340621MA2UJWQ634 92340621MA2UJWTX37 92340621MA2UJWYPX8 92340621MA2UJX6C8T
    92340621MA2UJX968M 92340621MA2UJXB52D 92340621MA2UJXEU6H 92340621MA2UJXF159
    92340621MA2UJXGY1G 92340621MA2UJXLD1M 92340621MA2UJY477E 92340621MA2UJYE11E
    92340621MA2UJYG57G 92340621MA2UJYJPXJ 92340621MA2UJYLF0U 92340621MA2UJYP62R
    92340621MA2UK02XXW 92340621MA2UK08G9K 92340621MA2UK0DA11 92340621MA2UK0DJ5M
    92340621MA2UK0G256 92340621MA2UK0GD5H 92340621MA2UK0J08Q 92340621MA2UK0JH77
    92340621MA2UK0JX8N 92340621MA2UK0KR5Y 92340621MA2UK1229A 92340621MA2UK14Q89
    92340621MA2UK14T2Q 92340621MA2UK1JY92 92340621MA2UK1L38E 92340621MA2UK1MK35
    92340621MA2UK1MN8P 92340621MA2UK1PRX7 92340621MA2UK1W97Y 92340621MA2UK22G6N
    92340621MA2UK25H3F 92340621MA2UK2BU8B 92340621MA2UK2CD59 92340621MA2UK2EP62
    92340621MA2UK2GJXF 92340621MA2UK2Q24Y 92340621MA2UK2XE71 92340621MA2UK2XX21
    92340621MA2UK30C35 92340621MA2UK31K58 92340621MA2UK338XJ 92340621MA2UK33Y2M
    92340621MA2UK3C369 92340621MA2UK3CE6L 92340621MA2UK3PJXE
";

fn err(input: &str) -> UsccError {
    match Uscc::parse(input) {
        Ok(code) => panic!("{input:?} parsed as {code}"),
        Err(e) => e,
    }
}

#[test]
fn python_stdnum_valid_codes_parse() {
    let mut count = 0;
    for code in STDNUM_VALID.split_whitespace() {
        let parsed = Uscc::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(parsed.as_str(), code);
        count += 1;
    }
    assert_eq!(count, 383);
}

#[test]
fn python_stdnum_invalid_codes_fail_on_the_first_broken_rule() {
    assert_eq!(err("12345"), UsccError::Length { found: 5 });
    assert_eq!(
        err("9111000060003IOZSV"),
        UsccError::Charset {
            position: 14,
            found: 'I'
        }
    );
    // stdnum calls this a format error; A1 (军队事业单位) is a defined type
    // code, so here it is the final check that fails.
    assert_eq!(
        err("A1110000600037341L"),
        UsccError::Check {
            expected: uscc_check_char("A1110000600037341").unwrap(),
            found: 'L'
        }
    );
    assert_eq!(
        err("91110000600037341N"),
        UsccError::Check {
            expected: 'L',
            found: 'N'
        }
    );
}

/// GB 11714 organisation codes from ironrhino's
/// `OrganizationCodeValidatorTest.java`, plus the worked example
/// 59467239-9 that circulates with the standard's description.
#[test]
fn gb11714_check_char_vectors() {
    for code in [
        "183888881",
        "183974050",
        "183807033",
        "344701003",
        "352864865",
        "329420684",
        "329436141",
        "320714547",
        "M000100Y4",
        "MA2REGCG2",
        "MA152C47X",
        "MA2REG3M4",
        "MA6C8G954",
        "MA3MJ0PK9",
        "594672399",
    ] {
        assert_eq!(
            org_code_check_char(&code[..8]),
            code.chars().nth(8),
            "{code}"
        );
    }
    for code in ["123456789", "111111111", "AABBCCDDE"] {
        assert_ne!(
            org_code_check_char(&code[..8]),
            code.chars().nth(8),
            "{code}"
        );
    }
    // Remainder 0 maps to '0' (value 11), not to "11".
    assert_eq!(org_code_check_char("00000000"), Some('0'));
    // I, O, S, V, Z are legal in GB 11714 bodies (values 18, 24, 28, 31, 35).
    assert!(org_code_check_char("IOSVZ000").is_some());
    for bad in [
        "",
        "1234567",
        "123456789",
        "1234567a",
        "1234567-",
        "１２３４５６７８",
    ] {
        assert_eq!(org_code_check_char(bad), None, "{bad:?}");
    }
}

#[test]
fn uscc_check_char_rejects_malformed_input() {
    assert_eq!(uscc_check_char("91110000600037341"), Some('L'));
    for bad in [
        "",
        "9111000060003734",
        "911100006000373411",
        "9111000060003734I",
        "91110000600037341\u{e9}",
    ] {
        assert_eq!(uscc_check_char(bad), None, "{bad:?}");
    }
}

#[test]
fn empty_input_is_required_error() {
    for input in ["", "   ", " - ", "\u{3000}", "\t\n", "－－"] {
        assert_eq!(err(input), UsccError::Empty, "{input:?}");
    }
}

#[test]
fn length_counts_characters_not_bytes() {
    assert_eq!(err("9111000060003734L"), UsccError::Length { found: 17 });
    assert_eq!(err("91110000600037341LL"), UsccError::Length { found: 19 });
    assert_eq!(err("统一社会信用代码"), UsccError::Length { found: 8 });
}

#[test]
fn charset_reports_first_bad_position() {
    assert_eq!(
        err("9111I000600037341L"),
        UsccError::Charset {
            position: 5,
            found: 'I'
        }
    );
    // Lower-case letters are upper-cased before the charset rule.
    assert_eq!(
        err("9111o000600037341L"),
        UsccError::Charset {
            position: 5,
            found: 'O'
        }
    );
    // Charset comes before the type rule.
    assert_eq!(
        err("ZZ110000600037341L"),
        UsccError::Charset {
            position: 1,
            found: 'Z'
        }
    );
    assert_eq!(
        err("91110000600037341统"),
        UsccError::Charset {
            position: 18,
            found: '统'
        }
    );
    for c in ['S', 'V', '_', '.'] {
        let input = format!("91110000600037341{c}");
        assert_eq!(
            err(&input),
            UsccError::Charset {
                position: 18,
                found: c
            }
        );
    }
}

#[test]
fn type_code_must_be_defined() {
    assert_eq!(
        err("94110000600037341L"),
        UsccError::Type { code: "94".into() }
    );
    assert_eq!(
        err("A2110000600037341L"),
        UsccError::Type { code: "A2".into() }
    );
    // Type comes before division.
    assert_eq!(
        err("94990000600037341L"),
        UsccError::Type { code: "94".into() }
    );
}

#[test]
fn division_needs_digits_and_a_province_prefix() {
    assert_eq!(
        err("91990000600037341L"),
        UsccError::Division {
            code: "990000".into()
        }
    );
    assert_eq!(
        err("9111A000600037341L"),
        UsccError::Division {
            code: "11A000".into()
        }
    );
    assert_eq!(
        err("91160000600037341L"),
        UsccError::Division {
            code: "160000".into()
        }
    );
    // Division comes before the organisation-code check.
    assert_eq!(
        err("91990000600037340L"),
        UsccError::Division {
            code: "990000".into()
        }
    );
}

#[test]
fn national_level_division_is_accepted() {
    let code = Uscc::assemble("91", "100000", "60003734").unwrap();
    assert_eq!(code.division_code(), "100000");
    // But 10xxxx other than 100000 is not a province.
    assert_eq!(
        Uscc::assemble("91", "100001", "60003734"),
        Err(UsccError::Division {
            code: "100001".into()
        })
    );
}

#[test]
fn every_province_prefix_is_accepted() {
    for prefix in [
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
        "65", "71", "81", "82",
    ] {
        let division = format!("{prefix}0322");
        assert!(
            Uscc::assemble("91", &division, "60003734").is_ok(),
            "{prefix}"
        );
    }
    for prefix in [
        "00", "10", "16", "20", "24", "30", "38", "40", "47", "55", "60", "66", "70", "72", "80",
        "83", "99",
    ] {
        let division = format!("{prefix}0322");
        assert!(
            Uscc::assemble("91", &division, "60003734").is_err(),
            "{prefix}"
        );
    }
}

#[test]
fn organisation_code_check_is_verified() {
    assert_eq!(
        err("91110000600037342L"),
        UsccError::OrgCheck {
            expected: '1',
            found: '2'
        }
    );
    // Org check comes before the final check, even if both are wrong.
    let valid = Uscc::assemble("91", "220322", "MA152C47").unwrap();
    assert_eq!(valid.organization_code(), "MA152C47X");
    let broken = format!("{}3{}", &valid.as_str()[..16], &valid.as_str()[17..]);
    let e = err(&broken);
    assert_eq!(
        e,
        UsccError::OrgCheck {
            expected: 'X',
            found: '3'
        }
    );
    assert_eq!(e.to_string(), "组织机构代码校验位错误：应为“X”，实际为“3”");
}

#[test]
fn final_check_is_verified() {
    let e = err("91110000600037341M");
    assert_eq!(
        e,
        UsccError::Check {
            expected: 'L',
            found: 'M'
        }
    );
    assert_eq!(
        e.to_string(),
        "统一社会信用代码校验位错误：应为“L”，实际为“M”"
    );
}

#[test]
fn error_messages_and_codes() {
    let cases = [
        (UsccError::Empty, "uscc_required", "请填写统一社会信用代码"),
        (
            UsccError::Length { found: 17 },
            "uscc_length",
            "统一社会信用代码应为18位，实际为17位",
        ),
        (
            UsccError::Charset {
                position: 5,
                found: 'I',
            },
            "uscc_charset",
            "第5位字符“I”不是统一社会信用代码允许的字符",
        ),
        (
            UsccError::Type { code: "94".into() },
            "uscc_type",
            "登记管理部门和机构类别代码“94”不存在",
        ),
        (
            UsccError::Division {
                code: "990000".into(),
            },
            "uscc_division",
            "行政区划码“990000”无效",
        ),
        (
            UsccError::OrgCheck {
                expected: 'X',
                found: '3',
            },
            "uscc_org_check",
            "组织机构代码校验位错误：应为“X”，实际为“3”",
        ),
        (
            UsccError::Check {
                expected: 'N',
                found: 'M',
            },
            "uscc_check",
            "统一社会信用代码校验位错误：应为“N”，实际为“M”",
        ),
    ];
    for (error, code, message) in cases {
        assert_eq!(error.code(), code);
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn normalisation_accepts_common_typing() {
    for input in [
        "91110000600037341l",
        "91 110000 600037341L",
        "9111-0000-6000-3734-1L",
        "  91110000600037341L\n",
        "91110000\u{3000}600037341L",
        "\u{FF19}\u{FF11}\u{FF11}\u{FF11}0000600037341\u{FF2C}",
        "91110000－600037341ｌ",
    ] {
        let code = Uscc::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(code.as_str(), "91110000600037341L", "{input:?}");
    }
}

#[test]
fn accessors() {
    let code = Uscc::parse("91340600MA2PBM9HXD").unwrap();
    assert_eq!(code.type_code(), "91");
    assert_eq!(code.division_code(), "340600");
    assert_eq!(code.organization_code(), "MA2PBM9HX");
    assert_eq!(code.entity_kind(), EntityKind::Enterprise);
    assert_eq!(code.to_string(), "91340600MA2PBM9HXD");
    assert_eq!(AsRef::<str>::as_ref(&code), "91340600MA2PBM9HXD");
    assert_eq!("91340600MA2PBM9HXD".parse::<Uscc>(), Ok(code.clone()));
    assert_eq!(code.into_string(), "91340600MA2PBM9HXD");

    let individual = Uscc::parse("92340602MA2PBMEM24").unwrap();
    assert_eq!(individual.entity_kind(), EntityKind::IndividualBusiness);
    let institution = Uscc::parse("121200004013590816").unwrap();
    assert_eq!(institution.entity_kind(), EntityKind::PublicInstitution);
}

#[test]
fn serde_round_trip_goes_through_parse() {
    let code = Uscc::parse("91110000600037341L").unwrap();
    let json = serde_json::to_string(&code).unwrap();
    assert_eq!(json, "\"91110000600037341L\"");
    assert_eq!(serde_json::from_str::<Uscc>(&json).unwrap(), code);
    assert_eq!(
        serde_json::from_str::<Uscc>("\"91 110000 600037341l\"").unwrap(),
        code
    );
    let bad = serde_json::from_str::<Uscc>("\"91110000600037341N\"").unwrap_err();
    assert!(bad.to_string().contains("校验位"), "{bad}");
    assert!(serde_json::from_str::<Uscc>("42").is_err());
}

#[test]
fn assemble_matches_published_codes() {
    assert_eq!(
        Uscc::assemble("91", "110000", "60003734").unwrap().as_str(),
        "91110000600037341L"
    );
    assert_eq!(
        Uscc::assemble("92", "340621", "MA2UK3PJ").unwrap().as_str(),
        "92340621MA2UK3PJXE"
    );
    assert_eq!(
        Uscc::assemble("12", "120000", "40135908").unwrap().as_str(),
        "121200004013590816"
    );
    // Parts are normalised like user input.
    assert_eq!(
        Uscc::assemble("91", "110000", "6000-3734")
            .unwrap()
            .as_str(),
        "91110000600037341L"
    );
}

#[test]
fn assemble_reports_bad_parts() {
    assert_eq!(
        Uscc::assemble("9", "110000", "60003734"),
        Err(UsccError::Length { found: 17 })
    );
    assert_eq!(
        Uscc::assemble("91", "110000", "600037345"),
        Err(UsccError::Length { found: 19 })
    );
    assert_eq!(
        Uscc::assemble("94", "110000", "60003734"),
        Err(UsccError::Type { code: "94".into() })
    );
    assert_eq!(
        Uscc::assemble("91", "990000", "60003734"),
        Err(UsccError::Division {
            code: "990000".into()
        })
    );
    assert_eq!(
        Uscc::assemble("91", "110000", "6000373I"),
        Err(UsccError::Charset {
            position: 16,
            found: 'I'
        })
    );
    assert_eq!(
        Uscc::assemble("91", "110000", "6000373统"),
        Err(UsccError::Charset {
            position: 16,
            found: '统'
        })
    );
}

fn arb_type_code() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(known_type_codes().collect::<Vec<_>>())
}

fn arb_division() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(NATIONAL_DIVISION.to_owned()),
        (
            proptest::sample::select(vec![
                "11", "13", "15", "22", "23", "31", "37", "41", "46", "50", "54", "61", "65", "71",
                "81", "82"
            ]),
            0u32..10_000
        )
            .prop_map(|(prefix, rest)| format!("{prefix}{rest:04}")),
    ]
}

fn arb_alphabet_char() -> impl Strategy<Value = char> {
    proptest::sample::select(ALPHABET.iter().map(|&b| char::from(b)).collect::<Vec<_>>())
}

fn arb_body() -> impl Strategy<Value = String> {
    proptest::collection::vec(arb_alphabet_char(), 8).prop_map(|cs| cs.into_iter().collect())
}

fn arb_uscc() -> impl Strategy<Value = Uscc> {
    (arb_type_code(), arb_division(), arb_body()).prop_map(|(t, d, b)| {
        Uscc::assemble(t, &d, &b).unwrap_or_else(|e| panic!("{t} {d} {b}: {e}"))
    })
}

proptest! {
    #[test]
    fn assembled_codes_parse_back(
        (type_code, division, body) in (arb_type_code(), arb_division(), arb_body())
    ) {
        let code = Uscc::assemble(type_code, &division, &body)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(Uscc::parse(code.as_str()), Ok(code.clone()));
        prop_assert_eq!(code.type_code(), type_code);
        prop_assert_eq!(code.division_code(), division.as_str());
        prop_assert_eq!(&code.organization_code()[..8], body.as_str());
        prop_assert_eq!(code.as_str().len(), USCC_LEN);
    }

    #[test]
    fn any_single_substitution_is_rejected(
        code in arb_uscc(),
        position in 0usize..USCC_LEN,
        replacement in arb_alphabet_char(),
    ) {
        let mut chars: Vec<char> = code.as_str().chars().collect();
        prop_assume!(chars[position] != replacement);
        chars[position] = replacement;
        let mutated: String = chars.into_iter().collect();
        prop_assert!(Uscc::parse(&mutated).is_err(), "{} accepted", mutated);
    }

    #[test]
    fn parse_never_panics(input in any::<String>()) {
        let _ = Uscc::parse(&input);
    }

    #[test]
    fn parse_never_panics_on_near_codes(input in "[0-9A-Za-z \\-\u{3000}\u{FF10}-\u{FF5A}]{0,24}") {
        if let Ok(code) = Uscc::parse(&input) {
            prop_assert_eq!(Uscc::parse(code.as_str()), Ok(code.clone()));
        }
    }

    #[test]
    fn normalising_twice_is_normalising_once(input in any::<String>()) {
        let once = normalise(&input);
        prop_assert_eq!(normalise(&once), once);
    }

    #[test]
    fn spaced_and_lowercased_codes_still_parse(code in arb_uscc(), gap in 1usize..17) {
        let text = code.as_str().to_ascii_lowercase();
        let spaced = format!(" {} - {} ", &text[..gap], &text[gap..]);
        prop_assert_eq!(Uscc::parse(&spaced), Ok(code));
    }
}

//! Kinds of market entity, derived from characters 1–2 of a USCC.
//!
//! GB 32100-2015 (as amended by the registration authorities' later code
//! assignments) gives each registration authority one character and each of its
//! entity types a second one. The fine pair is kept for display
//! ([`type_label_zh`]); [`EntityKind`] groups the pairs into the coarse kinds the
//! platform reports on, and its [`EntityKind::as_str`] code is what the database
//! stores.

use serde::{Deserialize, Serialize};

/// Coarse kind of a market entity.
///
/// Serialised (JSON, database) as the stable snake_case code of
/// [`EntityKind::as_str`]; never renumber or rename those codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// 企业 (91).
    Enterprise,
    /// 个体工商户 (92).
    IndividualBusiness,
    /// 农民专业合作社 (93).
    FarmerCooperative,
    /// 机关 (11).
    GovernmentAgency,
    /// 事业单位 (12; A1 军队事业单位).
    PublicInstitution,
    /// 社会组织: 社会团体, 民办非企业单位, 基金会, 群众团体 (13, 51, 52, 53).
    SocialOrganisation,
    /// 法律服务机构: 律师事务所, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会 … (31–36, 39).
    LegalService,
    /// 宗教活动场所和宗教院校 (71, 72, 79).
    Religious,
    /// 工会 (81, 89).
    TradeUnion,
    /// 农村集体经济组织 (N1, N2, N3, N9).
    RuralCollective,
    /// Everything else with a known code: foreign representative offices,
    /// "other" types of each authority, Y1.
    Other,
}

/// Fine labels of every known authority+type pair, in code order.
///
/// One table drives both validation ([`EntityKind::from_type_code`]) and
/// display, so the two cannot disagree.
const TYPE_CODES: &[(&str, &str, EntityKind)] = &[
    ("11", "机关", EntityKind::GovernmentAgency),
    ("12", "事业单位", EntityKind::PublicInstitution),
    (
        "13",
        "中央编办直接管理机构编制的群众团体",
        EntityKind::SocialOrganisation,
    ),
    ("19", "机构编制部门登记的其他机构", EntityKind::Other),
    ("21", "外国常驻新闻机构", EntityKind::Other),
    ("29", "外交部门登记的其他机构", EntityKind::Other),
    ("31", "律师执业机构", EntityKind::LegalService),
    ("32", "公证处", EntityKind::LegalService),
    ("33", "基层法律服务所", EntityKind::LegalService),
    ("34", "司法鉴定机构", EntityKind::LegalService),
    ("35", "仲裁委员会", EntityKind::LegalService),
    // 36 is not in the published tables of GB 32100-2015 (31–35, 39); kept
    // because later assignments by the Ministry of Justice are in use.
    (
        "36",
        "司法行政部门登记的法律服务机构",
        EntityKind::LegalService,
    ),
    ("39", "司法行政部门登记的其他机构", EntityKind::LegalService),
    ("41", "外国在华文化中心", EntityKind::Other),
    ("49", "文化部门登记的其他机构", EntityKind::Other),
    ("51", "社会团体", EntityKind::SocialOrganisation),
    ("52", "民办非企业单位", EntityKind::SocialOrganisation),
    ("53", "基金会", EntityKind::SocialOrganisation),
    ("59", "民政部门登记的其他机构", EntityKind::Other),
    ("61", "外国旅游部门常驻代表机构", EntityKind::Other),
    (
        "62",
        "港澳台地区旅游部门常驻内地（大陆）代表机构",
        EntityKind::Other,
    ),
    ("69", "旅游部门登记的其他机构", EntityKind::Other),
    ("71", "宗教活动场所", EntityKind::Religious),
    ("72", "宗教院校", EntityKind::Religious),
    ("79", "宗教事务部门登记的其他机构", EntityKind::Religious),
    ("81", "基层工会", EntityKind::TradeUnion),
    ("89", "工会登记的其他机构", EntityKind::TradeUnion),
    ("91", "企业", EntityKind::Enterprise),
    ("92", "个体工商户", EntityKind::IndividualBusiness),
    ("93", "农民专业合作社", EntityKind::FarmerCooperative),
    ("A1", "军队事业单位", EntityKind::PublicInstitution),
    (
        "A9",
        "中央军委改革和编制办公室登记的其他机构",
        EntityKind::Other,
    ),
    ("N1", "组级集体经济组织", EntityKind::RuralCollective),
    ("N2", "村级集体经济组织", EntityKind::RuralCollective),
    ("N3", "乡镇级集体经济组织", EntityKind::RuralCollective),
    ("N9", "农业部门登记的其他机构", EntityKind::RuralCollective),
    ("Y1", "其他", EntityKind::Other),
];

fn lookup(type_code: &str) -> Option<&'static (&'static str, &'static str, EntityKind)> {
    TYPE_CODES.iter().find(|(code, _, _)| *code == type_code)
}

/// Fine Chinese label of a 2-character authority+type code (`"92"` → `个体工商户`),
/// or `None` when GB 32100-2015 does not define the pair. Expects upper case.
#[must_use]
pub fn type_label_zh(type_code: &str) -> Option<&'static str> {
    lookup(type_code).map(|(_, label, _)| *label)
}

/// Every defined 2-character authority+type code, in code order (for demo
/// data generators and pickers).
pub fn known_type_codes() -> impl Iterator<Item = &'static str> {
    TYPE_CODES.iter().map(|(code, _, _)| *code)
}

/// Whether a 2-character authority+type code is defined (upper case expected).
#[must_use]
pub fn is_known_type_code(type_code: &str) -> bool {
    lookup(type_code).is_some()
}

impl EntityKind {
    /// Every kind, in display order.
    pub const ALL: [EntityKind; 11] = [
        EntityKind::Enterprise,
        EntityKind::IndividualBusiness,
        EntityKind::FarmerCooperative,
        EntityKind::GovernmentAgency,
        EntityKind::PublicInstitution,
        EntityKind::SocialOrganisation,
        EntityKind::LegalService,
        EntityKind::Religious,
        EntityKind::TradeUnion,
        EntityKind::RuralCollective,
        EntityKind::Other,
    ];

    /// Kind for a 2-character authority+type code (USCC chars 1–2, upper case),
    /// or `None` when the pair is not defined.
    #[must_use]
    pub fn from_type_code(type_code: &str) -> Option<EntityKind> {
        lookup(type_code).map(|(_, _, kind)| *kind)
    }

    /// Stable lowercase code stored in the database and sent over the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EntityKind::Enterprise => "enterprise",
            EntityKind::IndividualBusiness => "individual_business",
            EntityKind::FarmerCooperative => "farmer_cooperative",
            EntityKind::GovernmentAgency => "government_agency",
            EntityKind::PublicInstitution => "public_institution",
            EntityKind::SocialOrganisation => "social_organisation",
            EntityKind::LegalService => "legal_service",
            EntityKind::Religious => "religious",
            EntityKind::TradeUnion => "trade_union",
            EntityKind::RuralCollective => "rural_collective",
            EntityKind::Other => "other",
        }
    }

    /// Inverse of [`EntityKind::as_str`]; exact match only.
    #[must_use]
    pub fn parse_code(code: &str) -> Option<EntityKind> {
        EntityKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == code)
    }

    /// Short Chinese label for pages and exports.
    #[must_use]
    pub const fn label_zh(self) -> &'static str {
        match self {
            EntityKind::Enterprise => "企业",
            EntityKind::IndividualBusiness => "个体工商户",
            EntityKind::FarmerCooperative => "农民专业合作社",
            EntityKind::GovernmentAgency => "机关",
            EntityKind::PublicInstitution => "事业单位",
            EntityKind::SocialOrganisation => "社会组织",
            EntityKind::LegalService => "法律服务机构",
            EntityKind::Religious => "宗教活动场所和院校",
            EntityKind::TradeUnion => "工会",
            EntityKind::RuralCollective => "农村集体经济组织",
            EntityKind::Other => "其他",
        }
    }
}

impl std::fmt::Display for EntityKind {
    /// Shows the Chinese label; use [`EntityKind::as_str`] for the stored code.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label_zh())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_codes_map_to_their_kinds() {
        assert_eq!(
            EntityKind::from_type_code("91"),
            Some(EntityKind::Enterprise)
        );
        assert_eq!(
            EntityKind::from_type_code("92"),
            Some(EntityKind::IndividualBusiness)
        );
        assert_eq!(
            EntityKind::from_type_code("93"),
            Some(EntityKind::FarmerCooperative)
        );
        assert_eq!(
            EntityKind::from_type_code("12"),
            Some(EntityKind::PublicInstitution)
        );
        assert_eq!(
            EntityKind::from_type_code("N2"),
            Some(EntityKind::RuralCollective)
        );
        assert_eq!(EntityKind::from_type_code("Y1"), Some(EntityKind::Other));
    }

    #[test]
    fn undefined_codes_are_rejected() {
        for code in [
            "", "9", "94", "99", "9Z", "14", "A2", "Y2", "N4", "n1", "911", "01",
        ] {
            assert_eq!(EntityKind::from_type_code(code), None, "{code}");
            assert_eq!(type_label_zh(code), None, "{code}");
            assert!(!is_known_type_code(code), "{code}");
        }
    }

    #[test]
    fn fine_labels() {
        assert_eq!(type_label_zh("92"), Some("个体工商户"));
        assert_eq!(type_label_zh("52"), Some("民办非企业单位"));
        assert_eq!(type_label_zh("71"), Some("宗教活动场所"));
    }

    #[test]
    fn table_has_unique_two_char_codes() {
        for (i, (code, label, _)) in TYPE_CODES.iter().enumerate() {
            assert_eq!(code.len(), 2, "{code}");
            assert!(!label.is_empty());
            assert!(
                TYPE_CODES[i + 1..]
                    .iter()
                    .all(|(other, _, _)| other != code),
                "duplicate {code}"
            );
        }
    }

    #[test]
    fn every_kind_is_reachable_from_some_code() {
        for kind in EntityKind::ALL {
            assert!(
                TYPE_CODES.iter().any(|(_, _, k)| *k == kind),
                "{kind:?} has no code"
            );
        }
    }

    #[test]
    fn code_round_trips_and_matches_serde() -> Result<(), serde_json::Error> {
        for kind in EntityKind::ALL {
            assert_eq!(EntityKind::parse_code(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind)?;
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<EntityKind>(&json)?, kind);
            assert!(!kind.label_zh().is_empty());
            assert_eq!(kind.to_string(), kind.label_zh());
        }
        assert_eq!(EntityKind::parse_code("Enterprise"), None);
        assert_eq!(EntityKind::parse_code(""), None);
        Ok(())
    }
}

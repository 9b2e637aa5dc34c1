//! Registration status (登记状态) of a market entity, as registries and spreadsheets write it.

use std::fmt;

use serde::{Deserialize, Serialize};

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
        // Nearly every row spells a status exactly; only the rest pay for normalising.
        let label = label.trim();
        if let Some(status) = EntityStatus::ALL
            .into_iter()
            .find(|s| s.aliases().contains(&label))
        {
            return Some(status);
        }
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

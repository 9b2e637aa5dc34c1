//! The set-based apply of assignment rules as SQL conditions: each rule takes the entities it
//! matches and no earlier rule matches (order and matching in [`crate::domain::assignment_rule`]).

use crate::domain::assignment_rule::{MatchKind, Rule};

/// SQL for the set-based apply: rule `index` of the SORTED `rules` takes exactly the entities it
/// matches and no earlier rule matches. Returns a condition on `entities` columns whose values
/// are bound as `$first_param…` in the order of the returned vector, or `None` when an earlier
/// catch-all leaves nothing for this rule.
#[must_use]
pub fn winning_condition(
    rules: &[Rule],
    index: usize,
    first_param: usize,
) -> Option<(String, Vec<String>)> {
    let rule = rules.get(index)?;
    let mut params = Vec::new();
    let mut parts = Vec::new();
    if let (Some(column), Some(value)) = (rule.kind.column(), rule.value.as_deref()) {
        parts.push(format!(
            "{column} = {}",
            placeholder(value, &mut params, first_param)
        ));
    }
    let earlier = &rules[..index];
    if earlier.iter().any(|r| r.kind == MatchKind::Any) {
        return None;
    }
    for (column, list) in value_lists(earlier, &mut params, first_param) {
        // NULL-safe: an entity without a township is not excluded by township rules.
        parts.push(format!("({column} IS NULL OR {column} NOT IN ({list}))"));
    }
    if parts.is_empty() {
        parts.push("1 = 1".to_owned());
    }
    Some((parts.join(" AND "), params))
}

/// Pushes `value` onto `params` and returns its placeholder (`$first_param` for the first).
fn placeholder(value: &str, params: &mut Vec<String>, first_param: usize) -> String {
    params.push(value.to_owned());
    format!("${}", first_param + params.len() - 1)
}

/// For each column the `rules` match on (township, industry, kind, in that order): the column
/// and the comma-separated placeholders of its values, which are pushed onto `params`.
fn value_lists(
    rules: &[Rule],
    params: &mut Vec<String>,
    first_param: usize,
) -> Vec<(&'static str, String)> {
    let mut lists = Vec::new();
    for kind in [MatchKind::Township, MatchKind::Industry, MatchKind::Kind] {
        let Some(column) = kind.column() else {
            continue;
        };
        let list: Vec<String> = rules
            .iter()
            .filter(|r| r.kind == kind)
            .filter_map(|r| r.value.as_deref())
            .map(|v| placeholder(v, params, first_param))
            .collect();
        if !list.is_empty() {
            lists.push((column, list.join(", ")));
        }
    }
    lists
}

/// A condition true for entities that ANY of `rules` matches (for clearing stale rule
/// assignments), bound as `$first_param…`.
#[must_use]
pub fn any_rule_condition(rules: &[Rule], first_param: usize) -> (String, Vec<String>) {
    if rules.iter().any(|r| r.kind == MatchKind::Any) {
        return ("1 = 1".to_owned(), Vec::new());
    }
    let mut params = Vec::new();
    let parts: Vec<String> = value_lists(rules, &mut params, first_param)
        .into_iter()
        // COALESCE: `NULL IN (…)` is NULL, and NOT NULL would hide an unmatched entity.
        .map(|(column, list)| format!("COALESCE({column} IN ({list}), FALSE)"))
        .collect();
    if parts.is_empty() {
        return ("1 = 0".to_owned(), params);
    }
    (format!("({})", parts.join(" OR ")), params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assignment_rule::tests::rule;

    #[test]
    fn the_sql_condition_excludes_what_earlier_rules_took() {
        let rules = vec![
            rule(1, 0, MatchKind::Township, Some("220322100"), 1),
            rule(2, 0, MatchKind::Township, Some("220322101"), 1),
            rule(3, 1, MatchKind::Kind, Some("enterprise"), 2),
            rule(4, 2, MatchKind::Any, None, 3),
            rule(5, 3, MatchKind::Industry, Some("A"), 4),
        ];
        let (sql, params) = winning_condition(&rules, 0, 3).unwrap();
        assert_eq!(sql, "township_code = $3");
        assert_eq!(params, ["220322100"]);
        let (sql, params) = winning_condition(&rules, 2, 3).unwrap();
        assert_eq!(
            sql,
            "kind = $3 AND (township_code IS NULL OR township_code NOT IN ($4, $5))"
        );
        assert_eq!(params, ["enterprise", "220322100", "220322101"]);
        let (sql, params) = winning_condition(&rules, 3, 3).unwrap();
        assert_eq!(
            sql,
            "(township_code IS NULL OR township_code NOT IN ($3, $4)) AND (kind IS NULL OR kind NOT IN ($5))"
        );
        assert_eq!(params.len(), 3);
        assert!(
            winning_condition(&rules, 4, 3).is_none(),
            "after a catch-all"
        );
        let (sql, params) = any_rule_condition(&rules[..3], 2);
        assert_eq!(
            sql,
            "(COALESCE(township_code IN ($2, $3), FALSE) OR COALESCE(kind IN ($4), FALSE))"
        );
        assert_eq!(params.len(), 3);
        assert_eq!(any_rule_condition(&rules, 2).0, "1 = 1");
        assert_eq!(any_rule_condition(&[], 2).0, "1 = 0");
    }
}

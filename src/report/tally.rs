//! Read-model rows summed up: per department, over a jurisdiction, and the counties a
//! jurisdiction covers.

use std::collections::BTreeMap;

use crate::domain::division::{DivisionTree, Level};
use crate::store::league::CountRow;
use crate::store::progress::{Stage, StageCounts};

/// The county codes a jurisdiction covers: itself for a county, its counties for a city (or
/// province).
pub fn counties_of(tree: &DivisionTree, jurisdiction: &str) -> Vec<String> {
    match tree.get(jurisdiction).map(|d| d.level) {
        Some(Level::County) => vec![jurisdiction.to_owned()],
        Some(Level::Township) | None => Vec::new(),
        Some(Level::City | Level::Province) => tree
            .children(jurisdiction)
            .flat_map(|child| counties_of(tree, &child.code))
            .collect(),
    }
}

/// Entities onboarded (accepted by the province) out of those counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub onboarded: i64,
    pub assigned: i64,
}

impl Tally {
    fn add(&mut self, row: &CountRow) {
        let mut stages = StageCounts::default();
        if let Some(stage) = Stage::parse(&row.stage) {
            stages.add(stage, row.n);
        }
        self.onboarded += stages.onboarded();
        self.assigned += row.n;
    }

    /// The onboarding rate in percent; 0 when nothing is counted.
    pub fn rate(&self) -> f64 {
        if self.assigned <= 0 {
            0.0
        } else {
            self.onboarded as f64 * 100.0 / self.assigned as f64
        }
    }
}

/// Read-model rows summed per responsible department (rows without one left out).
pub fn by_department(rows: &[CountRow]) -> BTreeMap<i64, Tally> {
    let mut out: BTreeMap<i64, Tally> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.department_id != 0) {
        out.entry(row.department_id).or_default().add(row);
    }
    out
}

/// Read-model rows summed over the whole jurisdiction.
pub fn total(rows: &[CountRow]) -> Tally {
    let mut t = Tally::default();
    for row in rows {
        t.add(row);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_city_covers_its_counties() {
        let tree = DivisionTree::seed();
        assert_eq!(counties_of(&tree, "220322"), vec!["220322".to_owned()]);
        let city = counties_of(&tree, "220300");
        assert!(city.len() >= 4 && city.contains(&"220322".to_owned()));
    }
}

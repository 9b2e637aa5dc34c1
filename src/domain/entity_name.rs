//! Names as SAMR registers them: entity names and people's names normalised before comparing.

/// Trims, collapses inner whitespace to one space, and writes parentheses full-width as SAMR
/// registers them, so a name typed with `(` matches the registered `（`.
#[must_use]
pub fn normalize_entity_name(raw: &str) -> String {
    collapse_whitespace(raw, |c| match c {
        '(' => '（',
        ')' => '）',
        _ => c,
    })
}

/// Trims and collapses inner whitespace of a person's name.
#[must_use]
pub fn normalize_person_name(raw: &str) -> String {
    collapse_whitespace(raw, |c| c)
}

fn collapse_whitespace(raw: &str, map: impl Fn(char) -> char) -> String {
    // Most names need nothing: copy them whole instead of rebuilding them char by char.
    let trimmed = raw.trim();
    if !trimmed.contains(|c: char| c.is_whitespace() || map(c) != c) {
        return trimmed.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    for word in raw.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().map(&map));
    }
    out
}

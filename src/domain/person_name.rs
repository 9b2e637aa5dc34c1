//! Personal names on public pages: only the surname's first character is shown.

/// `张三` → `张*`, `欧阳娜娜` → `欧***`; whitespace is dropped first.
pub fn mask(name: &str) -> String {
    let mut chars = name.chars().filter(|c| !c.is_whitespace());
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn keeps_only_the_first_character() {
        assert_eq!(mask("张三"), "张*");
        assert_eq!(mask("欧阳娜娜"), "欧***");
        assert_eq!(mask("阿依古丽·买买提"), "阿*******");
        assert_eq!(mask(" 李 四 "), "李*");
        assert_eq!(mask(""), "");
    }
}

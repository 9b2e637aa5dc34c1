//! Arbitrary text into `EmailAddress::parse`: it must not panic, whatever it
//! accepts must re-parse to itself, and the mask must reveal nothing of the
//! local part beyond its first character.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xinyidai::domain::email::{EMAIL_MAX_LEN, EmailAddress};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let Ok(email) = EmailAddress::parse(&input) else {
        return;
    };
    let full = email.as_str();
    assert!(full.len() <= EMAIL_MAX_LEN);
    assert_eq!(
        EmailAddress::parse(full).as_ref(),
        Ok(&email),
        "re-parse changed the address"
    );
    let Some((local, domain)) = full.rsplit_once('@') else {
        panic!("accepted address without @");
    };
    assert_eq!(email.domain(), domain);
    let Some(first) = local.chars().next() else {
        panic!("accepted empty local part");
    };
    let masked = email.masked();
    assert_eq!(masked, format!("{first}***@{domain}"));
    // An address whose hidden part is only asterisks (`l***@example.com`,
    // `*@example.com`) may appear inside its own mask, but nothing is revealed.
    let hidden = &local[first.len_utf8()..];
    if hidden.chars().any(|c| c != '*') {
        assert!(!masked.contains(full));
        assert!(!format!("{email:?}").contains(full));
    }
});

//! Arbitrary text into `EmailAddress::parse`: it must not panic, whatever it
//! accepts must re-parse to itself, and the mask must not reveal the address.
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
    let masked = email.masked();
    assert!(!masked.contains(full));
    assert!(!format!("{email:?}").contains(full));
    assert!(masked.ends_with(email.domain()));
});

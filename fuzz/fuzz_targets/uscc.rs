//! Arbitrary text into `Uscc::parse`: it must not panic, and whatever it
//! accepts must be canonical and stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xinyidai::domain::uscc::{USCC_LEN, Uscc};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let Ok(code) = Uscc::parse(&input) else {
        return;
    };
    let canonical = code.as_str();
    assert_eq!(canonical.len(), USCC_LEN);
    assert!(
        canonical
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    );
    assert_eq!(
        Uscc::parse(canonical).as_ref(),
        Ok(&code),
        "re-parse changed the code"
    );
    assert_eq!(canonical.parse::<Uscc>().as_ref(), Ok(&code));
    // The parts slice the canonical form without overlap or gaps.
    let joined = format!(
        "{}{}{}",
        code.type_code(),
        code.division_code(),
        code.organization_code()
    );
    assert_eq!(joined, canonical[..17]);
});

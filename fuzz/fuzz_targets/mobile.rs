//! Arbitrary text into `MobileNumber::parse`: it must not panic, whatever it
//! accepts must re-parse to itself, and the mask must hide the middle digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xinyidai::domain::mobile::MobileNumber;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let Ok(number) = MobileNumber::parse(&input) else {
        return;
    };
    let full = number.as_str();
    assert_eq!(full.len(), 11);
    assert_eq!(
        MobileNumber::parse(full).as_ref(),
        Ok(&number),
        "re-parse changed the number"
    );
    let masked = number.masked();
    assert!(!masked.contains(full));
    assert!(!masked.contains(&full[3..7]));
    assert!(!format!("{number:?}").contains(full));
});

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
    assert!(full.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(
        MobileNumber::parse(full).as_ref(),
        Ok(&number),
        "re-parse changed the number"
    );
    // The mask is built from the first 3 and last 4 digits only. (Checking that
    // the middle digits do not occur in it would be wrong: 138 8600 8600.)
    let masked = number.masked();
    assert_eq!(masked, format!("{}****{}", &full[..3], &full[7..]));
    assert!(!masked.contains(full));
    assert!(!format!("{number:?}").contains(full));
});

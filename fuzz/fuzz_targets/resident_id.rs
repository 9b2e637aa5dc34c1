//! Arbitrary text into `ResidentId::parse_on`: it must not panic, whatever it
//! accepts must re-parse to itself, and the masked and `Debug` forms must
//! never reveal the full number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use time::macros::date;
use xinyidai::domain::resident_id::{RESIDENT_ID_LEN, ResidentId};

fuzz_target!(|data: &[u8]| {
    // A fixed "today" keeps runs reproducible.
    let today = date!(2025 - 06 - 15);
    let input = String::from_utf8_lossy(data);
    let Ok(id) = ResidentId::parse_on(&input, today) else {
        return;
    };
    let full = id.as_str();
    assert_eq!(full.len(), RESIDENT_ID_LEN);
    assert_eq!(
        ResidentId::parse_on(full, today).as_ref(),
        Ok(&id),
        "re-parse changed the number"
    );
    let masked = id.masked();
    assert_eq!(masked, format!("{}**********{}", &full[..4], &full[14..]));
    assert!(!format!("{id:?}").contains(&full[4..14]));
    assert!(id.birth_date() <= today);
    let _ = id.age_on(today);
    let _ = id.is_female();
});

//! Quoting what a user typed inside a Chinese error message.

use std::borrow::Cow;

/// Quoted input longer than this is cut in messages, so one bad cell cannot flood a reason.
pub const MAX_QUOTED_CHARS: usize = 40;

/// User text for a message, cut to a readable length.
pub fn quoted(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

//! The test SMTP server's mailbox: `scripts/test` runs aiosmtpd on loopback, storing every
//! message it receives in the Maildir named by `XYD_TEST_MAILDIR`. Tests send to unique
//! addresses ([`unique_address`]) and wait for their own message, so they run in parallel.
//!
//! Decoding is written out here (RFC 2047 words, quoted-printable, base64, MIME multipart) so
//! the tests check the wire format with no mail-parsing dependency and no trust in lettre.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;

const DEADLINE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// A recipient no other test uses.
pub fn unique_address() -> String {
    format!("owner-{:016x}@example.test", rand::random::<u64>())
}

/// The `smtp://` URL of the test server.
pub fn smtp_url() -> String {
    required_env("XYD_TEST_SMTP_URL")
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the mail tests need the real SMTP server that scripts/test \
             starts (aiosmtpd on loopback). Run scripts/test, or start it as scripts/test does \
             and export XYD_TEST_SMTP_URL and XYD_TEST_MAILDIR."
        )
    })
}

pub struct Mailbox {
    dir: PathBuf,
}

impl Mailbox {
    pub fn from_env() -> Mailbox {
        Mailbox {
            dir: PathBuf::from(required_env("XYD_TEST_MAILDIR")),
        }
    }

    /// The first message addressed to `to`; panics after 10 s.
    pub async fn wait_for(&self, to: &str) -> ReceivedMail {
        self.wait_for_nth(to, 1).await
    }

    /// The `n`-th message (from 1, in order of arrival) addressed to `to`; panics after 10 s.
    pub async fn wait_for_nth(&self, to: &str, n: usize) -> ReceivedMail {
        assert!(n >= 1, "messages are counted from 1");
        let started = Instant::now();
        loop {
            let mut found = self.addressed_to(to);
            if found.len() >= n {
                return found.swap_remove(n - 1);
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{} message(s) for {to} in {} after {DEADLINE:?}; expected at least {n}",
                found.len(),
                self.dir.display()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Every message for `to`, oldest first.
    fn addressed_to(&self, to: &str) -> Vec<ReceivedMail> {
        // The server writes into tmp/ and renames into new/, so whatever is listed is complete.
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .flat_map(|sub| files_in(&self.dir.join(sub)))
            .collect();
        files.sort_by_key(|path| arrival(path));
        let needle = to.to_ascii_lowercase();
        files
            .iter()
            .filter_map(|path| std::fs::read(path).ok())
            // Only our own messages get parsed: cheap, and immune to other tests' mail.
            .filter(|raw| {
                String::from_utf8_lossy(raw)
                    .to_ascii_lowercase()
                    .contains(&needle)
            })
            .map(|raw| ReceivedMail::parse(&raw))
            .filter(|mail| mail.to.eq_ignore_ascii_case(to))
            .collect()
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// Python's Maildir names files `SECONDS.M<micros>P<pid>Q<counter>.host`: the numbers, not the
/// name's text, give the order of arrival (micros are not zero-padded).
fn arrival(path: &Path) -> (u64, u64, u64) {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let number = |after: char| -> u64 {
        name.split_once(after)
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let seconds = name
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    (seconds, number('M'), number('Q'))
}

/// A message as a mail client would show it.
#[derive(Debug)]
pub struct ReceivedMail {
    /// The bare address in `To`.
    pub to: String,
    /// The decoded `From` header, display name included.
    pub from: String,
    pub subject: String,
    /// The `text/plain` body, decoded, with `\n` line ends.
    pub text: String,
    /// The `text/html` alternative, if any, decoded.
    pub html: Option<String>,
    /// Every `http(s)://` URL in `text`, in order.
    pub links: Vec<String>,
}

impl ReceivedMail {
    /// Parses a whole message (an `.eml` file or a Maildir entry).
    pub fn parse(raw: &[u8]) -> ReceivedMail {
        let raw = String::from_utf8(raw.to_vec()).expect("message is not UTF-8");
        let part = Part::parse(&raw);
        let to = part.header("To").unwrap_or_default();
        let to = to
            .rsplit_once('<')
            .map_or(to.as_str(), |(_, addr)| addr.trim_end_matches('>'))
            .trim()
            .to_owned();
        let mut text = None;
        let mut html = None;
        part.collect_bodies(&mut text, &mut html);
        let text = text.expect("message has no text/plain part");
        ReceivedMail {
            to,
            from: decode_words(&part.header("From").unwrap_or_default()),
            subject: decode_words(&part.header("Subject").expect("no Subject")),
            links: links(&text),
            text,
            html,
        }
    }
}

/// One MIME entity: unfolded headers and the raw (still encoded) body.
struct Part {
    headers: Vec<(String, String)>,
    body: String,
}

impl Part {
    fn parse(raw: &str) -> Part {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                // A folded continuation: RFC 5322 unfolding just removes the line break.
                if let Some((_, value)) = headers.last_mut() {
                    value.push_str(line);
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        Part {
            headers,
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// `(type/subtype lowercased, boundary)`.
    fn content_type(&self) -> (String, Option<String>) {
        let value = self
            .header("Content-Type")
            .unwrap_or_else(|| "text/plain".to_owned());
        let mut params = value.split(';');
        let mime = params
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let boundary = params.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| v.trim().trim_matches('"').to_owned())
        });
        (mime, boundary)
    }

    fn collect_bodies(&self, text: &mut Option<String>, html: &mut Option<String>) {
        match self.content_type() {
            (mime, Some(boundary)) if mime.starts_with("multipart/") => {
                for part in split_multipart(&self.body, &boundary) {
                    Part::parse(part).collect_bodies(text, html);
                }
            }
            (mime, _) if mime == "text/plain" && text.is_none() => *text = Some(self.decoded()),
            (mime, _) if mime == "text/html" && html.is_none() => *html = Some(self.decoded()),
            _ => {}
        }
    }

    fn decoded(&self) -> String {
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_else(|| "7bit".to_owned())
            .to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "base64" => {
                let compact: String = self.body.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("bad base64 body")
            }
            "quoted-printable" => decode_quoted_printable(&self.body),
            "7bit" | "8bit" | "binary" => self.body.clone().into_bytes(),
            other => panic!("unexpected Content-Transfer-Encoding {other}"),
        };
        String::from_utf8(bytes)
            .expect("body is not UTF-8")
            .replace("\r\n", "\n")
    }
}

fn split_multipart<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    body.split(delimiter.as_str())
        .skip(1) // the preamble
        .take_while(|part| !part.starts_with("--")) // the closing delimiter
        .map(|part| {
            // Drop the rest of the delimiter line and the line break before the next one.
            let part = part.split_once('\n').map_or("", |(_, rest)| rest);
            part.strip_suffix('\n').unwrap_or(part)
        })
        .collect()
}

/// RFC 2045 §6.7: `=XX` escapes and `=` soft line breaks (line ends already `\n`).
fn decode_quoted_printable(body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => {
                let hex = body.get(i + 1..i + 3).expect("truncated =XX escape");
                out.push(u8::from_str_radix(hex, 16).expect("bad =XX escape"));
                i += 3;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// RFC 2047: decodes `=?charset?B|Q?…?=` words; whitespace between two encoded words is
/// dropped, anything else is kept. Only UTF-8 is expected.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut after_word = false;
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        match decode_word(candidate) {
            Some((decoded, len)) => {
                // Whitespace only between two encoded words is folding, not text.
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&decoded);
                after_word = true;
                rest = &candidate[len..];
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                after_word = false;
                rest = &candidate[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes one encoded word at the start of `s`; returns it and its length in `s`.
fn decode_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let (payload, _) = inner.split_once("?=")?;
    assert!(
        charset.eq_ignore_ascii_case("utf-8"),
        "unexpected charset {charset}"
    );
    let bytes = match encoding {
        "B" | "b" => base64::engine::general_purpose::STANDARD
            .decode(payload)
            .ok()?,
        "Q" | "q" => decode_quoted_printable(&payload.replace('_', " ")),
        _ => return None,
    };
    let len = 2 + charset.len() + 1 + encoding.len() + 1 + payload.len() + 2;
    Some((String::from_utf8(bytes).ok()?, len))
}

/// `http(s)://` URLs, ended by whitespace, a non-ASCII character (Chinese punctuation) or
/// `<>"'`; trailing sentence punctuation is not part of the URL.
pub fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = ["https://", "http://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !c.is_ascii_graphic() || matches!(c, '<' | '>' | '"' | '\''))
            .unwrap_or(tail.len());
        found.push(
            tail[..end]
                .trim_end_matches(['.', ',', ';', ':', ')'])
                .to_owned(),
        );
        rest = &tail[end..];
    }
    found
}

#[test]
fn maildir_names_sort_by_arrival() {
    let mut names = [
        "1700000001.M5P10Q3.host",
        "1700000000.M999999P10Q2.host",
        "1700000000.M100P10Q1.host",
    ]
    .map(PathBuf::from);
    names.sort_by_key(|p| arrival(p));
    assert_eq!(
        names.map(|p| p.display().to_string()),
        [
            "1700000000.M100P10Q1.host",
            "1700000000.M999999P10Q2.host",
            "1700000001.M5P10Q3.host"
        ]
    );
}

#[test]
fn decodes_encoded_words_and_keeps_plain_text() {
    assert_eq!(decode_words("plain"), "plain");
    assert_eq!(
        decode_words("=?utf-8?b?5L+h5piT?= =?utf-8?b?6LS3?="),
        "信易贷"
    );
    assert_eq!(decode_words("=?UTF-8?Q?a_b=E4=BF=A1?= x"), "a b信 x");
    assert_eq!(
        decode_words("=?utf-8?b?5L+h5piT6LS35bmz5Y+w?= <noreply@x.test>"),
        "信易贷平台 <noreply@x.test>"
    );
}

#[test]
fn decodes_quoted_printable_soft_breaks() {
    assert_eq!(
        decode_quoted_printable("https://x.test/a?t=3D1=\n23\n=E4=BF=A1"),
        "https://x.test/a?t=123\n信".as_bytes()
    );
}

#[test]
fn finds_links_in_chinese_text() {
    assert_eq!(
        links("请打开 https://x.test/c?t=1&u=2。或http://y.test/p，谢谢\nhttps://z.test/."),
        [
            "https://x.test/c?t=1&u=2",
            "http://y.test/p",
            "https://z.test/"
        ]
    );
}

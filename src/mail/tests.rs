use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::*;
use crate::config::Secret;

const TO: &str = "owner@example.org";

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        TempDir(std::env::temp_dir().join(format!("xyd-mail-{:016x}", rand::random::<u64>())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn settings(smtp_url: Option<&str>, dir: &Path) -> MailSettings {
    MailSettings {
        smtp_url: smtp_url.map(Secret::new),
        from: "信易贷平台 <noreply@xinyidai.localhost>".to_owned(),
        dir: dir.to_owned(),
    }
}

fn sample() -> Outgoing {
    messages::confirm_email(
        TO,
        "梨树县某某农机专业合作社",
        "https://xyd.example.org/email/confirm?token=abc",
        "2026年3月5日 14:30（北京时间）",
    )
    .unwrap()
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect()
}

/// Just enough RFC 2047 for lettre's output: `=?utf-8?b?…?=` words, whitespace between them
/// dropped. The integration tests carry a full decoder (`tests/it/mailbox.rs`).
fn decode_subject(raw: &str) -> String {
    let header = raw
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ");
    let value = header
        .lines()
        .find_map(|line| line.strip_prefix("Subject: "))
        .unwrap();
    let mut bytes = Vec::new();
    for word in value.split_whitespace() {
        let encoded = word
            .strip_prefix("=?utf-8?b?")
            .and_then(|w| w.strip_suffix("?="))
            .unwrap_or_else(|| panic!("not a B-encoded word: {word}"));
        bytes.extend(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap(),
        );
    }
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn file_transport_writes_a_readable_eml_into_a_new_directory() {
    let tmp = TempDir::new();
    let dir = tmp.0.join("nested").join("mail");
    let mailer = Mailer::from_settings(&settings(None, &dir)).unwrap();
    assert_eq!(mailer.transport_name(), "file");
    let mail = sample();
    mailer.send(mail.clone()).await.unwrap();

    let files = eml_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().unwrap(), "eml");
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    // Headers are ASCII on the wire: the Chinese subject travels RFC 2047-encoded…
    assert!(raw.contains("Subject: =?utf-8?b?"), "{raw}");
    assert_eq!(decode_subject(&raw), mail.subject);
    assert!(raw.contains("To: owner@example.org\r\n"), "{raw}");
    assert!(
        raw.contains("Message-ID: <") && raw.contains("@xinyidai.localhost>"),
        "{raw}"
    );
    assert!(
        raw.contains("Content-Type: multipart/alternative;"),
        "{raw}"
    );
    // …while the bodies stay 8bit so the file reads as-is, links included.
    assert!(raw.contains("Content-Transfer-Encoding: 8bit"), "{raw}");
    assert!(
        raw.contains(&mail.text.replace('\n', "\r\n")),
        "plain-text body verbatim:\n{raw}"
    );
    assert!(
        raw.contains("Content-Type: text/html; charset=utf-8"),
        "{raw}"
    );
}

#[tokio::test]
async fn file_transport_falls_back_to_base64_for_overlong_lines() {
    let tmp = TempDir::new();
    let mailer = Mailer::from_settings(&settings(None, &tmp.0)).unwrap();
    let mut mail = sample();
    mail.text = "长".repeat(400); // 1200 bytes on one line: too long for 8bit
    mail.html = None;
    mailer.send(mail).await.unwrap();
    let raw = std::fs::read_to_string(&eml_files(&tmp.0)[0]).unwrap();
    assert!(raw.contains("Content-Transfer-Encoding: base64"), "{raw}");
}

#[tokio::test]
async fn a_bad_recipient_is_permanent_and_writes_nothing() {
    let tmp = TempDir::new();
    let mailer = Mailer::from_settings(&settings(None, &tmp.0)).unwrap();
    for to in ["", "not-an-address", "a@b@c", "张三 <owner@example.org>"] {
        let mut mail = sample();
        mail.to = to.to_owned();
        let err = mailer.send(mail).await.unwrap_err();
        assert!(matches!(err, MailError::BadAddress), "{to}: {err:?}");
        assert!(!err.is_retryable());
    }
    assert!(eml_files(&tmp.0).is_empty());
}

#[test]
fn smtp_needs_a_runtime() {
    let tmp = TempDir::new();
    let result = Mailer::from_settings(&settings(Some("smtp://127.0.0.1:25"), &tmp.0));
    assert!(matches!(result, Err(MailError::NoRuntime)), "{result:?}");
}

#[tokio::test]
async fn bad_settings_are_reported_without_the_secret() {
    let tmp = TempDir::new();
    let mut bad_from = settings(None, &tmp.0);
    bad_from.from = "noreply".to_owned();
    assert!(matches!(
        Mailer::from_settings(&bad_from),
        Err(MailError::BadFrom(_))
    ));

    for url in [
        "http://user:hunter2@example.org",
        "smtp://user:hunter2@host?tls=maybe",
    ] {
        let err = Mailer::from_settings(&settings(Some(url), &tmp.0)).unwrap_err();
        assert!(matches!(err, MailError::BadSmtpUrl(_)), "{url}: {err:?}");
        let chain = format!("{err} / {:?}", std::error::Error::source(&err));
        assert!(!chain.contains("hunter2"), "{chain}");
    }

    let mailer = Mailer::from_settings(&settings(
        Some("smtps://u:hunter2@smtp.example.org"),
        &tmp.0,
    ))
    .unwrap();
    assert_eq!(mailer.transport_name(), "smtp");
    assert!(!format!("{mailer:?}").contains("hunter2"));
    assert!(!tmp.0.exists(), "no mail directory when sending over SMTP");
}

#[test]
fn outgoing_debug_hides_the_recipient() {
    let shown = format!("{:?}", sample());
    assert!(!shown.contains(TO), "{shown}");
    assert!(shown.contains("ConfirmEmail"), "{shown}");
}

#[test]
fn starttls_urls_become_lettres_form() {
    assert_eq!(
        normalize_smtp_url("smtp+starttls://u:p@smtp.example.org:587"),
        "smtp://u:p@smtp.example.org:587?tls=required"
    );
    assert_eq!(
        normalize_smtp_url("smtp+starttls://smtp.example.org/ehlo.example.org?x=1"),
        "smtp://smtp.example.org/ehlo.example.org?x=1&tls=required"
    );
    assert_eq!(
        normalize_smtp_url("smtp://127.0.0.1:25"),
        "smtp://127.0.0.1:25"
    );
}

#[test]
fn credentials_in_clear_are_spotted() {
    assert!(sends_credentials_in_clear("smtp://u:p@smtp.example.org:25"));
    assert!(sends_credentials_in_clear(
        "smtp://u:p@host?tls=opportunistic"
    ));
    assert!(!sends_credentials_in_clear("smtp://u:p@host?tls=required"));
    assert!(!sends_credentials_in_clear("smtp://127.0.0.1:25"));
    assert!(!sends_credentials_in_clear("smtp://host/ehlo@name"));
    assert!(!sends_credentials_in_clear("smtps://u:p@host"));
}

#[tokio::test]
async fn a_closed_port_is_retryable() {
    // Bind then drop: the port is free, and connecting is refused at once.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = TempDir::new();
    let url = format!("smtp://127.0.0.1:{port}");
    let mailer = Mailer::from_settings(&settings(Some(&url), &tmp.0)).unwrap();
    let err = mailer.send(sample()).await.unwrap_err();
    assert!(matches!(err, MailError::Unreachable(_)), "{err:?}");
    assert!(err.is_retryable());
}

/// A scripted SMTP server on a thread: greets, accepts everything, and answers `RCPT TO`
/// with `rcpt_reply`. Returns its URL.
fn fake_smtp(rcpt_reply: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let _ = stream.write_all(b"220 fake ESMTP\r\n");
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                let reply = match verb.as_str() {
                    "EHLO" | "HELO" | "MAIL" | "RSET" | "NOOP" => "250 ok\r\n",
                    "RCPT" => rcpt_reply,
                    "QUIT" => "221 bye\r\n",
                    _ => "500 what\r\n",
                };
                if stream.write_all(reply.as_bytes()).is_err() || verb == "QUIT" {
                    break;
                }
                line.clear();
            }
        }
    });
    url
}

#[tokio::test]
async fn a_5xx_reply_is_permanent_and_its_text_is_not_kept() {
    let tmp = TempDir::new();
    let url = fake_smtp("550 5.1.1 <owner@example.org>: user unknown\r\n");
    let mailer = Mailer::from_settings(&settings(Some(&url), &tmp.0)).unwrap();
    let err = mailer.send(sample()).await.unwrap_err();
    assert!(matches!(err, MailError::Rejected { code: 550 }), "{err:?}");
    assert!(!err.is_retryable());
    // The server quoted the address; the error must not.
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(TO), "{shown}");
}

#[tokio::test]
async fn a_4xx_reply_is_retryable() {
    let tmp = TempDir::new();
    let url = fake_smtp("451 4.3.0 try again later\r\n");
    let mailer = Mailer::from_settings(&settings(Some(&url), &tmp.0)).unwrap();
    let err = mailer.send(sample()).await.unwrap_err();
    assert!(matches!(err, MailError::Deferred { code: 451 }), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_silent_server_hits_the_deadline() {
    // Accepts the connection (the kernel does, from the backlog) but never greets.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let tmp = TempDir::new();
    let mailer = Mailer::from_settings(&settings(Some(&url), &tmp.0))
        .unwrap()
        .with_deadline(Duration::from_millis(300));
    let err = mailer.send(sample()).await.unwrap_err();
    assert!(matches!(err, MailError::Timeout), "{err:?}");
    assert!(err.is_retryable());
    drop(listener);
}

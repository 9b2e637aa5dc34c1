//! Every message through a real SMTP server (aiosmtpd, started by `scripts/test`), read back
//! from its Maildir and decoded independently of lettre: Chinese subjects, bodies and links
//! must arrive exactly as built.

use xinyidai::config::{Secret, Settings};
use xinyidai::mail::{MailError, Mailer, Outgoing, messages};

use crate::helpers::TempDir;
use crate::mailbox::{self, Mailbox, ReceivedMail};

const EXPIRES: &str = "2026年3月5日 14:30（北京时间）";

fn smtp_mailer() -> Mailer {
    xinyidai::tls::install_crypto_provider();
    let mut settings = Settings::with_database("sqlite::memory:").mail;
    settings.smtp_url = Some(Secret::new(mailbox::smtp_url()));
    Mailer::from_settings(&settings).unwrap()
}

/// Sends `mail` over SMTP and asserts it arrives intact; returns what arrived.
async fn round_trip(mail: Outgoing) -> ReceivedMail {
    let inbox = Mailbox::from_env();
    let to = mail.to.clone();
    smtp_mailer().send(mail.clone()).await.unwrap();
    let received = inbox.wait_for(&to).await;
    assert_arrived_intact(&mail, &received);
    received
}

fn assert_arrived_intact(sent: &Outgoing, received: &ReceivedMail) {
    assert_eq!(received.to, sent.to);
    assert_eq!(received.from, "信易贷平台 <noreply@xinyidai.localhost>");
    assert_eq!(received.subject, sent.subject);
    assert_eq!(received.text, sent.text);
    assert_eq!(received.html, sent.html);
}

#[tokio::test]
async fn confirm_email_arrives_with_its_link() {
    let to = mailbox::unique_address();
    let link = "http://127.0.0.1:8080/email/confirm?token=Zm9vYmFy-_0123456789abcdef";
    let mail = messages::confirm_email(&to, "梨树县某某农机专业合作社", link, EXPIRES).unwrap();
    let received = round_trip(mail).await;
    assert_eq!(
        received.subject,
        "【信易贷市场主体实名入驻平台】请确认您的邮箱"
    );
    assert!(received.text.contains("“梨树县某某农机专业合作社”"));
    assert!(received.text.contains(EXPIRES));
    assert_eq!(received.links, [link]);
}

#[tokio::test]
async fn password_reset_arrives_with_its_link() {
    let to = mailbox::unique_address();
    let link = "https://xyd.example.org/password/reset?token=abc&next=%2Fme";
    let mail = messages::password_reset(&to, link, EXPIRES).unwrap();
    let received = round_trip(mail).await;
    assert!(received.subject.ends_with("重置密码"));
    assert_eq!(received.links, [link]);
}

#[tokio::test]
async fn already_registered_arrives_with_login_and_reset_links() {
    let to = mailbox::unique_address();
    let login = "https://xyd.example.org/login";
    let reset = "https://xyd.example.org/password/forgot";
    let mail = messages::already_registered(&to, "梨树县某某商店", login, reset).unwrap();
    let received = round_trip(mail).await;
    assert!(received.subject.ends_with("该市场主体已经注册"));
    assert_eq!(received.links, [login, reset]);
}

#[tokio::test]
async fn review_requested_arrives() {
    let to = mailbox::unique_address();
    let mail = messages::review_requested(&to, "梨树县某某饭店（个体工商户）").unwrap();
    let received = round_trip(mail).await;
    assert!(received.subject.ends_with("人工审核申请已收到"));
    assert!(received.text.contains("梨树县某某饭店（个体工商户）"));
    assert!(received.links.is_empty());
}

#[tokio::test]
async fn long_subjects_and_long_links_survive_folding() {
    // Long enough to force several RFC 2047 words and wrapped body lines.
    let to = mailbox::unique_address();
    let link = format!(
        "https://xyd.example.org/email/confirm?token={}",
        "a1-_".repeat(40)
    );
    let mut mail = messages::confirm_email(&to, &"长".repeat(60), &link, EXPIRES).unwrap();
    mail.subject = format!("{}（{}）", mail.subject, "吉林省四平市梨树县".repeat(6));
    let received = round_trip(mail).await;
    assert_eq!(received.links, [link]);
}

#[tokio::test]
async fn a_bad_address_is_refused_before_any_connection() {
    let mail = messages::review_requested("not an address", "某某公司").unwrap();
    let err = smtp_mailer().send(mail).await.unwrap_err();
    assert!(matches!(err, MailError::BadAddress), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn file_transport_writes_an_eml_that_decodes_back() {
    let dir = TempDir::new();
    let mut settings = Settings::with_database("sqlite::memory:").mail;
    settings.dir = dir.path().join("mail");
    let mailer = Mailer::from_settings(&settings).unwrap();
    let to = mailbox::unique_address();
    let link = "http://127.0.0.1:8080/email/confirm?token=xyz";
    let mail = messages::confirm_email(&to, "梨树县某某农机专业合作社", link, EXPIRES).unwrap();
    mailer.send(mail.clone()).await.unwrap();

    let files: Vec<_> = std::fs::read_dir(&settings.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    let raw = std::fs::read(&files[0]).unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.contains("Subject: =?utf-8?b?"),
        "subject is RFC 2047-encoded:\n{text}"
    );
    let received = ReceivedMail::parse(&raw);
    assert_arrived_intact(&mail, &received);
    assert_eq!(received.links, [link]);
}

//! The messages the platform sends, in Chinese. Texts live in `templates/mail/`: a plain-text
//! body (what every client shows) and an HTML alternative with the same words.
//!
//! Every message says who sent it and what to do if the reader did not ask for it. Links are
//! absolute URLs built by the caller from `Settings::public_url`.

use askama::Template;

use super::{MailError, MailKind, Outgoing};

/// Prefixed to every subject so the sender is clear in a crowded inbox.
const SUBJECT_PREFIX: &str = "【信易贷市场主体实名入驻平台】";

pub use crate::domain::calendar::format_deadline;

/// Asks the owner to confirm the address by opening `link` (valid 24 hours). `expires` comes
/// from [`format_deadline`].
pub fn confirm_email(
    to: &str,
    entity_name: &str,
    link: &str,
    expires: &str,
) -> Result<Outgoing, MailError> {
    let subject = subject("请确认您的邮箱");
    Ok(Outgoing {
        kind: MailKind::ConfirmEmail,
        to: to.to_owned(),
        text: ConfirmEmailText {
            entity_name,
            link,
            expires,
        }
        .render()?,
        html: Some(
            ConfirmEmailHtml {
                subject: &subject,
                entity_name,
                link,
                expires,
            }
            .render()?,
        ),
        subject,
    })
}

/// A link to set a new password (valid 1 hour).
pub fn password_reset(to: &str, link: &str, expires: &str) -> Result<Outgoing, MailError> {
    let subject = subject("重置密码");
    Ok(Outgoing {
        kind: MailKind::PasswordReset,
        to: to.to_owned(),
        text: PasswordResetText { link, expires }.render()?,
        html: Some(
            PasswordResetHtml {
                subject: &subject,
                link,
                expires,
            }
            .render()?,
        ),
        subject,
    })
}

/// Sent instead of a second registration when the USCC is already registered under this
/// address: the web answer stays the same either way, so it reveals nothing about who is
/// registered, while the real owner learns how to get back in.
pub fn already_registered(
    to: &str,
    entity_name: &str,
    login_link: &str,
    reset_link: &str,
) -> Result<Outgoing, MailError> {
    let subject = subject("该市场主体已经注册");
    Ok(Outgoing {
        kind: MailKind::AlreadyRegistered,
        to: to.to_owned(),
        text: AlreadyRegisteredText {
            entity_name,
            login_link,
            reset_link,
        }
        .render()?,
        html: Some(
            AlreadyRegisteredHtml {
                subject: &subject,
                entity_name,
                login_link,
                reset_link,
            }
            .render()?,
        ),
        subject,
    })
}

/// Confirms that a request for manual review was recorded.
pub fn review_requested(to: &str, entity_name: &str) -> Result<Outgoing, MailError> {
    let subject = subject("人工审核申请已收到");
    Ok(Outgoing {
        kind: MailKind::ReviewRequested,
        to: to.to_owned(),
        text: ReviewRequestedText { entity_name }.render()?,
        html: Some(
            ReviewRequestedHtml {
                subject: &subject,
                entity_name,
            }
            .render()?,
        ),
        subject,
    })
}

/// Tells the owner the province refused the registration, with its reason, and how to fix it
/// and resubmit from `me_link`.
pub fn province_rejected(
    to: &str,
    entity_name: &str,
    reason: &str,
    me_link: &str,
) -> Result<Outgoing, MailError> {
    let subject = subject("省级平台未通过您的登记，请修改后重新提交");
    Ok(Outgoing {
        kind: MailKind::ProvinceRejected,
        to: to.to_owned(),
        text: ProvinceRejectedText {
            entity_name,
            reason,
            link: me_link,
        }
        .render()?,
        html: Some(
            ProvinceRejectedHtml {
                subject: &subject,
                entity_name,
                reason,
                link: me_link,
            }
            .render()?,
        ),
        subject,
    })
}

/// Tells the owner how the manual review ended: approved, or rejected with the reviewer's reason.
pub fn review_decided(
    to: &str,
    entity_name: &str,
    approved: bool,
    reason: Option<&str>,
    me_link: &str,
) -> Result<Outgoing, MailError> {
    let subject = subject(if approved {
        "人工审核已通过"
    } else {
        "人工审核未通过"
    });
    let reason = reason.unwrap_or_default();
    Ok(Outgoing {
        kind: MailKind::ReviewDecided,
        to: to.to_owned(),
        text: ReviewDecidedText {
            entity_name,
            approved,
            reason,
            link: me_link,
        }
        .render()?,
        html: Some(
            ReviewDecidedHtml {
                subject: &subject,
                entity_name,
                approved,
                reason,
                link: me_link,
            }
            .render()?,
        ),
        subject,
    })
}

/// The subject line with the platform's prefix.
pub fn subject(what: &str) -> String {
    format!("{SUBJECT_PREFIX}{what}")
}

// One struct per template: `.txt` templates are not escaped, `.html` ones are (askama picks
// the escaper from the extension), so an entity name like `A&B <公司>` is safe in both.

#[derive(Template)]
#[template(path = "mail/confirm_email.txt")]
struct ConfirmEmailText<'a> {
    entity_name: &'a str,
    link: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "mail/confirm_email.html")]
struct ConfirmEmailHtml<'a> {
    subject: &'a str,
    entity_name: &'a str,
    link: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_reset.txt")]
struct PasswordResetText<'a> {
    link: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "mail/password_reset.html")]
struct PasswordResetHtml<'a> {
    subject: &'a str,
    link: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "mail/already_registered.txt")]
struct AlreadyRegisteredText<'a> {
    entity_name: &'a str,
    login_link: &'a str,
    reset_link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/already_registered.html")]
struct AlreadyRegisteredHtml<'a> {
    subject: &'a str,
    entity_name: &'a str,
    login_link: &'a str,
    reset_link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/review_requested.txt")]
struct ReviewRequestedText<'a> {
    entity_name: &'a str,
}

#[derive(Template)]
#[template(path = "mail/review_requested.html")]
struct ReviewRequestedHtml<'a> {
    subject: &'a str,
    entity_name: &'a str,
}

#[derive(Template)]
#[template(path = "mail/province_rejected.txt")]
struct ProvinceRejectedText<'a> {
    entity_name: &'a str,
    reason: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/province_rejected.html")]
struct ProvinceRejectedHtml<'a> {
    subject: &'a str,
    entity_name: &'a str,
    reason: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/review_decided.txt")]
struct ReviewDecidedText<'a> {
    entity_name: &'a str,
    approved: bool,
    reason: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/review_decided.html")]
struct ReviewDecidedHtml<'a> {
    subject: &'a str,
    entity_name: &'a str,
    approved: bool,
    reason: &'a str,
    link: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const TO: &str = "owner@example.org";
    const LINK: &str = "https://xyd.example.org/email/confirm?token=abc&x=1";

    fn assert_common(mail: &Outgoing, subject_words: &str) {
        assert_eq!(mail.to, TO);
        assert!(mail.subject.starts_with(SUBJECT_PREFIX), "{}", mail.subject);
        assert!(mail.subject.ends_with(subject_words), "{}", mail.subject);
        assert!(mail.text.starts_with("您好："), "{}", mail.text);
        assert!(mail.text.contains("信易贷市场主体实名入驻平台"));
        assert!(
            mail.text.contains("如果"),
            "says what to do if it was not you"
        );
        let html = mail.html.as_deref().unwrap();
        assert!(html.contains("<html lang=\"zh-CN\">"));
        assert!(html.contains(&format!("<title>{}</title>", mail.subject)));
    }

    #[test]
    fn deadlines_are_shown_in_beijing_time() {
        let at = datetime!(2026-03-05 06:30 UTC);
        assert_eq!(format_deadline(at), "2026年3月5日 14:30（北京时间）");
        let late = datetime!(2026-12-31 16:05 UTC);
        assert_eq!(format_deadline(late), "2027年1月1日 00:05（北京时间）");
    }

    #[test]
    fn confirm_email_has_the_link_and_the_deadline() {
        let mail = confirm_email(
            TO,
            "梨树县某某农机专业合作社",
            LINK,
            "2026年3月5日 14:30（北京时间）",
        )
        .unwrap();
        assert_eq!(mail.kind, MailKind::ConfirmEmail);
        assert_common(&mail, "请确认您的邮箱");
        // Plain text carries the link verbatim on its own line, so clients make it clickable.
        assert!(mail.text.contains(&format!("\n{LINK}\n")), "{}", mail.text);
        assert!(mail.text.contains("梨树县某某农机专业合作社"));
        assert!(mail.text.contains("24 小时"));
        assert!(mail.text.contains("2026年3月5日 14:30（北京时间）"));
        let html = mail.html.unwrap();
        assert!(
            html.contains(&format!("href=\"{}\"", LINK.replace('&', "&#38;"))),
            "{html}"
        );
        assert!(html.contains("确认邮箱</a>"));
    }

    #[test]
    fn password_reset_is_valid_for_an_hour() {
        let mail = password_reset(TO, LINK, "2026年3月5日 14:30（北京时间）").unwrap();
        assert_eq!(mail.kind, MailKind::PasswordReset);
        assert_common(&mail, "重置密码");
        assert!(mail.text.contains(&format!("\n{LINK}\n")));
        assert!(mail.text.contains("1 小时"));
        assert!(mail.text.contains("您的密码不会改变"));
    }

    #[test]
    fn already_registered_offers_login_and_reset() {
        let login = "https://xyd.example.org/login";
        let reset = "https://xyd.example.org/password/forgot";
        let mail = already_registered(TO, "梨树县某某商店", login, reset).unwrap();
        assert_eq!(mail.kind, MailKind::AlreadyRegistered);
        assert_common(&mail, "该市场主体已经注册");
        assert!(mail.text.contains(&format!("\n{login}\n")));
        assert!(mail.text.contains(&format!("\n{reset}\n")));
        assert!(mail.text.contains("梨树县某某商店"));
        let html = mail.html.unwrap();
        assert!(
            html.contains(&format!("href=\"{login}\""))
                && html.contains(&format!("href=\"{reset}\""))
        );
    }

    #[test]
    fn review_requested_names_the_entity() {
        let mail = review_requested(TO, "梨树县某某饭店").unwrap();
        assert_eq!(mail.kind, MailKind::ReviewRequested);
        assert_common(&mail, "人工审核申请已收到");
        assert!(mail.text.contains("“梨树县某某饭店”"));
        assert!(mail.text.contains("人工审核"));
    }

    #[test]
    fn review_decisions_say_which_and_why() {
        let me = "https://xyd.example.org/me";
        let mail =
            review_decided(TO, "梨树县某某饭店", false, Some("名称与<执照>不符"), me).unwrap();
        assert_eq!(mail.kind, MailKind::ReviewDecided);
        assert_common(&mail, "人工审核未通过");
        assert!(mail.text.contains("名称与<执照>不符"), "{}", mail.text);
        assert!(mail.text.contains(&format!("\n{me}\n")));
        let html = mail.html.unwrap();
        assert!(html.contains("名称与&#60;执照&#62;不符"), "{html}");
        let mail = review_decided(TO, "梨树县某某饭店", true, None, me).unwrap();
        assert_common(&mail, "人工审核已通过");
        assert!(!mail.text.contains("审核意见"), "{}", mail.text);
    }

    #[test]
    fn entity_names_are_escaped_in_html_only() {
        let mail = review_requested(TO, "A&B <script>公司").unwrap();
        assert!(mail.text.contains("A&B <script>公司"), "{}", mail.text);
        let html = mail.html.unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("A&#38;B &#60;script&#62;公司"), "{html}");
    }
}

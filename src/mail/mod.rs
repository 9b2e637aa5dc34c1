//! Outgoing email: a [`Mailer`] over SMTP or, with no SMTP configured, over `.eml` files, and
//! the Chinese messages the platform sends ([`messages`]).
//!
//! Recipient addresses are personal data: nothing here logs them, and no [`MailError`] carries
//! one (SMTP replies can echo the address, so their text is dropped and only the code kept).
//! Logs name a message by its kind and `Message-ID`.

pub mod messages;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::Error as SmtpError;
use lettre::{Address, AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use thiserror::Error;

use crate::config::MailSettings;

/// Lettre's async transport applies its timeout to the TCP connect only.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// So the whole exchange gets its own deadline: a server that accepts and then stalls must not
/// hold a request (or a worker) forever.
const SEND_DEADLINE: Duration = Duration::from_secs(30);

/// What a message is, for logs and metrics (never the recipient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    ConfirmEmail,
    PasswordReset,
    AlreadyRegistered,
    ReviewRequested,
    ProvinceRejected,
    ReviewDecided,
    Digest,
    LeadersDigest,
}

impl MailKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            MailKind::ConfirmEmail => "confirm_email",
            MailKind::PasswordReset => "password_reset",
            MailKind::AlreadyRegistered => "already_registered",
            MailKind::ReviewRequested => "review_requested",
            MailKind::ProvinceRejected => "province_rejected",
            MailKind::ReviewDecided => "review_decided",
            MailKind::Digest => "digest",
            MailKind::LeadersDigest => "leaders_digest",
        }
    }
}

/// A message ready to send: UTF-8 throughout; lettre picks the wire encodings (RFC 2047 for the
/// subject, base64 or quoted-printable for the bodies).
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub kind: MailKind,
    /// One bare address (`user@example.org`), as the owner typed it.
    pub to: String,
    pub subject: String,
    pub text: String,
    /// An HTML alternative to `text`, if any.
    pub html: Option<String>,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data stays out of `{:?}` too.
        f.debug_struct("Outgoing")
            .field("kind", &self.kind)
            .field("to", &"***")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Error)]
pub enum MailError {
    #[error("XYD_MAIL_FROM is not a valid mailbox (expected `Name <user@example.org>`)")]
    BadFrom(#[source] lettre::address::AddressError),
    /// The URL itself is never shown: it may hold a password.
    #[error(
        "XYD_SMTP_URL is not a usable SMTP URL (expected smtp://host:port, smtps://… or smtp://…?tls=required)"
    )]
    BadSmtpUrl(#[source] SmtpError),
    /// Lettre's SMTP connection pool spawns a Tokio task when built (and when dropped).
    #[error("the SMTP mailer must be created inside a Tokio runtime")]
    NoRuntime,
    #[error("could not create the mail directory {}", path.display())]
    MailDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the recipient address is not valid")]
    BadAddress,
    #[error("could not render the message")]
    Render(#[from] askama::Error),
    #[error("could not assemble the message")]
    Build(#[source] lettre::error::Error),
    /// 5xx: the server will not take this message, now or later.
    #[error("the SMTP server refused the message (reply {code})")]
    Rejected { code: u16 },
    /// 4xx: the server asks to try again later.
    #[error("the SMTP server deferred the message (reply {code})")]
    Deferred { code: u16 },
    /// Connection, TLS or network failure.
    #[error("could not talk to the SMTP server")]
    Unreachable(#[source] SmtpError),
    #[error("the SMTP server did not answer in time")]
    Timeout,
    /// A malformed reply or a client-side failure; the details may quote the server (and so
    /// the address), so they are dropped.
    #[error("SMTP protocol failure")]
    Protocol,
    #[error("could not write the message file")]
    File(#[source] lettre::transport::file::Error),
}

impl MailError {
    /// Whether sending the same message later may succeed (the server or the network was
    /// unavailable), as opposed to a failure that will repeat (5xx, bad address, bad settings).
    pub fn is_retryable(&self) -> bool {
        match self {
            MailError::Deferred { .. }
            | MailError::Unreachable(_)
            | MailError::Timeout
            | MailError::Protocol
            | MailError::File(_) => true,
            MailError::BadFrom(_)
            | MailError::BadSmtpUrl(_)
            | MailError::NoRuntime
            | MailError::MailDir { .. }
            | MailError::BadAddress
            | MailError::Render(_)
            | MailError::Build(_)
            | MailError::Rejected { .. } => false,
        }
    }

    fn from_smtp(err: SmtpError) -> MailError {
        let code = err.status().map(u16::from);
        if err.is_timeout() {
            MailError::Timeout
        } else if let (true, Some(code)) = (err.is_permanent(), code) {
            MailError::Rejected { code }
        } else if let (true, Some(code)) = (err.is_transient(), code) {
            MailError::Deferred { code }
        } else if err.is_response() || err.is_client() || err.is_transport_shutdown() {
            MailError::Protocol
        } else {
            MailError::Unreachable(err)
        }
    }
}

/// Sends mail. Cheap to clone: one shared transport (and, over SMTP, one connection pool).
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    from: Mailbox,
    deadline: Duration,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither the SMTP URL (credentials) nor anything else secret.
        f.debug_struct("Mailer")
            .field("transport", &self.transport_name())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// SMTP when `smtp_url` is set, else `.eml` files in `dir` (created if missing).
    /// Nothing is contacted here: a down relay must not stop the site from starting.
    ///
    /// Over SMTP, call it inside a Tokio runtime and drop the mailer there too (lettre's pool
    /// spawns tasks on both occasions).
    pub fn from_settings(settings: &MailSettings) -> Result<Mailer, MailError> {
        let from: Mailbox = settings.from.parse().map_err(MailError::BadFrom)?;
        let transport = match &settings.smtp_url {
            Some(url) => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(MailError::NoRuntime);
                }
                crate::tls::install_crypto_provider();
                let url = normalize_smtp_url(url.expose());
                if sends_credentials_in_clear(&url) {
                    tracing::warn!(
                        "XYD_SMTP_URL sends credentials without TLS; use smtps:// or ?tls=required"
                    );
                }
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                    .map_err(MailError::BadSmtpUrl)?
                    .timeout(Some(CONNECT_TIMEOUT))
                    .build();
                Transport::Smtp(transport)
            }
            None => {
                std::fs::create_dir_all(&settings.dir).map_err(|source| MailError::MailDir {
                    path: settings.dir.clone(),
                    source,
                })?;
                Transport::File(AsyncFileTransport::new(&settings.dir))
            }
        };
        Ok(Mailer {
            inner: Arc::new(Inner {
                transport,
                from,
                deadline: SEND_DEADLINE,
            }),
        })
    }

    /// `"smtp"` or `"file"`, for start-up logs.
    pub fn transport_name(&self) -> &'static str {
        match self.inner.transport {
            Transport::Smtp(_) => "smtp",
            Transport::File(_) => "file",
        }
    }

    /// Sends one message. On failure, [`MailError::is_retryable`] says whether to try again.
    pub async fn send(&self, mail: Outgoing) -> Result<(), MailError> {
        let kind = mail.kind.as_str();
        let message_id = self.new_message_id();
        let result = match self.build(mail, &message_id) {
            Ok(message) => self.deliver(message).await,
            Err(err) => Err(err),
        };
        match &result {
            Ok(()) => tracing::info!(kind, %message_id, "mail sent"),
            Err(err) => tracing::warn!(
                kind,
                %message_id,
                retryable = err.is_retryable(),
                error = %err,
                "mail not sent"
            ),
        }
        result
    }

    async fn deliver(&self, message: Message) -> Result<(), MailError> {
        match &self.inner.transport {
            Transport::Smtp(smtp) => {
                match tokio::time::timeout(self.inner.deadline, smtp.send(message)).await {
                    Ok(Ok(_response)) => Ok(()),
                    Ok(Err(err)) => Err(MailError::from_smtp(err)),
                    Err(_elapsed) => Err(MailError::Timeout),
                }
            }
            Transport::File(file) => file.send(message).await.map(drop).map_err(MailError::File),
        }
    }

    fn build(&self, mail: Outgoing, message_id: &str) -> Result<Message, MailError> {
        let to: Address = mail.to.trim().parse().map_err(|_| MailError::BadAddress)?;
        let file = matches!(self.inner.transport, Transport::File(_));
        let builder = Message::builder()
            .from(self.inner.from.clone())
            .to(Mailbox::new(None, to))
            .subject(mail.subject)
            .message_id(Some(message_id.to_owned()));
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(body(mail.text, file));
        let message = match mail.html {
            Some(html) => builder.multipart(
                MultiPart::alternative().singlepart(text).singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(body(html, file)),
                ),
            ),
            None => builder.singlepart(text),
        };
        message.map_err(MailError::Build)
    }

    /// `<random@from-domain>`: our own domain rather than the machine's host name.
    fn new_message_id(&self) -> String {
        format!(
            "<{:032x}@{}>",
            rand::random::<u128>(),
            self.inner.from.email.domain()
        )
    }

    #[cfg(test)]
    fn with_deadline(self, deadline: Duration) -> Mailer {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => Mailer {
                inner: Arc::new(Inner { deadline, ..inner }),
            },
            Err(_) => panic!("with_deadline on a shared Mailer"),
        }
    }
}

/// Files are for people to open: 8bit keeps the Chinese text and the links readable in any
/// editor. Over SMTP, lettre's own choice (base64 or quoted-printable) survives any relay.
fn body(content: String, for_file: bool) -> Body {
    if !for_file {
        return Body::new(content);
    }
    // Lettre only picks 8bit for lines under 76 bytes (25 Chinese characters), so the check
    // is done here against the real limit of RFC 5322: 998 bytes a line, no NUL, no bare CR.
    const MAX_LINE: usize = 998;
    let unix = content.replace("\r\n", "\n");
    if unix.contains(['\r', '\0']) || unix.lines().any(|line| line.len() > MAX_LINE) {
        return Body::new(content);
    }
    Body::dangerous_pre_encoded(
        unix.replace('\n', "\r\n").into_bytes(),
        ContentTransferEncoding::EightBit,
    )
}

/// `smtp+starttls://…` (the form `config` documents) is lettre's `smtp://…?tls=required`.
fn normalize_smtp_url(url: &str) -> String {
    match url.strip_prefix("smtp+starttls://") {
        Some(rest) => {
            let separator = if rest.contains('?') { '&' } else { '?' };
            format!("smtp://{rest}{separator}tls=required")
        }
        None => url.to_owned(),
    }
}

/// Plain `smtp://` with a user in the authority: lettre would send the password unencrypted.
fn sends_credentials_in_clear(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("smtp://") else {
        return false;
    };
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = before_query.split('/').next().unwrap_or_default();
    // `tls=opportunistic` falls back to clear text when the server offers no STARTTLS.
    authority.contains('@') && !query.split('&').any(|pair| pair == "tls=required")
}

#[cfg(test)]
mod tests;

//! Typed settings, read once from the environment (`DATABASE_URL`, `XYD_*`).
//!
//! Defaults live here so a fresh checkout runs with no configuration at all. Tests build their
//! own `Settings` and never read the developer's environment.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/xinyidai.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// 梨树县: the county this product was first built for.
pub const DEFAULT_JURISDICTION: &str = "220322";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A database URL; may carry a password, so `Debug` hides everything after the scheme.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> DatabaseUrl {
        DatabaseUrl(url.into())
    }

    /// The full URL, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    /// Scheme plus host/path without credentials, safe for logs.
    pub fn redacted(&self) -> String {
        match self.0.split_once("://") {
            Some((scheme, rest)) => {
                let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
                format!("{scheme}://{rest}")
            }
            None => "<invalid url>".to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A secret from the environment; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://host:port` (plain, for a local relay), `smtp+starttls://user:pass@host:587`
    /// or `smtps://user:pass@host:465`. `None`: messages are written as `.eml` files.
    pub smtp_url: Option<Secret>,
    /// The `From:` header.
    pub from: String,
    /// Where `.eml` files go when no SMTP server is configured.
    pub dir: std::path::PathBuf,
}

/// Where the provincial platform is; without it registrations wait in the outbox.
#[derive(Debug, Clone)]
pub struct ProvinceLink {
    pub base_url: String,
    pub app_id: String,
    pub secret: Secret,
    /// `HMAC-SHA256` (default) or `HMAC-SM3`.
    pub signature_method: String,
    /// Ask the province for L3 real-name verification before registering (`XYD_PROVINCE_L3`).
    pub l3: bool,
    /// Whole-call timeout (`XYD_PROVINCE_TIMEOUT_MS`, default 10 s).
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub listen: SocketAddr,
    /// Division code of the jurisdiction this deployment serves (county or city).
    pub jurisdiction: String,
    pub log_format: LogFormat,
    /// `tracing` filter directive, e.g. `info,xinyidai=debug`.
    pub log_filter: String,
    /// Connections in the pool (PostgreSQL; SQLite uses the same bound for readers).
    pub max_connections: u32,
    /// The address people reach the site at, for links in emails and QR codes.
    pub public_url: String,
    /// Cookies get `Secure` and the `__Host-` prefix (set when served over HTTPS).
    pub secure_cookies: bool,
    /// 32-byte master key (64 hex digits) protecting ID numbers at rest. `None`: a key file
    /// beside the SQLite database is created on first start (see `keys`).
    pub data_key: Option<Secret>,
    /// Behind a reverse proxy: take the client address from the last `X-Forwarded-For` entry
    /// (the one the proxy added) instead of the socket peer.
    pub trust_forwarded_for: bool,
    pub mail: MailSettings,
    /// `None`: no worker runs; queued registrations wait until it is configured.
    pub province: Option<ProvinceLink>,
    /// How the outbox worker paces itself (`XYD_SYNC_*`).
    pub sync: WorkerConfig,
    /// Daily reconciliation with the province, Asia/Shanghai wall-clock time (`XYD_RECONCILE_AT`).
    pub reconcile_at: time::Time,
    /// Bearer token `/metrics` requires (`XYD_METRICS_TOKEN`). `None`: open to whoever reaches it.
    pub metrics_token: Option<Secret>,
    /// When the weekly digest goes to staff, Beijing time (`XYD_DIGEST_AT`, e.g. `MON 08:00`).
    pub digest_at: DigestAt,
    /// How the credit-monitoring figure is computed (`XYD_METRIC_*`, see docs/metrics.md).
    pub metric: MetricSettings,
    /// Key an unattended LED screen shows `/screen?key=…` with (`XYD_SCREEN_KEY`). `None`: only
    /// logged-in leaders and admins see the screen.
    pub screen_key: Option<Secret>,
}

/// A weight in ten-thousandths (`0.5` → 5000), so weighted sums stay exact integers.
pub type WeightE4 = i64;

/// The credit-monitoring figure's settings (docs/metrics.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSettings {
    /// Weights per entity kind that differ from 1 (`XYD_METRIC_WEIGHTS`), in kind order.
    pub weights: Vec<(crate::domain::entity_kind::EntityKind, WeightE4)>,
    /// Roster statuses left out of the figure altogether (`XYD_METRIC_EXCLUDE`).
    pub excluded: Vec<crate::domain::entity_status::EntityStatus>,
    /// Months in the monitoring window, the current one included (`XYD_METRIC_WINDOW_MONTHS`).
    pub window_months: u32,
}

impl Default for MetricSettings {
    fn default() -> MetricSettings {
        MetricSettings {
            weights: Vec::new(),
            excluded: vec![crate::domain::entity_status::EntityStatus::Cancelled],
            window_months: 12,
        }
    }
}

impl MetricSettings {
    /// 1 (10000) unless configured otherwise.
    pub fn weight_of(&self, kind: crate::domain::entity_kind::EntityKind) -> WeightE4 {
        self.weights
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(10_000, |(_, w)| *w)
    }

    /// `enterprise:1,individual_business:0.5` (weights 0–100, at most 4 decimals).
    pub fn parse_weights(
        value: &str,
    ) -> Option<Vec<(crate::domain::entity_kind::EntityKind, WeightE4)>> {
        use crate::domain::entity_kind::EntityKind;
        let mut weights: Vec<(EntityKind, WeightE4)> = Vec::new();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (kind, weight) = item.split_once(':')?;
            let kind = EntityKind::parse_code(kind.trim())?;
            let weight = parse_e4(weight.trim()).filter(|w| *w <= 100 * 10_000)?;
            if weights.iter().any(|(k, _)| *k == kind) {
                return None;
            }
            weights.push((kind, weight));
        }
        weights.sort_by_key(|(k, _)| EntityKind::ALL.iter().position(|x| x == k));
        Some(weights)
    }

    /// `cancelled,moved_out`, or `none`.
    pub fn parse_excluded(value: &str) -> Option<Vec<crate::domain::entity_status::EntityStatus>> {
        use crate::domain::entity_status::EntityStatus;
        if value.trim() == "none" {
            return Some(Vec::new());
        }
        let mut out = Vec::new();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let status = EntityStatus::parse_code(item)?;
            if !out.contains(&status) {
                out.push(status);
            }
        }
        out.sort_by_key(|s| EntityStatus::ALL.iter().position(|x| x == s));
        Some(out)
    }
}

/// A non-negative decimal with at most 4 decimals, in ten-thousandths (`0.5` → 5000).
fn parse_e4(value: &str) -> Option<WeightE4> {
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 6 || frac.len() > 4 || !digits(whole) || !digits(frac) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<4}").parse().ok()?;
    Some(whole * 10_000 + frac)
}

/// A weekday and a Beijing wall-clock time: when the weekly digest is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestAt {
    pub weekday: time::Weekday,
    pub time: time::Time,
}

impl Default for DigestAt {
    fn default() -> DigestAt {
        DigestAt {
            weekday: time::Weekday::Monday,
            time: time::macros::time!(08:00),
        }
    }
}

impl DigestAt {
    /// `MON 08:00` (three-letter English weekday, any case, then hours:minutes).
    pub fn parse(value: &str) -> Option<DigestAt> {
        use time::Weekday::*;
        let (day, at) = value.trim().split_once(char::is_whitespace)?;
        let weekday = match day.to_ascii_uppercase().as_str() {
            "MON" => Monday,
            "TUE" => Tuesday,
            "WED" => Wednesday,
            "THU" => Thursday,
            "FRI" => Friday,
            "SAT" => Saturday,
            "SUN" => Sunday,
            _ => return None,
        };
        let format = time::macros::format_description!("[hour]:[minute]");
        let time = time::Time::parse(at.trim(), &format).ok()?;
        Some(DigestAt { weekday, time })
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{name} 的值无效（{value}）：{reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl Settings {
    /// Settings with every default, for a given database.
    pub fn with_database(url: impl Into<String>) -> Settings {
        Settings {
            database_url: DatabaseUrl::new(url),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            jurisdiction: DEFAULT_JURISDICTION.to_owned(),
            log_format: LogFormat::Pretty,
            log_filter: "info".to_owned(),
            max_connections: 10,
            public_url: "http://127.0.0.1:8080".to_owned(),
            secure_cookies: false,
            data_key: None,
            trust_forwarded_for: false,
            province: None,
            sync: WorkerConfig::default(),
            reconcile_at: time::macros::time!(02:30),
            metrics_token: None,
            digest_at: DigestAt::default(),
            metric: MetricSettings::default(),
            screen_key: None,
            mail: MailSettings {
                smtp_url: None,
                from: "信易贷平台 <noreply@xinyidai.localhost>".to_owned(),
                dir: std::path::PathBuf::from("data/mail"),
            },
        }
    }

    /// Reads the process environment; unknown variables are ignored.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can feed a map instead of the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let mut settings = Settings::with_database(database_url);
        if !(settings.database_url.is_sqlite() || settings.database_url.is_postgres()) {
            return Err(ConfigError::Invalid {
                name: "DATABASE_URL",
                value: settings.database_url.redacted(),
                reason: "只支持 sqlite:// 或 postgres:// 开头的地址",
            });
        }
        if let Some(listen) = get("XYD_LISTEN") {
            settings.listen = parse_listen(&listen)?;
        }
        if let Some(code) = get("XYD_JURISDICTION") {
            let code = code.trim().to_owned();
            if !(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())) {
                return Err(ConfigError::Invalid {
                    name: "XYD_JURISDICTION",
                    value: code,
                    reason: "应为6位行政区划代码，例如 220322",
                });
            }
            settings.jurisdiction = code;
        }
        if let Some(format) = get("XYD_LOG_FORMAT") {
            settings.log_format = match format.trim() {
                "json" => LogFormat::Json,
                "pretty" | "text" => LogFormat::Pretty,
                other => {
                    return Err(ConfigError::Invalid {
                        name: "XYD_LOG_FORMAT",
                        value: other.to_owned(),
                        reason: "应为 pretty 或 json",
                    });
                }
            };
        }
        if let Some(filter) = get("XYD_LOG").or_else(|| get("RUST_LOG")) {
            settings.log_filter = filter;
        }
        if let Some(n) = get("XYD_DB_MAX_CONNECTIONS") {
            settings.max_connections = n
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=500).contains(n))
                .ok_or(ConfigError::Invalid {
                    name: "XYD_DB_MAX_CONNECTIONS",
                    value: n.clone(),
                    reason: "应为 1 到 500 之间的整数",
                })?;
        }
        if let Some(url) = get("XYD_PUBLIC_URL") {
            let url = url.trim().trim_end_matches('/').to_owned();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    name: "XYD_PUBLIC_URL",
                    value: url,
                    reason: "应以 http:// 或 https:// 开头",
                });
            }
            settings.secure_cookies = url.starts_with("https://");
            settings.public_url = url;
        }
        if let Some(flag) = get("XYD_SECURE_COOKIES") {
            settings.secure_cookies = parse_flag("XYD_SECURE_COOKIES", &flag)?;
        }
        if let Some(flag) = get("XYD_TRUST_FORWARDED_FOR") {
            settings.trust_forwarded_for = parse_flag("XYD_TRUST_FORWARDED_FOR", &flag)?;
        }
        if let Some(key) = get("XYD_DATA_KEY") {
            let key = key.trim().to_owned();
            if !(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit())) {
                return Err(ConfigError::Invalid {
                    name: "XYD_DATA_KEY",
                    value: "***".to_owned(),
                    reason: "应为64位十六进制字符（32字节），可用 `openssl rand -hex 32` 生成",
                });
            }
            settings.data_key = Some(Secret::new(key));
        }
        if let Some(base_url) = get("XYD_PROVINCE_URL") {
            let (Some(app_id), Some(secret)) =
                (get("XYD_PROVINCE_APP_ID"), get("XYD_PROVINCE_SECRET"))
            else {
                return Err(ConfigError::Invalid {
                    name: "XYD_PROVINCE_URL",
                    value: base_url,
                    reason: "同时需要设置 XYD_PROVINCE_APP_ID 和 XYD_PROVINCE_SECRET",
                });
            };
            settings.province = Some(ProvinceLink {
                base_url: base_url.trim().to_owned(),
                app_id: app_id.trim().to_owned(),
                secret: Secret::new(secret.trim()),
                signature_method: get("XYD_PROVINCE_SIGNATURE")
                    .unwrap_or_else(|| "HMAC-SHA256".to_owned()),
                l3: get("XYD_PROVINCE_L3")
                    .map(|v| parse_flag("XYD_PROVINCE_L3", &v))
                    .transpose()?
                    .unwrap_or(false),
                timeout: match get("XYD_PROVINCE_TIMEOUT_MS") {
                    Some(ms) => Duration::from_millis(
                        ms.trim()
                            .parse::<u64>()
                            .ok()
                            .filter(|ms| (100..=600_000).contains(ms))
                            .ok_or(ConfigError::Invalid {
                                name: "XYD_PROVINCE_TIMEOUT_MS",
                                value: ms.clone(),
                                reason: "应为 100 到 600000 之间的毫秒数",
                            })?,
                    ),
                    None => Duration::from_secs(10),
                },
            });
        }
        read_sync_settings(&get, &mut settings.sync)?;
        if let Some(at) = get("XYD_RECONCILE_AT") {
            let format = time::macros::format_description!("[hour]:[minute]");
            settings.reconcile_at =
                time::Time::parse(at.trim(), &format).map_err(|_| ConfigError::Invalid {
                    name: "XYD_RECONCILE_AT",
                    value: at.clone(),
                    reason: "应为北京时间 时:分，例如 02:30",
                })?;
        }
        if let Some(at) = get("XYD_DIGEST_AT") {
            settings.digest_at = DigestAt::parse(&at).ok_or_else(|| ConfigError::Invalid {
                name: "XYD_DIGEST_AT",
                value: at.clone(),
                reason: "应为 星期 时:分（北京时间），例如 MON 08:00",
            })?;
        }
        if let Some(weights) = get("XYD_METRIC_WEIGHTS") {
            settings.metric.weights =
                MetricSettings::parse_weights(&weights).ok_or_else(|| ConfigError::Invalid {
                    name: "XYD_METRIC_WEIGHTS",
                    value: weights.clone(),
                    reason: "应为 类型:权重 并以逗号分隔，例如 enterprise:1,individual_business:0.5（权重 0–100，至多4位小数）",
                })?;
        }
        if let Some(excluded) = get("XYD_METRIC_EXCLUDE") {
            settings.metric.excluded =
                MetricSettings::parse_excluded(&excluded).ok_or_else(|| ConfigError::Invalid {
                    name: "XYD_METRIC_EXCLUDE",
                    value: excluded.clone(),
                    reason: "应为以逗号分隔的登记状态，例如 cancelled,moved_out；不排除任何状态写 none",
                })?;
        }
        if let Some(months) = get("XYD_METRIC_WINDOW_MONTHS") {
            settings.metric.window_months = months
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=60).contains(n))
                .ok_or_else(|| ConfigError::Invalid {
                    name: "XYD_METRIC_WINDOW_MONTHS",
                    value: months.clone(),
                    reason: "应为 1 到 60 之间的整数（月）",
                })?;
        }
        if let Some(token) = get("XYD_METRICS_TOKEN") {
            let token = token.trim().to_owned();
            // A scraper's token sits in config files for years: make it unguessable.
            if token.chars().count() < 16 {
                return Err(ConfigError::Invalid {
                    name: "XYD_METRICS_TOKEN",
                    value: "***".to_owned(),
                    reason: "至少16个字符，可用 `openssl rand -hex 32` 生成",
                });
            }
            settings.metrics_token = Some(Secret::new(token));
        }
        if let Some(key) = get("XYD_SCREEN_KEY") {
            let key = key.trim().to_owned();
            // It sits in a URL on a screen's browser for years: make it unguessable.
            if key.chars().count() < 16 {
                return Err(ConfigError::Invalid {
                    name: "XYD_SCREEN_KEY",
                    value: "***".to_owned(),
                    reason: "至少16个字符，可用 `openssl rand -hex 16` 生成",
                });
            }
            settings.screen_key = Some(Secret::new(key));
        }
        if let Some(url) = get("XYD_SMTP_URL") {
            settings.mail.smtp_url = Some(Secret::new(url.trim()));
        }
        if let Some(from) = get("XYD_MAIL_FROM") {
            settings.mail.from = from.trim().to_owned();
        }
        if let Some(dir) = get("XYD_MAIL_DIR") {
            settings.mail.dir = std::path::PathBuf::from(dir.trim());
        }
        Ok(settings)
    }
}

/// The worker's knobs. Defaults suit production; tests and the crash drill shorten the lease and
/// the delays.
fn read_sync_settings(
    get: &impl Fn(&str) -> Option<String>,
    sync: &mut WorkerConfig,
) -> Result<(), ConfigError> {
    let number = |name: &'static str, max: u64| -> Result<Option<u64>, ConfigError> {
        get(name)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or(ConfigError::Invalid {
                        name,
                        value: v.clone(),
                        reason: "应为不超过上限的非负整数（见 .env.example）",
                    })
            })
            .transpose()
    };
    let positive = |name: &'static str, max: u64| -> Result<Option<u64>, ConfigError> {
        match number(name, max)? {
            Some(0) => Err(ConfigError::Invalid {
                name,
                value: "0".to_owned(),
                reason: "应为正整数",
            }),
            n => Ok(n),
        }
    };
    if let Some(s) = positive("XYD_SYNC_LEASE_SECS", 3600)? {
        sync.lease = Duration::from_secs(s);
    }
    if let Some(n) = positive("XYD_SYNC_BATCH", 1000)? {
        sync.batch = i64::try_from(n).unwrap_or(1000);
    }
    if let Some(n) = positive("XYD_SYNC_CONCURRENCY", 64)? {
        sync.concurrency = usize::try_from(n).unwrap_or(64);
    }
    if let Some(n) = positive("XYD_SYNC_MAX_ATTEMPTS", 1000)? {
        sync.max_attempts = i64::try_from(n).unwrap_or(1000);
    }
    if let Some(ms) = number("XYD_SYNC_BASE_DELAY_MS", 3_600_000)? {
        sync.base_delay = Duration::from_millis(ms);
    }
    if let Some(s) = positive("XYD_SYNC_MAX_DELAY_SECS", 86_400)? {
        sync.max_delay = Duration::from_secs(s);
    }
    if let Some(n) = positive("XYD_SYNC_BREAKER_THRESHOLD", 1000)? {
        sync.breaker_threshold = u32::try_from(n).unwrap_or(1000);
    }
    if let Some(ms) = positive("XYD_SYNC_BREAKER_COOLDOWN_MS", 3_600_000)? {
        sync.breaker_cooldown = Duration::from_millis(ms);
    }
    Ok(())
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`) for a switch variable.
fn parse_flag(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        other => Err(ConfigError::Invalid {
            name,
            value: other.to_owned(),
            reason: "应为 true 或 false",
        }),
    }
}

pub fn parse_listen(value: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        name: "XYD_LISTEN",
        value: value.to_owned(),
        reason: "应为 IP:端口，例如 127.0.0.1:8080",
    })
}

/// How the outbox worker paces itself (`XYD_SYNC_*`).
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How long a claimed row is ours; a crashed worker's rows come back after it.
    pub lease: Duration,
    pub batch: i64,
    /// Failed sends before a row goes to the dead-letter list (claims that a crash cut short
    /// do not count).
    pub max_attempts: i64,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Rows sent at the same time within a batch.
    pub concurrency: usize,
    /// Failures of the province itself (timeouts, 5xx, 429, no connection) that open the
    /// circuit breaker when they are also most (80 %) of its last 20 calls: a province that is
    /// down, not one that fails now and then.
    pub breaker_threshold: u32,
    /// How long the breaker stays open before one probe is let through.
    pub breaker_cooldown: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease: Duration::from_secs(60),
            batch: 50,
            max_attempts: 12,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
            concurrency: 16,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_need_no_environment() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.jurisdiction, "220322");
        assert_eq!(s.log_format, LogFormat::Pretty);
    }

    #[test]
    fn reads_every_variable() {
        let s = settings(&[
            ("DATABASE_URL", "postgres://app:secret@db.local:5432/xyd"),
            ("XYD_LISTEN", "0.0.0.0:9000"),
            ("XYD_JURISDICTION", "220300"),
            ("XYD_LOG_FORMAT", "json"),
            ("XYD_LOG", "debug"),
            ("XYD_DB_MAX_CONNECTIONS", "20"),
        ])
        .unwrap();
        assert!(s.database_url.is_postgres());
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.jurisdiction, "220300");
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.log_filter, "debug");
        assert_eq!(s.max_connections, 20);
    }

    #[test]
    fn debug_output_never_shows_the_database_password() {
        let s = settings(&[(
            "DATABASE_URL",
            "postgres://app:secret@db.local/xyd?sslmode=require",
        )])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("postgres://db.local/xyd"), "{shown}");
    }

    #[test]
    fn bad_values_are_named_in_chinese() {
        let err = settings(&[("XYD_LISTEN", "localhost")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("XYD_LISTEN") && err.contains("IP:端口"),
            "{err}"
        );
        let err = settings(&[("XYD_JURISDICTION", "2203")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("6位行政区划代码"), "{err}");
        assert!(settings(&[("DATABASE_URL", "mysql://x")]).is_err());
        assert!(settings(&[("XYD_LOG_FORMAT", "xml")]).is_err());
        assert!(settings(&[("XYD_DB_MAX_CONNECTIONS", "0")]).is_err());
        assert!(settings(&[("XYD_DATA_KEY", "abc")]).is_err());
        assert!(settings(&[("XYD_PUBLIC_URL", "example.org")]).is_err());
        assert!(settings(&[("XYD_METRICS_TOKEN", "short")]).is_err());
        assert!(settings(&[("XYD_SCREEN_KEY", "short")]).is_err());
        let key = "0123456789abcdef";
        let s = settings(&[("XYD_SCREEN_KEY", key)]).unwrap();
        assert_eq!(
            s.screen_key.map(|k| k.expose().to_owned()),
            Some(key.to_owned())
        );
        assert!(settings(&[("XYD_DIGEST_AT", "Monday 8am")]).is_err());
        assert!(settings(&[("XYD_DIGEST_AT", "MON 25:00")]).is_err());
    }

    #[test]
    fn digest_time_defaults_to_monday_morning() {
        assert_eq!(settings(&[]).unwrap().digest_at, DigestAt::default());
        let s = settings(&[("XYD_DIGEST_AT", "fri 17:30")]).unwrap();
        assert_eq!(s.digest_at.weekday, time::Weekday::Friday);
        assert_eq!(s.digest_at.time, time::macros::time!(17:30));
    }

    #[test]
    fn metric_settings_default_and_parse() {
        use crate::domain::entity_kind::EntityKind;
        use crate::domain::entity_status::EntityStatus;
        let s = settings(&[]).unwrap();
        assert_eq!(s.metric.excluded, vec![EntityStatus::Cancelled]);
        assert_eq!(s.metric.window_months, 12);
        assert_eq!(s.metric.weight_of(EntityKind::Enterprise), 10_000);
        let s = settings(&[
            (
                "XYD_METRIC_WEIGHTS",
                "individual_business:0.5, enterprise:2",
            ),
            ("XYD_METRIC_EXCLUDE", "moved_out,cancelled"),
            ("XYD_METRIC_WINDOW_MONTHS", "6"),
        ])
        .unwrap();
        assert_eq!(
            s.metric.weights,
            vec![
                (EntityKind::Enterprise, 20_000),
                (EntityKind::IndividualBusiness, 5_000)
            ]
        );
        assert_eq!(s.metric.weight_of(EntityKind::Other), 10_000);
        assert_eq!(
            s.metric.excluded,
            vec![EntityStatus::Cancelled, EntityStatus::MovedOut]
        );
        assert_eq!(s.metric.window_months, 6);
        let s = settings(&[("XYD_METRIC_EXCLUDE", "none")]).unwrap();
        assert!(s.metric.excluded.is_empty());
        for bad in [
            "enterprise",
            "shop:1",
            "enterprise:-1",
            "enterprise:0.12345",
            "enterprise:101",
            "enterprise:1,enterprise:2",
        ] {
            assert!(settings(&[("XYD_METRIC_WEIGHTS", bad)]).is_err(), "{bad}");
        }
        assert!(settings(&[("XYD_METRIC_EXCLUDE", "closed")]).is_err());
        assert!(settings(&[("XYD_METRIC_WINDOW_MONTHS", "0")]).is_err());
        assert!(settings(&[("XYD_METRIC_WINDOW_MONTHS", "61")]).is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let key = "ab".repeat(32);
        let s = settings(&[
            ("XYD_DATA_KEY", key.as_str()),
            ("XYD_SMTP_URL", "smtps://mailer:hunter2@smtp.example.org"),
            ("XYD_PUBLIC_URL", "https://xyd.example.org/"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains(&key) && !shown.contains("hunter2"),
            "{shown}"
        );
        assert_eq!(s.public_url, "https://xyd.example.org");
        assert!(s.secure_cookies);
    }
}

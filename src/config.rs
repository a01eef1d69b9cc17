//! Configuration: built-in defaults < TOML file (`--config`) < `HANDOFF_…` environment
//! variables (`__` between nested keys). Loaded and validated once at start-up; an invalid
//! or half-set value stops start-up with a message naming the key.

pub use crate::client_addr::Cidr;
use crate::secret::Secret;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub public_url: Option<String>,
    pub tls: TlsConfig,
    pub hubspot: HubSpotConfig,
    pub bot: BotConfig,
    pub retry: RetryConfig,
    pub store: StoreConfig,
    pub media: MediaConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub http: HttpConfig,
    /// Where each value the wizard could also set came from (`file …` or `environment`),
    /// for showing it locked. Filled by [`Config::from_figment`].
    #[serde(skip)]
    pub sources: BTreeMap<&'static str, String>,
    /// Names outside fetches resolve to fixed addresses, unchecked. Tests only: it is
    /// skipped by serde, so no file or environment variable can set it.
    #[serde(skip)]
    pub test_hosts: crate::net::TestHosts,
}

/// The keys the setup wizard can set; a value for one of them in the file or the
/// environment wins and is shown locked.
pub const WIZARD_KEYS: &[&str] = &[
    "public_url",
    "hubspot.client_id",
    "hubspot.client_secret",
    "hubspot.app_id",
    "hubspot.developer_api_key",
    "hubspot.refresh_token",
    "hubspot.inbox_id",
    "hubspot.inbox_ids",
    "bot.api_key",
    "bot.webhook_url",
    "bot.webhook_secret",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubSpotConfig {
    pub api_base: String,
    pub app_base: String,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub app_id: Option<String>,
    pub developer_api_key: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// The default inbox: sessions that name none go here.
    #[serde(deserialize_with = "lenient_opt_string")]
    pub inbox_id: Option<String>,
    /// Every inbox handoff connects a channel account on (`inbox_id` is always one of
    /// them). A list, or one string of comma-separated ids.
    #[serde(deserialize_with = "lenient_list")]
    pub inbox_ids: Vec<String>,
    /// Create a CRM contact for a user HubSpot does not know by email or phone.
    pub create_contacts: bool,
    /// Help Desk tickets: the category, pipeline and stage handoff sets (none by default).
    pub ticket: TicketConfig,
    pub rate_limit_per_10s: u32,
    /// Per-request timeout for calls to HubSpot.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// Properties handoff sets on a Help Desk session's ticket besides subject, content and
/// priority. Stage ids are per portal, so nothing is assumed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TicketConfig {
    #[serde(deserialize_with = "lenient_opt_string")]
    pub category: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub pipeline: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub pipeline_stage: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotConfig {
    pub api_key: Option<Secret>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<Secret>,
}

/// The retry schedule for every outbound delivery: `initial`, multiplied by `multiplier`
/// per attempt, capped at `max`, ±`jitter`, until `give_up_after` has passed since the
/// first attempt. Tests shrink it to milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    #[serde(with = "humantime_serde")]
    pub initial: Duration,
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    pub multiplier: f64,
    pub jitter: f64,
    #[serde(with = "humantime_serde")]
    pub give_up_after: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// sled's page cache; its own default (1 GiB) is far more than handoff needs.
    pub cache_capacity_mb: u64,
    /// How long a closed or failed session (and its user's personal data) is kept.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:8080".into(),
            data_dir: PathBuf::from("./data"),
            public_url: None,
            tls: TlsConfig::default(),
            hubspot: HubSpotConfig::default(),
            bot: BotConfig::default(),
            retry: RetryConfig::default(),
            store: StoreConfig::default(),
            media: MediaConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            http: HttpConfig::default(),
            sources: BTreeMap::new(),
            test_hosts: crate::net::TestHosts::default(),
        }
    }
}

impl Default for HubSpotConfig {
    fn default() -> Self {
        HubSpotConfig {
            api_base: "https://api.hubapi.com".into(),
            app_base: "https://app.hubspot.com".into(),
            client_id: None,
            client_secret: None,
            app_id: None,
            developer_api_key: None,
            refresh_token: None,
            inbox_id: None,
            inbox_ids: Vec::new(),
            create_contacts: true,
            ticket: TicketConfig::default(),
            rate_limit_per_10s: 100,
            timeout: Duration::from_secs(30),
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    /// JSON lines.
    Json,
}

/// `/metrics`: open by default (it holds counts only); a token for operators who expose
/// the port.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// Downloading the media of bot messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Refuse links to loopback and private addresses (off: a homelab bot serves its media
    /// from the LAN).
    pub block_private_networks: bool,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl MediaConfig {
    /// The addresses media (and HubSpot's file URLs) may be fetched from.
    pub fn address_policy(&self) -> crate::net::Policy {
        if self.block_private_networks {
            crate::net::Policy::PublicOnly
        } else {
            crate::net::Policy::AllowPrivate
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            block_private_networks: false,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The HTTP server's protection against slow and numerous clients, and who may speak for
/// the client's address.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Reverse proxies (CIDRs) whose `X-Forwarded-For` is believed; empty: none.
    pub trusted_proxies: Vec<Cidr>,
    /// The longest a request body may take to arrive, from the end of its headers.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// The longest the request headers may take to arrive.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
    /// Open connections per worker thread (one worker per CPU core); more wait to be
    /// accepted.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            trusted_proxies: Vec::new(),
            body_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(5),
            max_connections: 1024,
        }
    }
}

impl HttpConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("http.body_timeout", self.body_timeout),
            ("http.header_timeout", self.header_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be more than 0"));
            }
        }
        if self.max_connections == 0 {
            return Err(invalid("http.max_connections", "must be at least 1"));
        }
        Ok(())
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_capacity_mb: 64,
            retention: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

impl Config {
    /// Loads defaults, then the TOML file (if given), then `HANDOFF_…` variables, and
    /// validates the result.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::from_figment(Self::figment(file))
    }

    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::new();
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        // HANDOFF_CONFIG is the `--config` flag's own variable, not a key.
        figment.merge(Env::prefixed("HANDOFF_").split("__").ignore(&["config"]))
    }

    pub fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let mut config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        for key in WIZARD_KEYS {
            if let Some(meta) = figment.find_metadata(key) {
                let source = match &meta.source {
                    Some(figment::Source::File(path)) => format!("file {}", path.display()),
                    _ if meta.name.contains("environment") => {
                        format!(
                            "environment HANDOFF_{}",
                            key.replace('.', "__").to_uppercase()
                        )
                    }
                    _ => meta.name.to_string(),
                };
                config.sources.insert(key, source);
            }
        }
        Ok(config)
    }

    /// Where `key` (one of [`WIZARD_KEYS`]) is set in the configuration, if it is.
    pub fn source_of(&self, key: &str) -> Option<String> {
        let set = match key {
            "public_url" => self.public_url.is_some(),
            "hubspot.client_id" => self.hubspot.client_id.is_some(),
            "hubspot.client_secret" => self.hubspot.client_secret.is_some(),
            "hubspot.app_id" => self.hubspot.app_id.is_some(),
            "hubspot.developer_api_key" => self.hubspot.developer_api_key.is_some(),
            "hubspot.refresh_token" => self.hubspot.refresh_token.is_some(),
            "hubspot.inbox_id" => self.hubspot.inbox_id.is_some(),
            "hubspot.inbox_ids" => !self.hubspot.inbox_ids.is_empty(),
            "bot.api_key" => self.bot.api_key.is_some(),
            "bot.webhook_url" => self.bot.webhook_url.is_some(),
            "bot.webhook_secret" => self.bot.webhook_secret.is_some(),
            _ => false,
        };
        // A Config built in code (tests) has no recorded sources.
        set.then(|| {
            self.sources
                .get(key)
                .cloned()
                .unwrap_or_else(|| "configuration".into())
        })
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.parse().expect("validated in Config::validate")
    }

    /// The base URL HubSpot and browsers reach, without a trailing slash. Falls back to the
    /// listen address, which is right for a local trial and wrong behind a proxy.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => self.local_base(),
        }
    }

    /// The server as this machine reaches it, from `listen` (an unspecified address means
    /// this machine): the default public URL, and where the subcommands find the server.
    pub fn local_base(&self) -> String {
        let addr = self.listen_addr();
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let scheme = if self.tls.cert.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{host}:{}", addr.port())
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/webhooks/hubspot", self.public_base())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen.parse::<SocketAddr>().map_err(|e| {
            invalid(
                "listen",
                format!("`{}` is not an address: {e}", self.listen),
            )
        })?;
        if let Some(url) = &self.public_url {
            check_url("public_url", url)?;
            let parsed = Url::parse(url).expect("checked above");
            if parsed.query().is_some() || parsed.fragment().is_some() {
                return Err(invalid("public_url", "must not have a query or fragment"));
            }
        }
        both_or_neither(
            ("tls.cert", self.tls.cert.is_some()),
            ("tls.key", self.tls.key.is_some()),
        )?;
        self.hubspot.validate()?;
        self.bot.validate()?;
        self.retry.validate()?;
        self.http.validate()?;
        if self.media.timeout.is_zero() {
            return Err(invalid("media.timeout", "must be more than 0"));
        }
        if self.store.cache_capacity_mb == 0 {
            return Err(invalid("store.cache_capacity_mb", "must be at least 1"));
        }
        if self.store.retention < Duration::from_secs(24 * 3600) {
            return Err(invalid("store.retention", "must be at least 1 day"));
        }
        if self
            .metrics
            .token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            return Err(invalid("metrics.token", "must be at least 16 characters"));
        }
        Ok(())
    }
}

impl HubSpotConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_url("hubspot.api_base", &self.api_base)?;
        check_url("hubspot.app_base", &self.app_base)?;
        both_or_neither(
            ("hubspot.client_id", self.client_id.is_some()),
            ("hubspot.client_secret", self.client_secret.is_some()),
        )?;
        both_or_neither(
            ("hubspot.app_id", self.app_id.is_some()),
            (
                "hubspot.developer_api_key",
                self.developer_api_key.is_some(),
            ),
        )?;
        if self.refresh_token.is_some() && self.client_id.is_none() {
            return Err(invalid(
                "hubspot.refresh_token",
                "needs hubspot.client_id and hubspot.client_secret to be used",
            ));
        }
        digits("hubspot.app_id", self.app_id.as_deref())?;
        digits("hubspot.inbox_id", self.inbox_id.as_deref())?;
        for id in &self.inbox_ids {
            digits("hubspot.inbox_ids", Some(id))?;
        }
        if self.inbox_id.is_none() && !self.inbox_ids.is_empty() {
            return Err(invalid(
                "hubspot.inbox_id",
                "must name the default inbox when hubspot.inbox_ids is set",
            ));
        }
        for (key, value) in [
            ("hubspot.client_id", self.client_id.as_deref()),
            (
                "hubspot.client_secret",
                self.client_secret.as_ref().map(Secret::expose),
            ),
            (
                "hubspot.developer_api_key",
                self.developer_api_key.as_ref().map(Secret::expose),
            ),
            (
                "hubspot.refresh_token",
                self.refresh_token.as_ref().map(Secret::expose),
            ),
        ] {
            if value.is_some_and(|v| v.trim().is_empty()) {
                return Err(invalid(key, "is set but empty"));
            }
        }
        if self.rate_limit_per_10s == 0 {
            return Err(invalid("hubspot.rate_limit_per_10s", "must be at least 1"));
        }
        if self.timeout.is_zero() {
            return Err(invalid("hubspot.timeout", "must be more than 0"));
        }
        Ok(())
    }

    /// Everything needed to provision without the wizard is present.
    pub fn is_headless_complete(&self) -> bool {
        self.client_id.is_some()
            && self.client_secret.is_some()
            && self.app_id.is_some()
            && self.developer_api_key.is_some()
            && self.refresh_token.is_some()
            && self.inbox_id.is_some()
    }
}

/// Where the bot's webhook may point, however it was set: a homelab bot is on the LAN or
/// on this host, so only metadata, link-local, multicast and reserved addresses are refused.
pub(crate) const BOT_WEBHOOK_POLICY: crate::net::Policy = crate::net::Policy::AllowPrivate;

/// Why a bot webhook URL is refused before it is stored, however it is set (configuration,
/// `PUT /api/v1/webhook`, the wizard); see [`crate::net::refused_literal`]. A name is
/// checked again on every delivery.
pub(crate) fn refused_bot_webhook(url: &str) -> Option<String> {
    crate::net::refused_literal(url, BOT_WEBHOOK_POLICY)
}

impl BotConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(key) = &self.api_key
            && key.expose().len() < 16
        {
            return Err(invalid("bot.api_key", "must be at least 16 characters"));
        }
        if let Some(url) = &self.webhook_url {
            check_url("bot.webhook_url", url)?;
            if let Some(why) = refused_bot_webhook(url) {
                return Err(invalid(
                    "bot.webhook_url",
                    format!("`{url}` is refused: {why}"),
                ));
            }
            if self.webhook_secret.is_none() {
                return Err(invalid(
                    "bot.webhook_secret",
                    "must be set when bot.webhook_url is (a `whsec_…` secret)",
                ));
            }
        }
        if let Some(secret) = &self.webhook_secret {
            crate::secret::decode_secret(secret.expose())
                .map_err(|message| invalid("bot.webhook_secret", message))?;
        }
        Ok(())
    }
}

impl RetryConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.initial.is_zero() {
            return Err(invalid("retry.initial", "must be more than 0"));
        }
        if self.max < self.initial {
            return Err(invalid("retry.max", "must not be less than retry.initial"));
        }
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return Err(invalid("retry.multiplier", "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(invalid("retry.jitter", "must be in [0, 1)"));
        }
        Ok(())
    }
}

fn check_url(key: &'static str, value: &str) -> Result<(), ConfigError> {
    let url =
        Url::parse(value).map_err(|e| invalid(key, format!("`{value}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(key, format!("`{value}` must be an http(s) URL")));
    }
    Ok(())
}

fn both_or_neither(a: (&'static str, bool), b: (&'static str, bool)) -> Result<(), ConfigError> {
    match (a.1, b.1) {
        (true, false) => Err(invalid(b.0, format!("must be set when {} is", a.0))),
        (false, true) => Err(invalid(a.0, format!("must be set when {} is", b.0))),
        _ => Ok(()),
    }
}

fn digits(key: &'static str, value: Option<&str>) -> Result<(), ConfigError> {
    match value {
        Some(v) if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) => {
            Err(invalid(key, format!("`{v}` must be a numeric id")))
        }
        _ => Ok(()),
    }
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    crate::secret::lenient_string(d).map(Some)
}

/// A list of ids: `[1, "2"]` in TOML, or `"1,2"` (what an environment variable holds).
fn lenient_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Many(Vec<serde_json::Value>),
        One(serde_json::Value),
    }
    let text = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let items: Vec<String> = match List::deserialize(d)? {
        List::Many(values) => values.into_iter().filter_map(text).collect(),
        List::One(value) => text(value)
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

#[cfg(test)]
// figment's Jail closures return its large error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load_in(jail: &Jail, toml: Option<&str>) -> Result<Config, ConfigError> {
        let path = toml.map(|t| {
            jail.create_file("handoff.toml", t).unwrap();
            jail.directory().join("handoff.toml")
        });
        Config::load(path.as_deref())
    }

    #[test]
    fn inbox_lists_come_as_lists_or_comma_separated() {
        Jail::expect_with(|jail| {
            let c = load_in(
                jail,
                Some("[hubspot]\ninbox_id = 1\ninbox_ids = [2, \"3\"]\n[hubspot.ticket]\npipeline = 0\n"),
            )
            .unwrap();
            assert_eq!(c.hubspot.inbox_ids, ["2", "3"]);
            assert_eq!(c.hubspot.ticket.pipeline.as_deref(), Some("0"));
            assert!(c.hubspot.create_contacts, "on by default");
            jail.set_env("HANDOFF_HUBSPOT__INBOX_IDS", "4, 5");
            jail.set_env("HANDOFF_HUBSPOT__CREATE_CONTACTS", "false");
            let c = load_in(jail, Some("[hubspot]\ninbox_id = 1\n")).unwrap();
            assert_eq!(c.hubspot.inbox_ids, ["4", "5"]);
            assert!(!c.hubspot.create_contacts);
            jail.set_env("HANDOFF_HUBSPOT__INBOX_IDS", "4,x");
            let err = load_in(jail, Some("[hubspot]\ninbox_id = 1\n")).unwrap_err();
            assert!(err.to_string().contains("hubspot.inbox_ids"), "{err}");
            jail.set_env("HANDOFF_HUBSPOT__INBOX_IDS", "4");
            let err = load_in(jail, None).unwrap_err();
            assert!(err.to_string().contains("default inbox"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn defaults_match_the_design() {
        Jail::expect_with(|jail| {
            let c = load_in(jail, None).unwrap();
            assert_eq!(c.listen, "0.0.0.0:8080");
            assert_eq!(c.data_dir, PathBuf::from("./data"));
            assert_eq!(c.hubspot.api_base, "https://api.hubapi.com");
            assert_eq!(c.hubspot.app_base, "https://app.hubspot.com");
            assert_eq!(c.hubspot.rate_limit_per_10s, 100);
            assert_eq!(c.retry.initial, Duration::from_secs(1));
            assert_eq!(c.retry.max, Duration::from_secs(60));
            assert_eq!(c.retry.give_up_after, Duration::from_secs(86400));
            assert!(!c.hubspot.is_headless_complete());
            Ok(())
        });
    }

    #[test]
    fn env_overrides_file_and_numbers_become_strings() {
        Jail::expect_with(|jail| {
            jail.set_env("HANDOFF_HUBSPOT__APP_ID", "123");
            jail.set_env("HANDOFF_HUBSPOT__DEVELOPER_API_KEY", "4567");
            jail.set_env("HANDOFF_LISTEN", "127.0.0.1:9000");
            let c = load_in(
                jail,
                Some("listen = \"127.0.0.1:7000\"\n[hubspot]\ninbox_id = 42\nrate_limit_per_10s = 50\n"),
            )
            .unwrap();
            assert_eq!(c.listen, "127.0.0.1:9000");
            assert_eq!(c.hubspot.app_id.as_deref(), Some("123"));
            assert_eq!(c.hubspot.developer_api_key.unwrap().expose(), "4567");
            assert_eq!(c.hubspot.inbox_id.as_deref(), Some("42"));
            assert_eq!(c.hubspot.rate_limit_per_10s, 50);
            Ok(())
        });
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("HANDOFF_LISTEN", "nope", "`listen`"),
            ("HANDOFF_PUBLIC_URL", "ftp://x", "`public_url`"),
            (
                "HANDOFF_HUBSPOT__CLIENT_ID",
                "abc",
                "`hubspot.client_secret`",
            ),
            (
                "HANDOFF_HUBSPOT__APP_ID",
                "12a",
                "`hubspot.developer_api_key`",
            ),
            ("HANDOFF_HUBSPOT__INBOX_ID", "inbox", "`hubspot.inbox_id`"),
            (
                "HANDOFF_HUBSPOT__REFRESH_TOKEN",
                "r",
                "`hubspot.refresh_token`",
            ),
            (
                "HANDOFF_HUBSPOT__RATE_LIMIT_PER_10S",
                "0",
                "`hubspot.rate_limit_per_10s`",
            ),
            (
                "HANDOFF_BOT__WEBHOOK_URL",
                "http://bot.local/hook",
                "`bot.webhook_secret`",
            ),
            (
                "HANDOFF_BOT__WEBHOOK_URL",
                "http://169.254.169.254/latest",
                "`bot.webhook_url`",
            ),
            (
                "HANDOFF_BOT__WEBHOOK_SECRET",
                "plain",
                "`bot.webhook_secret`",
            ),
            ("HANDOFF_BOT__API_KEY", "short", "`bot.api_key`"),
            ("HANDOFF_TLS__CERT", "/tmp/c.pem", "`tls.key`"),
            ("HANDOFF_RETRY__JITTER", "2", "`retry.jitter`"),
        ];
        for (var, value, key) in cases {
            Jail::expect_with(|jail| {
                jail.set_env(var, value);
                let err = load_in(jail, None).unwrap_err().to_string();
                assert!(
                    err.contains(key),
                    "{var}={value}: `{err}` should name {key}"
                );
                Ok(())
            });
        }
    }

    #[test]
    fn unknown_and_mistyped_keys_are_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("HANDOFF_HUBSPOT__CLIENTID", "x");
            let err = load_in(jail, None).unwrap_err().to_string();
            assert!(err.contains("clientid"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            let err = load_in(jail, Some("[retry]\ninitial = \"soon\"\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("retry.initial") || err.contains("initial"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        Jail::expect_with(|jail| {
            jail.set_env("HANDOFF_HUBSPOT__CLIENT_ID", "client");
            jail.set_env("HANDOFF_HUBSPOT__CLIENT_SECRET", "topsecret-value");
            jail.set_env("HANDOFF_BOT__API_KEY", "bot-key-0123456789abcdef");
            let c = load_in(jail, None).unwrap();
            let dump = format!("{c:?}");
            assert!(!dump.contains("topsecret-value") && !dump.contains("bot-key-0123"));
            assert!(dump.contains("[REDACTED]"));
            Ok(())
        });
    }

    #[test]
    fn sources_say_where_a_wizard_key_is_locked() {
        Jail::expect_with(|jail| {
            jail.set_env("HANDOFF_HUBSPOT__INBOX_ID", "42");
            let c = load_in(jail, Some("public_url = \"https://h.example.com\"\n")).unwrap();
            assert_eq!(
                c.source_of("hubspot.inbox_id").as_deref(),
                Some("environment HANDOFF_HUBSPOT__INBOX_ID")
            );
            let file = c.source_of("public_url").unwrap();
            assert!(
                file.starts_with("file ") && file.ends_with("handoff.toml"),
                "{file}"
            );
            assert_eq!(c.source_of("bot.api_key"), None);
            Ok(())
        });
    }

    #[test]
    fn public_base_defaults_to_listen_address() {
        Jail::expect_with(|jail| {
            jail.set_env("HANDOFF_LISTEN", "0.0.0.0:8123");
            let c = load_in(jail, None).unwrap();
            assert_eq!(c.webhook_url(), "http://127.0.0.1:8123/webhooks/hubspot");
            jail.set_env("HANDOFF_PUBLIC_URL", "https://handoff.example.com/");
            let c = load_in(jail, None).unwrap();
            assert_eq!(
                c.webhook_url(),
                "https://handoff.example.com/webhooks/hubspot"
            );
            Ok(())
        });
    }

    #[test]
    fn http_keys_load_from_the_environment_and_bad_ranges_are_named() {
        Jail::expect_with(|jail| {
            jail.set_env("HANDOFF_HTTP__TRUSTED_PROXIES", "[\"10.0.0.0/8\", \"::1\"]");
            jail.set_env("HANDOFF_HTTP__BODY_TIMEOUT", "3s");
            let c = load_in(jail, None).unwrap();
            assert_eq!(c.http.trusted_proxies.len(), 2);
            assert!(c.http.trusted_proxies[0].contains("10.2.3.4".parse().unwrap()));
            assert_eq!(c.http.body_timeout, Duration::from_secs(3));
            assert_eq!(c.http.max_connections, 1024);
            Ok(())
        });
        Jail::expect_with(|jail| {
            let err = load_in(jail, Some("[http]\ntrusted_proxies = [\"10.0.0.0/40\"]\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("10.0.0.0/40"), "{err}");
            Ok(())
        });
    }
}

//! The values handoff runs with. A value from the configuration file or the environment
//! wins and is locked; otherwise the one the setup wizard saved in the store is used. A
//! wizard change takes effect at once and survives restarts.

use crate::config::Config;
use crate::relay::StoreError;
use crate::relay::records::WizardSettings;
use crate::relay::repo::SettingsRepo;
use crate::secret::{Secret, constant_time_eq};
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The HubSpot app's OAuth client. Only [`Settings`] holds it (configured or saved by the
/// wizard); the token manager asks for it when it needs it, so a change is never a copy
/// to re-sync.
#[derive(Clone, Debug, PartialEq)]
pub struct AppCredentials {
    pub(crate) client_id: String,
    pub client_secret: Secret,
}

/// The developer-level credentials for channel and app-webhook settings.
#[derive(Clone, Debug)]
pub(crate) struct DeveloperCredentials {
    pub(crate) app_id: String,
    pub(crate) api_key: Secret,
}

/// Where the bot's events go and the key they are signed with.
#[derive(Clone)]
pub(crate) struct BotWebhook {
    pub(crate) url: String,
    pub(crate) key: Arc<[u8]>,
}

pub struct Settings {
    config: Arc<Config>,
    store: Arc<dyn SettingsRepo>,
    saved: RwLock<Saved>,
    /// Woken when the wizard saves other HubSpot app credentials (provisioning looks
    /// again; other changes ask for that themselves).
    pub(crate) credentials_changed: tokio::sync::Notify,
}

/// What the wizard saved, and the bot webhook that results (decoded once per change, since
/// every event asks for it).
struct Saved {
    wizard: WizardSettings,
    webhook: Option<BotWebhook>,
}

impl Saved {
    fn new(config: &Config, wizard: WizardSettings) -> Saved {
        let webhook = bot_webhook(config, &wizard);
        Saved { wizard, webhook }
    }
}

/// The bot's webhook from the configuration, else from what the wizard saved.
fn bot_webhook(config: &Config, saved: &WizardSettings) -> Option<BotWebhook> {
    let b = &config.bot;
    let url = b.webhook_url.clone().or(saved.bot_webhook_url.clone())?;
    let secret = match &b.webhook_secret {
        Some(s) => s.expose().to_string(),
        None => saved.bot_webhook_secret.clone()?,
    };
    // Both sources are validated before they are kept, so this only fails on a damaged
    // store; then there is no usable webhook.
    let key = crate::secret::decode_secret(&secret).ok()?;
    Some(BotWebhook {
        url,
        key: key.into(),
    })
}

/// The digest the store keeps of a wizard-generated bot API key.
pub(crate) fn api_key_digest(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Settings {
    pub fn load(config: Arc<Config>, store: Arc<dyn SettingsRepo>) -> Result<Settings, StoreError> {
        let saved = Saved::new(&config, store.wizard_settings()?);
        Ok(Settings {
            config,
            store,
            saved: RwLock::new(saved),
            credentials_changed: tokio::sync::Notify::new(),
        })
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// What the wizard saved (values the configuration overrides included).
    pub fn saved(&self) -> WizardSettings {
        self.saved.read().wizard.clone()
    }

    /// Changes what the wizard saved and waits until it is on disk.
    pub(crate) async fn update(
        &self,
        change: impl FnOnce(&mut WizardSettings),
    ) -> Result<(), StoreError> {
        let before = (self.app_credentials(), self.developer().map(|d| d.app_id));
        {
            let mut saved = self.saved.write();
            let mut next = saved.wizard.clone();
            change(&mut next);
            self.store.set_wizard_settings(&next)?;
            *saved = Saved::new(&self.config, next);
        }
        if before != (self.app_credentials(), self.developer().map(|d| d.app_id)) {
            self.credentials_changed.notify_waiters();
        }
        self.store.flush().await
    }

    /// Where `key` is set in the configuration, when it is (the wizard cannot change it).
    pub(crate) fn locked(&self, key: &str) -> Option<String> {
        self.config.source_of(key)
    }

    /// The base URL HubSpot and browsers reach, without a trailing slash.
    pub fn public_base(&self) -> String {
        match (
            &self.config.public_url,
            &self.saved.read().wizard.public_url,
        ) {
            (None, Some(saved)) => saved.trim_end_matches('/').to_string(),
            _ => self.config.public_base(),
        }
    }

    pub(crate) fn webhook_url(&self) -> String {
        format!("{}/webhooks/hubspot", self.public_base())
    }

    pub(crate) fn redirect_url(&self) -> String {
        format!("{}/oauth/callback", self.public_base())
    }

    /// Cookies get `Secure` when browsers reach handoff over https.
    pub(crate) fn is_https(&self) -> bool {
        self.public_base().starts_with("https://")
    }

    pub fn inbox_id(&self) -> Option<String> {
        self.config
            .hubspot
            .inbox_id
            .clone()
            .or_else(|| self.saved.read().wizard.inbox_id.clone())
    }

    /// Every inbox handoff connects: the default first, then the others, once each. The
    /// configuration's list wins over the wizard's, as a whole.
    pub(crate) fn inbox_ids(&self) -> Vec<String> {
        let others =
            if self.config.hubspot.inbox_ids.is_empty() && self.config.hubspot.inbox_id.is_none() {
                self.saved.read().wizard.inbox_ids.clone()
            } else {
                self.config.hubspot.inbox_ids.clone()
            };
        let mut all: Vec<String> = self.inbox_id().into_iter().collect();
        for id in others {
            if !all.contains(&id) {
                all.push(id);
            }
        }
        all
    }

    pub fn app_credentials(&self) -> Option<AppCredentials> {
        let h = &self.config.hubspot;
        if let (Some(id), Some(secret)) = (&h.client_id, &h.client_secret) {
            return Some(AppCredentials {
                client_id: id.clone(),
                client_secret: secret.clone(),
            });
        }
        let saved = &self.saved.read().wizard;
        Some(AppCredentials {
            client_id: saved.client_id.clone()?,
            client_secret: Secret::new(saved.client_secret.clone()?),
        })
    }

    pub(crate) fn developer(&self) -> Option<DeveloperCredentials> {
        let h = &self.config.hubspot;
        if let (Some(app_id), Some(key)) = (&h.app_id, &h.developer_api_key) {
            return Some(DeveloperCredentials {
                app_id: app_id.clone(),
                api_key: key.clone(),
            });
        }
        let saved = &self.saved.read().wizard;
        Some(DeveloperCredentials {
            app_id: saved.app_id.clone()?,
            api_key: Secret::new(saved.developer_api_key.clone()?),
        })
    }

    /// Whether the bot has an API key at all (configured or generated by the wizard).
    pub(crate) fn has_bot_key(&self) -> bool {
        self.config.bot.api_key.is_some() || self.saved.read().wizard.bot_api_key_sha256.is_some()
    }

    /// Checks a presented bot API key in constant time; `None` when there is no key yet.
    pub fn check_bot_key(&self, presented: &str) -> Option<bool> {
        if let Some(key) = &self.config.bot.api_key {
            return Some(constant_time_eq(key.expose(), presented));
        }
        let digest = self.saved.read().wizard.bot_api_key_sha256.clone()?;
        Some(constant_time_eq(&digest, &api_key_digest(presented)))
    }

    pub(crate) fn bot_webhook(&self) -> Option<BotWebhook> {
        self.saved.read().webhook.clone()
    }

    pub(crate) fn has_bot_webhook(&self) -> bool {
        self.saved.read().webhook.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn settings(config: Config) -> (tempfile::TempDir, Settings) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        (
            dir,
            Settings::load(Arc::new(config), Arc::new(store)).unwrap(),
        )
    }

    #[tokio::test]
    async fn configuration_wins_over_the_wizard_and_saved_values_survive() {
        let mut config = Config::default();
        config.hubspot.inbox_id = Some("42".into());
        let (dir, s) = settings(config.clone());
        s.update(|w| {
            w.inbox_id = Some("7".into());
            w.public_url = Some("https://wizard.example.com/".into());
            w.bot_api_key_sha256 = Some(api_key_digest("generated-key-0123456789"));
        })
        .await
        .unwrap();
        assert_eq!(s.inbox_id().as_deref(), Some("42"));
        assert_eq!(s.public_base(), "https://wizard.example.com");
        assert!(s.is_https());
        assert_eq!(s.check_bot_key("generated-key-0123456789"), Some(true));
        assert_eq!(s.check_bot_key("generated-key-0123456780"), Some(false));
        drop(s);
        let store = Store::open(dir.path(), 8).unwrap();
        let reopened = Settings::load(Arc::new(config), Arc::new(store)).unwrap();
        assert_eq!(reopened.saved().inbox_id.as_deref(), Some("7"));
        assert_eq!(reopened.public_base(), "https://wizard.example.com");
    }

    #[test]
    fn no_key_means_no_bot_access() {
        let (_dir, s) = settings(Config::default());
        assert_eq!(s.check_bot_key("anything"), None);
        assert!(!s.has_bot_key());
        assert!(s.bot_webhook().is_none());
        assert!(s.app_credentials().is_none());
    }
}

//! "Can we publish?", computed in one place: `/readyz`, the `handoff_ready` metric, the
//! dashboard and the HubSpot worker all ask this, so none of them can say "ready" while
//! another knows why not (a purged channel account stopped only `/readyz` before).

use super::client::HubSpot;
use super::oauth::AuthProblem;
use super::provision::{ProvisionState, ProvisionStatus};
use crate::relay::repo::SettingsRepo;
use crate::settings::Settings;
use std::sync::Arc;

pub(crate) struct Readiness {
    pub(crate) hubspot: Arc<HubSpot>,
    pub(crate) provision: Arc<ProvisionState>,
    pub(crate) store: Arc<dyn SettingsRepo>,
    pub(crate) settings: Arc<Settings>,
    /// What works less than it could, without stopping anything (a missing optional
    /// scope, a ticket that never appeared): shown on the dashboard and in `/readyz`.
    pub(crate) warnings: Arc<Warnings>,
}

/// Warnings by code, the latest message each. In memory: a restart forgets them, and the
/// next occurrence records them again.
#[derive(Default)]
pub(crate) struct Warnings(parking_lot::Mutex<std::collections::BTreeMap<&'static str, String>>);

impl Warnings {
    pub(crate) fn set(&self, code: &'static str, message: impl Into<String>) {
        let message = message.into();
        let mut all = self.0.lock();
        if all.get(code) != Some(&message) {
            tracing::warn!(code, message, "warning");
            all.insert(code, message);
        }
    }

    pub(crate) fn clear(&self, code: &'static str) {
        self.0.lock().remove(code);
    }

    pub(crate) fn list(&self) -> Vec<(&'static str, String)> {
        self.0.lock().iter().map(|(c, m)| (*c, m.clone())).collect()
    }
}

impl Readiness {
    /// Why handoff cannot publish right now, as `(code, message)`; empty when it can.
    pub(crate) fn reasons(&self) -> Vec<(&'static str, String)> {
        let mut reasons = Vec::new();
        if self.store.check().is_err() {
            reasons.push(("store-unavailable", "the store cannot be read".to_string()));
        }
        match self.hubspot.tokens.problem() {
            Some(AuthProblem::NotConfigured) => reasons.push((
                "hubspot-not-configured",
                "HubSpot app credentials or the refresh token are missing".into(),
            )),
            Some(AuthProblem::ReauthorizationRequired(m)) => {
                reasons.push(("hubspot-reauthorization-required", m))
            }
            Some(AuthProblem::CredentialsRefused(m)) => {
                reasons.push(("hubspot-credentials-refused", m))
            }
            None => {}
        }
        match self.provision.status() {
            ProvisionStatus::Ready(p) => match self.store.account_purged(&p.account_id) {
                Ok(false) => {}
                Ok(true) => reasons.push((
                    "channel-account-purged",
                    format!(
                        "HubSpot deleted channel account {}; connect the inbox again",
                        p.account_id
                    ),
                )),
                Err(e) => reasons.push(("store-unavailable", format!("the store failed: {e}"))),
            },
            ProvisionStatus::Waiting if self.settings.inbox_id().is_none() => {
                reasons.push(("channel-not-provisioned", "no inbox is chosen yet".into()))
            }
            ProvisionStatus::Waiting => reasons.push((
                "channel-not-provisioned",
                "waiting for HubSpot credentials".into(),
            )),
            ProvisionStatus::Running(step) => {
                reasons.push(("channel-not-provisioned", format!("provisioning: {step}")))
            }
            ProvisionStatus::Failed { step, message } => reasons.push((
                "channel-not-provisioned",
                format!("provisioning failed at {step}: {message}"),
            )),
        }
        reasons
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.reasons().is_empty()
    }

    /// What degrades without making handoff unready: recorded warnings, and channel
    /// accounts other than the default's that HubSpot deleted (their sessions wait).
    pub(crate) fn warnings(&self) -> Vec<(&'static str, String)> {
        let mut warnings = self.warnings.list();
        if let ProvisionStatus::Ready(p) = self.provision.status() {
            for account in p.accounts.iter().skip(1) {
                if self
                    .store
                    .account_purged(&account.account_id)
                    .unwrap_or(false)
                {
                    warnings.push((
                        "channel-account-purged",
                        format!(
                            "HubSpot deleted channel account {} on inbox {}; its sessions wait until it is connected again",
                            account.account_id, account.inbox_id
                        ),
                    ));
                }
            }
        }
        warnings
    }
}

//! Assembles handoff: store, HubSpot client, outbox workers, provisioning and the HTTP
//! server. Everything is built once, outside actix's per-worker factory, and shared.

use crate::bot::deliver::BotDeliverer;
use crate::config::Config;
use crate::error::extractors;
use crate::events::EventLog;
use crate::http_client::http_client;
use crate::hubspot::HubSpot;
use crate::hubspot::inbound::InboundProcessor;
use crate::hubspot::provision::{ProvisionState, ProvisionStatus, Provisioner};
use crate::hubspot::publisher::Publisher;
use crate::hubspot::readiness::Readiness;
use crate::outbox::retry::RetryPolicy;
use crate::outbox::worker::{self, WorkerConfig};
use crate::outbox::{Outbox, QueueView};
use crate::relay::{BotJob, HubSpotJob, InboundJob};
use crate::settings::Settings;
use crate::store::{Store, StoreError};
use actix_web::{App, HttpServer, middleware, web};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The parts `start` built and shares: the provisioning loop and tests hold them. Request
/// handlers never see this; each surface gets its own state (`BotApi`, `Ingress`,
/// `AdminState`, `Ops`, the file links).
pub struct AppState {
    pub store: Store,
    pub hubspot: Arc<HubSpot>,
    pub provision: Arc<ProvisionState>,
    pub hubspot_outbox: Arc<Outbox<HubSpotJob>>,
    pub inbound_outbox: Arc<Outbox<InboundJob>>,
    pub bot_outbox: Arc<Outbox<BotJob>>,
    /// The configuration merged with what the wizard saved.
    pub settings: Arc<Settings>,
    pub admin: Arc<crate::web::auth::AdminAuth>,
    pub file_links: Arc<crate::hubspot::files::FileLinks>,
}

impl AppState {
    /// Every queue, whatever its job type (metrics, the dashboard).
    fn queues(&self) -> Vec<Arc<dyn QueueView>> {
        vec![
            self.hubspot_outbox.clone(),
            self.inbound_outbox.clone(),
            self.bot_outbox.clone(),
        ]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// A running handoff. Dropping it does not stop it; call [`Running::stop`].
pub struct Running {
    pub state: web::Data<AppState>,
    server: actix_web::dev::ServerHandle,
    server_task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

impl Running {
    /// Graceful shutdown: stop accepting requests, let in-flight deliveries finish (or
    /// leave them queued), flush the store.
    pub async fn stop(mut self) {
        self.server.stop(true).await;
        let _ = (&mut self.server_task).await;
        self.finish().await;
    }

    /// Waits until the HTTP server ends (it is stopped through [`Running::handle`]), then
    /// shuts the background work down.
    pub async fn wait(mut self) -> std::io::Result<()> {
        let result = (&mut self.server_task)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.finish().await;
        result
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.clone()
    }

    async fn finish(self) {
        let _ = self.shutdown.send(true);
        for task in self.background {
            let _ = task.await;
        }
        if let Err(e) = self.state.store.flush_blocking() {
            tracing::error!(error = %e, "final flush failed");
        }
        tracing::info!("handoff stopped");
    }
}

/// Starts handoff on an already-bound listener (tests bind `127.0.0.1:0`).
pub async fn start(config: Config, listener: TcpListener) -> Result<Running, StartError> {
    // Before anything else, so a bad certificate stops start-up before the store is opened.
    let tls = crate::tls::server_config(&config.tls)?;
    let config = Arc::new(config);
    let store = Store::open(&config.data_dir, config.store.cache_capacity_mb)?;
    let http = http_client(config.hubspot.timeout);
    // The sled store behind every seam (`relay::repo`).
    let repo = Arc::new(store.clone());
    let settings = Arc::new(Settings::load(config.clone(), repo.clone())?);
    let hubspot = Arc::new(HubSpot::new(
        http,
        &config.hubspot.api_base,
        config.hubspot.rate_limit_per_10s,
        repo.clone(),
        settings.clone(),
    )?);
    if let Some(token) = &config.hubspot.refresh_token {
        hubspot.tokens.adopt_configured_token(token)?;
    }
    let provision = Arc::new(ProvisionState::default());
    let hubspot_outbox = Arc::new(Outbox::recover(repo.clone())?);
    let inbound_outbox = Arc::new(Outbox::recover(repo.clone())?);
    let bot_outbox = Arc::new(Outbox::recover(repo.clone())?);
    let events = Arc::new(EventLog::new(
        repo.clone(),
        settings.clone(),
        bot_outbox.clone(),
        hubspot_outbox.clone(),
    ));
    let admin = Arc::new(crate::web::auth::AdminAuth::load(&store)?);
    let backup_token = crate::secret::Secret::new(crate::web::auth::random_token());
    crate::store::backup::write_token(&config.data_dir, backup_token.expose())?;
    let file_links = Arc::new(crate::hubspot::files::FileLinks::new(
        store.signing_key("files")?,
        settings.clone(),
    ));
    let readiness = Arc::new(Readiness {
        hubspot: hubspot.clone(),
        provision: provision.clone(),
        store: repo.clone(),
        settings: settings.clone(),
        warnings: Arc::default(),
    });
    let state = web::Data::new(AppState {
        store: store.clone(),
        hubspot: hubspot.clone(),
        provision: provision.clone(),
        hubspot_outbox: hubspot_outbox.clone(),
        inbound_outbox: inbound_outbox.clone(),
        bot_outbox: bot_outbox.clone(),
        settings: settings.clone(),
        admin: admin.clone(),
        file_links: file_links.clone(),
    });
    let setup_token = admin.setup_token();
    let bot_api = web::Data::new(crate::bot::api::BotApi {
        store: repo.clone(),
        settings: settings.clone(),
        hubspot_outbox: hubspot_outbox.clone(),
        events: events.clone(),
        availability: Arc::new(crate::hubspot::availability::UsersAvailability::new(
            hubspot.clone(),
        )),
    });
    let ingress = web::Data::new(crate::hubspot::webhook::Ingress {
        settings: settings.clone(),
        store: repo.clone(),
        inbound_outbox: inbound_outbox.clone(),
        provision: provision.clone(),
    });
    let bot_http = Arc::new(crate::bot::deliver::bot_client(&config.test_hosts));
    let admin_state = web::Data::new(crate::web::AdminState {
        config: config.clone(),
        bot_http: bot_http.clone(),
        store: store.clone(),
        settings: settings.clone(),
        hubspot: hubspot.clone(),
        provision: provision.clone(),
        readiness: readiness.clone(),
        queues: state.queues(),
        admin,
    });
    let ops = web::Data::new(crate::ops::Ops {
        store: store.clone(),
        readiness: readiness.clone(),
        hubspot: hubspot.clone(),
        queues: state.queues(),
        metrics_token: config.metrics.token.clone(),
        backup_token,
        data_dir: config.data_dir.clone(),
    });
    let links = web::Data::new(crate::hubspot::files::FileProxy {
        links: file_links.clone(),
        hubspot: hubspot.clone(),
    });

    let (shutdown, shutdown_rx) = watch::channel(false);
    let policy = RetryPolicy::new(config.retry.clone());
    let worker_config = WorkerConfig {
        max_in_flight: 32,
        lease: config.hubspot.timeout * 3,
        shutdown_grace: Duration::from_secs(10),
        policy: policy.clone(),
    };
    let publisher = Arc::new(Publisher {
        readiness: readiness.clone(),
        hubspot: hubspot.clone(),
        media: crate::media::Fetcher::new(&config, crate::hubspot::provision::MAX_FILE_BYTES),
        store: repo.clone(),
        accounts: repo.clone(),
        provision: provision.clone(),
        events: events.clone(),
        outbox: hubspot_outbox.clone(),
        create_contacts: config.hubspot.create_contacts,
        tickets: config.hubspot.ticket.clone(),
        // Room left in the lease for an upload under way and the publish.
        media_budget: worker_config
            .lease
            .saturating_sub(config.hubspot.timeout * 2),
    });
    let processor = Arc::new(InboundProcessor::new(
        hubspot.clone(),
        repo.clone(),
        events.clone(),
        file_links,
    ));
    let background = vec![
        tokio::spawn(worker::run(
            hubspot_outbox,
            publisher,
            worker_config.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(worker::run(
            inbound_outbox,
            processor,
            worker_config.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(prune(
            store.clone(),
            config.store.retention,
            shutdown_rx.clone(),
        )),
        tokio::spawn(worker::run(
            bot_outbox,
            Arc::new(BotDeliverer {
                http: bot_http.clone(),
                settings: settings.clone(),
                store: repo.clone(),
                events: events.clone(),
            }),
            worker_config,
            shutdown_rx.clone(),
        )),
        tokio::spawn(provision_loop(state.clone(), policy, shutdown_rx)),
    ];

    let addr = listener.local_addr()?;
    let http = config.http.clone();
    let body_timeout = http.body_timeout;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(bot_api.clone())
            .app_data(ingress.clone())
            .app_data(admin_state.clone())
            .app_data(ops.clone())
            .app_data(links.clone())
            .app_data(extractors::json_config())
            .app_data(extractors::query_config())
            .app_data(extractors::path_config())
            .app_data(extractors::payload_config())
            .app_data(extractors::form_config())
            .wrap_fn(move |req, srv| crate::body_deadline::middleware(body_timeout, req, srv))
            .wrap_fn(crate::metrics::middleware)
            .wrap(
                // The path only: a query can hold a secret (a file link's signature,
                // the setup token), and the access log must not.
                middleware::Logger::new("%{path}xi %s %Dms id=%{x-request-id}i")
                    .custom_request_replace("path", |req| req.path().to_string())
                    .log_target("handoff::http"),
            )
            .wrap_fn(crate::request_id::middleware)
            .configure(crate::ops::routes)
            .configure(crate::bot::api::routes)
            .configure(crate::hubspot::files::routes)
            .configure(crate::hubspot::webhook::routes)
            .configure(crate::web::routes)
            .default_service(web::to(crate::ops::not_found))
    })
    .disable_signals()
    // Slow and numerous clients: headers must arrive in time (bodies have their own
    // deadline, see `body_deadline`), idle connections close, and each worker holds at
    // most so many connections (further ones wait in the listen backlog).
    .client_request_timeout(http.header_timeout)
    .client_disconnect_timeout(Duration::from_secs(1))
    .keep_alive(http.keep_alive)
    .max_connections(http.max_connections)
    .shutdown_timeout(10);
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    }
    .run();
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    tracing::info!(%addr, public_url = %settings.public_base(), "handoff is listening");
    if let Some(token) = setup_token {
        // The one place a credential is printed: the operator needs it to claim handoff.
        tracing::info!(
            "first run: open {}/setup?token={token} to set the admin password",
            settings.public_base()
        );
    }
    Ok(Running {
        state,
        server: handle,
        server_task,
        background,
        shutdown,
    })
}

/// Events are kept at least 7 days; older ones are pruned hourly.
const EVENT_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Hourly: events older than 7 days, then sessions ended longer ago than `retention`.
async fn prune(store: Store, retention: Duration, mut shutdown: watch::Receiver<bool>) {
    let retention = chrono::TimeDelta::from_std(retention).unwrap_or(chrono::TimeDelta::MAX);
    loop {
        let now = chrono::Utc::now();
        match store.prune_events(now - EVENT_RETENTION) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "old events pruned"),
            Err(e) => tracing::warn!(error = %e, "cannot prune old events"),
        }
        match now
            .checked_sub_signed(retention)
            .map(|cutoff| store.prune_sessions(cutoff))
        {
            None | Some(Ok(0)) => {}
            Some(Ok(n)) => tracing::info!(removed = n, "sessions past their retention removed"),
            Some(Err(e)) => tracing::warn!(error = %e, "cannot prune old sessions"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Provisions HubSpot whenever everything it needs is present, retrying failures with the
/// retry schedule (a missing scope fixed in HubSpot is picked up without a restart).
async fn provision_loop(
    state: web::Data<AppState>,
    policy: RetryPolicy,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    while !*shutdown.borrow() {
        // Read afresh every round: the wizard may have changed them.
        let webhook_url = state.settings.webhook_url();
        let inboxes = state.settings.inbox_ids();
        let startable = state.hubspot.can_provision();
        let wait = match inboxes.is_empty() {
            false if startable => {
                let provisioner = Provisioner {
                    hubspot: &state.hubspot,
                    store: &state.store,
                    state: &state.provision,
                    webhook_url: &webhook_url,
                    inbox_ids: &inboxes,
                    listing_backoff: policy.base_delay(1),
                };
                match provisioner.run().await {
                    Ok(_) => {
                        failures = 0;
                        None
                    }
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(
                            step = e.step,
                            error = e.error,
                            "provisioning failed; will retry"
                        );
                        state.provision.set(ProvisionStatus::Failed {
                            step: e.step,
                            message: e.error,
                        });
                        Some(policy.base_delay(failures).min(Duration::from_secs(300)))
                    }
                }
            }
            _ => {
                if state.provision.ready().is_none() {
                    state.provision.set(ProvisionStatus::Waiting);
                }
                Some(Duration::from_secs(1))
            }
        };
        // After success, run again only when the HubSpot connection changes.
        tokio::select! {
            _ = state.hubspot.connection_changed() => {}
            _ = state.settings.credentials_changed.notified() => {}
            _ = state.provision.recheck.notified() => {}
            _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))), if wait.is_some() => {}
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
}

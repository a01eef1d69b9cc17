//! Route table and the outer middleware (latency, rate-limit headers,
//! request log).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{ServerHandle, Service};
use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::web::{self, Data};
use actix_web::{App, HttpMessage, HttpResponse, HttpServer, ResponseError};

use super::errors::ApiError;
use super::guard::{Authenticated, RateInfo};
use super::state::Shared;
use super::{
    RequestRecord, channels, contacts, conversations, files, messages, oauth, tickets, users,
    webhooks,
};

/// CRM object paths: legacy v3 and the dated form (§13.9, §13.12).
const CRM_OBJECT_PREFIXES: &[&str] = &["/crm/v3/objects", "/crm/objects/2026-03"];
const CRM_PROPERTY_PREFIXES: &[&str] = &["/crm/v3/properties", "/crm/properties/2026-03"];

/// Every spelling of the custom-channels base path in use (§2.1).
const CHANNEL_PREFIXES: &[&str] = &[
    "/conversations/v3/custom-channels",
    "/conversations/custom-channels/v3",
    "/conversations/custom-channels/2026-03",
    "/conversations/custom-channels/2026-09",
];

const CONVERSATION_PREFIXES: &[&str] = &[
    "/conversations/v3/conversations",
    "/conversations/conversations/2026-03",
    "/conversations/conversations/2026-09",
];

fn channel_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("")
            .route(web::get().to(channels::list_channels))
            .route(web::post().to(channels::create_channel)),
    )
    .service(
        web::resource("/{channelId}")
            .route(web::get().to(channels::get_channel))
            .route(web::patch().to(channels::patch_channel))
            .route(web::delete().to(channels::delete_channel)),
    )
    .service(
        web::resource("/{channelId}/channel-accounts")
            .route(web::get().to(channels::list_accounts))
            .route(web::post().to(channels::create_account)),
    )
    .service(
        web::resource("/{channelId}/channel-accounts/{accountId}")
            .route(web::get().to(channels::get_account))
            .route(web::patch().to(channels::patch_account)),
    )
    .route("/{channelId}/messages", web::post().to(messages::publish))
    .service(
        web::resource("/{channelId}/messages/{messageId}")
            .route(web::get().to(messages::get_message))
            .route(web::patch().to(messages::patch_message)),
    );
}

fn conversation_routes(cfg: &mut web::ServiceConfig) {
    use conversations as c;
    cfg.route("/inboxes", web::get().to(c::list_inboxes))
        .route("/inboxes/{inboxId}", web::get().to(c::get_inbox))
        .route("/threads", web::get().to(c::list_threads))
        .service(
            web::resource("/threads/{threadId}")
                .route(web::get().to(c::get_thread))
                .route(web::patch().to(c::patch_thread))
                .route(web::delete().to(c::delete_thread)),
        )
        .route(
            "/threads/{threadId}/messages",
            web::get().to(c::thread_messages),
        )
        .route(
            "/threads/{threadId}/messages/{messageId}",
            web::get().to(c::thread_message),
        )
        .route("/actors/batch/read", web::post().to(c::batch_actors))
        .route("/actors/{actorId}", web::get().to(c::get_actor))
        .route("/channels", web::get().to(c::list_generic_channels))
        .route("/channel-accounts", web::get().to(c::list_portal_accounts))
        .route(
            "/channel-accounts/{accountId}",
            web::get().to(c::get_portal_account),
        );
}

/// Tickets, users and the contact side of ticket associations under one
/// CRM prefix. Full paths rather than a `web::scope`, which would swallow
/// the contact routes registered with their own paths.
fn crm_object_routes(cfg: &mut web::ServiceConfig, p: &str) {
    cfg.service(
        web::resource(format!("{p}/tickets/{{ticketId}}"))
            .route(web::get().to(tickets::get_ticket))
            .route(web::patch().to(tickets::patch_ticket)),
    )
    .route(
        &format!("{p}/tickets/{{ticketId}}/associations/{{toObjectType}}/{{toObjectId}}/{{associationType}}"),
        web::put().to(tickets::associate_from_ticket),
    )
    .route(
        &format!("{p}/contacts/{{contactId}}/associations/{{toObjectType}}/{{toObjectId}}/{{associationType}}"),
        web::put().to(tickets::associate_from_contact),
    )
    .route(&format!("{p}/users"), web::get().to(users::list_users))
    .route(&format!("{p}/users/{{userId}}"), web::get().to(users::get_user));
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/authorize", web::get().to(oauth::authorize))
        .route(
            "/oauth/{portalId}/authorize",
            web::get().to(oauth::authorize),
        )
        .route(
            "/oauth/v1/access-tokens/{token}",
            web::get().to(oauth::access_token_info),
        )
        .service(
            web::resource("/oauth/v1/refresh-tokens/{token}")
                .route(web::get().to(oauth::refresh_token_info))
                .route(web::delete().to(oauth::delete_refresh_token)),
        );
    for v in ["v1", "v3", "2026-03", "2026-09"] {
        cfg.route(&format!("/oauth/{v}/token"), web::post().to(oauth::token));
    }
    for v in ["v3", "2026-03", "2026-09"] {
        cfg.route(
            &format!("/oauth/{v}/token/introspect"),
            web::post().to(oauth::introspect),
        );
    }
    for p in CHANNEL_PREFIXES {
        cfg.service(web::scope(p).configure(channel_routes));
    }
    for p in CONVERSATION_PREFIXES {
        cfg.service(web::scope(p).configure(conversation_routes));
    }
    for p in CRM_OBJECT_PREFIXES {
        crm_object_routes(cfg, p);
    }
    for p in CRM_PROPERTY_PREFIXES {
        cfg.route(
            &format!("{p}/{{objectType}}/{{propertyName}}"),
            web::get().to(tickets::get_property),
        );
    }
    cfg.route(
        "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}",
        web::put().to(tickets::associate_v4_default),
    )
    .route(
        "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/{toObjectType}/{toObjectId}",
        web::put().to(tickets::associate_v4_labelled),
    );
    cfg.route(
        "/crm/v3/objects/contacts/search",
        web::post().to(contacts::search),
    )
    .route(
        "/crm/v3/objects/contacts",
        web::post().to(contacts::create_contact),
    )
    .route(
        "/crm/v3/objects/contacts/{contactId}",
        web::get().to(contacts::get_contact),
    )
    .service(
        web::resource("/webhooks/v3/{appId}/settings")
            .route(web::get().to(webhooks::get_settings))
            .route(web::put().to(webhooks::put_settings))
            .route(web::delete().to(webhooks::delete_settings)),
    )
    .service(
        web::resource("/webhooks/v3/{appId}/subscriptions")
            .route(web::get().to(webhooks::list_subscriptions))
            .route(web::post().to(webhooks::create_subscription)),
    )
    .service(
        web::resource("/webhooks/v3/{appId}/subscriptions/{subscriptionId}")
            .route(web::patch().to(webhooks::patch_subscription))
            .route(web::delete().to(webhooks::delete_subscription)),
    )
    .route("/files/v3/files", web::post().to(files::upload))
    .route("/files/v3/files/{fileId}", web::get().to(files::get_file))
    .route(
        "/files/v3/files/{fileId}/signed-url",
        web::get().to(files::signed_url),
    )
    // Where signed file URLs point (no credentials).
    .route("/_signed/{fileId}", web::get().to(files::download));
}

async fn unknown_route() -> HttpResponse {
    ApiError::not_found("resource not found").error_response()
}

/// Starts the server on `listener` and returns its handle; the server future
/// runs on the caller's tokio runtime, the workers on their own threads.
pub(super) fn spawn(shared: Arc<Shared>, listener: TcpListener) -> std::io::Result<ServerHandle> {
    let data = Data::from(shared);
    let server = HttpServer::new(move || {
        let log = data.clone();
        App::new()
            .app_data(data.clone())
            .configure(routes)
            .default_service(web::to(unknown_route))
            // Trailing slashes are optional on every route (§2.1, TS SDK).
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            // Outermost, so it logs the path exactly as the client sent it.
            .wrap_fn(move |req, srv| {
                let sh = log.clone();
                let at = Instant::now();
                let (method, path) = (req.method().to_string(), req.path().to_string());
                let query = req.query_string().to_string();
                let fut = srv.call(req);
                async move {
                    let mut res = fut.await?.map_into_boxed_body();
                    let latency = sh.state.lock().faults.latency;
                    if !latency.is_zero() {
                        actix_web::rt::time::sleep(latency).await;
                    }
                    let (authenticated, rate) = {
                        let ext = res.request().extensions();
                        (
                            ext.get::<Authenticated>().is_some(),
                            ext.get::<RateInfo>().copied(),
                        )
                    };
                    if let Some(r) = rate {
                        let h = res.headers_mut();
                        for (name, value) in [
                            ("x-hubspot-ratelimit-max", r.max.to_string()),
                            ("x-hubspot-ratelimit-remaining", r.remaining.to_string()),
                            (
                                "x-hubspot-ratelimit-interval-milliseconds",
                                "10000".to_string(),
                            ),
                        ] {
                            h.insert(name.parse().unwrap(), value.parse().unwrap());
                        }
                    }
                    let status = res.status().as_u16();
                    let mut st = sh.state.lock();
                    if authenticated && st.faults.resets > 0 {
                        st.faults.resets -= 1;
                        let broken = futures_util::stream::once(async {
                            Err::<web::Bytes, _>(std::io::Error::other("connection reset"))
                        });
                        res = res.map_body(|_, _| {
                            actix_web::body::BoxBody::new(actix_web::body::BodyStream::new(broken))
                        });
                    }
                    if status == 429 {
                        st.rate_limited += 1;
                    }
                    st.requests.push(RequestRecord {
                        method,
                        path,
                        query,
                        status,
                        at,
                        authenticated,
                    });
                    Ok(res)
                }
            })
    })
    .workers(2)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(handle)
}

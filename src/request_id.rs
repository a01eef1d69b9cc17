//! Request ids: every request gets one (the caller's `X-Request-Id` when it is sane, else a
//! new ULID), it comes back in the answer's `X-Request-Id`, and everything logged while the
//! request is handled carries it (a `request` span).

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use tracing::Instrument;

pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");

fn sane(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
    .then(|| s.to_string())
}

pub(crate) fn middleware<S, B>(
    mut req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(sane)
        .unwrap_or_else(|| ulid::Ulid::generate().to_string());
    let value = HeaderValue::from_str(&id).expect("ids are header-safe");
    req.headers_mut().insert(HEADER, value.clone());
    let span = tracing::info_span!("request", id = %id, method = %req.method(), path = req.path());
    let fut = srv.call(req);
    async move {
        let mut res = fut.await?;
        res.headers_mut().insert(HEADER, value);
        Ok(res)
    }
    .instrument(span)
}

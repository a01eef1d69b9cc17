//! A deadline on reading every request body (`http.body_timeout`, 10 s by default).
//!
//! actix's `client_request_timeout` stops at the headers: a client that then sends one
//! byte a second holds its connection (and a worker's attention) for as long as it likes.
//! This middleware wraps the payload of every request, so every extractor (`Json`, `Form`,
//! `Bytes`, a raw `Payload`) sees the same deadline; once it passes, the read fails, the
//! answer becomes `408` JSON and the connection is closed.

use crate::error::ApiError;
use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONNECTION, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpMessage, ResponseError};
use futures_util::Stream;
use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The payload with a deadline. The timer starts when the request arrives, not at the
/// first read, so a handler that reads late does not extend it.
struct Deadline {
    inner: Payload,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Rc<Cell<bool>>,
    done: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            this.done = item.is_none();
            return Poll::Ready(item);
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.done = true;
                this.expired.set(true);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

pub(crate) fn middleware<S, B>(
    timeout: Duration,
    mut req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let expired = Rc::new(Cell::new(false));
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        req.set_payload(payload);
    } else {
        let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(Deadline {
            inner: payload,
            deadline: Instant::now() + timeout,
            sleep: None,
            expired: expired.clone(),
            done: false,
        });
        req.set_payload(Payload::from(stream));
    }
    let fut = srv.call(req);
    async move {
        let res = fut.await?;
        if !expired.get() {
            return Ok(res.map_into_left_body());
        }
        // Whatever the extractor made of the failed read, the truth is a timeout; the rest
        // of the body is unread, so the connection cannot carry another request.
        let error = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs_f64()
            ),
        );
        let mut response = error.error_response();
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        let (req, _) = res.into_parts();
        Ok(ServiceResponse::new(req, response).map_into_right_body())
    }
}

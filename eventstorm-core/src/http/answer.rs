//! One request: the body read within the limits and decoded, then the
//! handler run on a handler thread, and the answer in hyper's terms.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;

use super::body::{self, BodyError, Encoding, ResponseBody};
use super::server::Shared;
use super::{Request, Response};

/// Reads the body within the limits, then routes and runs the handler on a
/// handler thread.
pub(super) async fn answer(
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> hyper::Response<ResponseBody> {
    let counters = &shared.counters;
    counters.requests.inc();
    let (parts, incoming) = request.into_parts();
    let encoding = match body::encoding(&parts.headers) {
        Ok(encoding) => encoding,
        Err(value) => {
            counters.unsupported_encoding.inc();
            let message = format!(
                "Content-Encoding {value:?} is not supported: send the body as is or gzip-compressed"
            );
            return closing(error(415, message));
        }
    };
    let limit = shared.max_body_bytes;
    let too_large = || {
        error(
            413,
            format!("the body is larger than {limit} bytes (max_body_bytes)"),
        )
    };
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        counters.too_large.inc();
        return closing(too_large());
    }
    let raw = match body::read(incoming, limit, shared.body_timeout).await {
        Ok(raw) => raw,
        Err(e) => return closing(body_error(e, shared)),
    };
    let request = Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body: raw,
        peer,
        params: Vec::new(),
    };
    let handler_shared = Arc::clone(shared);
    let handled = tokio::task::spawn_blocking(move || {
        let mut request = request;
        if encoding == Encoding::Gzip {
            match body::gunzip(&request.body, handler_shared.max_body_bytes) {
                Ok(decoded) => request.body = decoded,
                Err(e) => return body_error(e, &handler_shared),
            }
        }
        match handler_shared.router.find(&mut request) {
            Ok(handler) => handler.handle(&request),
            Err(answer) => {
                handler_shared.counters.no_route.inc();
                answer
            }
        }
    })
    .await;
    match handled {
        Ok(response) => to_hyper(response),
        Err(e) => {
            counters.handler_panics.inc();
            tracing::error!(%peer, "HTTP handler failed: {e}");
            to_hyper(error(
                500,
                "the handler failed: see the server log".to_string(),
            ))
        }
    }
}

fn body_error(e: BodyError, shared: &Shared) -> Response {
    let counters = &shared.counters;
    match e {
        BodyError::TooLarge => {
            counters.too_large.inc();
            error(
                413,
                format!(
                    "the body is larger than {} bytes (max_body_bytes; after gzip decoding)",
                    shared.max_body_bytes
                ),
            )
        }
        BodyError::Timeout => {
            counters.body_timeouts.inc();
            error(
                408,
                format!(
                    "the body did not arrive within {} ms (body_timeout_ms)",
                    shared.body_timeout.as_millis()
                ),
            )
        }
        BodyError::Read(message) => {
            counters.bad_bodies.inc();
            error(400, format!("cannot read the body: {message}"))
        }
        BodyError::Corrupt(message) => {
            counters.bad_bodies.inc();
            error(400, format!("the gzip body does not decode: {message}"))
        }
    }
}

fn error(status: u16, message: String) -> Response {
    Response::json(status, &serde_json::json!({ "error": message }))
}

fn closing(response: Response) -> hyper::Response<ResponseBody> {
    to_hyper(response.with_header("Connection", "close"))
}

fn to_hyper(response: Response) -> hyper::Response<ResponseBody> {
    let mut answer = hyper::Response::new(response.body);
    *answer.status_mut() = hyper::StatusCode::from_u16(response.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = answer.headers_mut();
    for (name, value) in response.headers {
        match (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => tracing::warn!("HTTP response header {name:?}: {value:?} is invalid: left out"),
        }
    }
    answer
}

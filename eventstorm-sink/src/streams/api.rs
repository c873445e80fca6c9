//! The HTTP API: routes that check the request (size, depth, JSON, query)
//! and hand it to the engine thread, which answers.
//!
//! | route | what it does |
//! |---|---|
//! | `POST /v1/stream-definitions` | adds a definition: 201 with its `id` |
//! | `GET /v1/stream-definitions?tenant=` | lists definitions |
//! | `GET /v1/stream-definitions/{id}` | one definition |
//! | `PATCH /v1/stream-definitions/{id}` | changes fields (merge) |
//! | `DELETE /v1/stream-definitions/{id}` | deletes it and its streams |
//! | `GET /v1/streams?definition=&state=&limit=` | active streams |
//! | `DELETE /v1/streams/{id}` | closes a stream without actions |

use std::time::Duration;

use eventstorm_core::http::{Request, Response, Router};
use serde_json::{Value, json};

use super::StreamsHandle;
use super::definition::json_depth_within;
use super::engine::{ApiAnswer, ApiCall, Cmd};

/// How long a request waits for the engine.
const ENGINE_WAIT: Duration = Duration::from_secs(10);

/// Largest `limit` of `GET /v1/streams`.
const MAX_LIMIT: usize = 1000;

/// Default `limit`.
const DEFAULT_LIMIT: usize = 100;

pub(super) fn router(handle: &StreamsHandle) -> Router {
    let h = handle.clone();
    let create = move |r: &Request| match body(&h, r) {
        Ok(v) => call(&h, ApiCall::CreateDefinition(v)),
        Err(answer) => answer,
    };
    let h = handle.clone();
    let list = move |r: &Request| {
        let tenant = r.query_param("tenant").map(percent_decode);
        call(&h, ApiCall::ListDefinitions { tenant })
    };
    let h = handle.clone();
    let get = move |r: &Request| call(&h, ApiCall::GetDefinition(param(r, "id")));
    let h = handle.clone();
    let patch = move |r: &Request| match body(&h, r) {
        Ok(v) => call(&h, ApiCall::PatchDefinition(param(r, "id"), v)),
        Err(answer) => answer,
    };
    let h = handle.clone();
    let delete = move |r: &Request| call(&h, ApiCall::DeleteDefinition(param(r, "id")));
    let h = handle.clone();
    let streams = move |r: &Request| {
        let limit = match r.query_param("limit") {
            None => DEFAULT_LIMIT,
            Some(l) => match l.parse::<usize>() {
                Ok(n @ 1..=MAX_LIMIT) => n,
                _ => {
                    return reject(
                        &h,
                        400,
                        format!("`limit`: expected a number from 1 to {MAX_LIMIT}, found {l:?}"),
                    );
                }
            },
        };
        call(
            &h,
            ApiCall::ListStreams {
                definition: r.query_param("definition").map(percent_decode),
                state: r.query_param("state").map(percent_decode),
                limit,
            },
        )
    };
    let h = handle.clone();
    let delete_stream = move |r: &Request| call(&h, ApiCall::DeleteStream(param(r, "id")));
    Router::new()
        .route("POST", "/v1/stream-definitions", create)
        .route("GET", "/v1/stream-definitions", list)
        .route("GET", "/v1/stream-definitions/{id}", get)
        .route("PATCH", "/v1/stream-definitions/{id}", patch)
        .route("DELETE", "/v1/stream-definitions/{id}", delete)
        .route("GET", "/v1/streams", streams)
        .route("DELETE", "/v1/streams/{id}", delete_stream)
}

fn param(r: &Request, name: &str) -> String {
    r.param(name).map(percent_decode).unwrap_or_default()
}

fn respond(answer: ApiAnswer) -> Response {
    if answer.status == 204 {
        return Response::new(204);
    }
    Response::json(answer.status, &answer.body).with_header("Cache-Control", "no-store")
}

fn reject(h: &StreamsHandle, status: u16, message: String) -> Response {
    h.shared.counters.api_requests.inc();
    h.shared.counters.api_rejected.inc();
    Response::json(status, &json!({ "error": message }))
}

/// The request's JSON body, within the size and depth limits.
fn body(h: &StreamsHandle, r: &Request) -> Result<Value, Response> {
    let bytes = r.body();
    if bytes.len() > h.shared.max_body {
        return Err(reject(
            h,
            413,
            format!(
                "the definition is {} bytes: expected at most {} (max_definition_bytes)",
                bytes.len(),
                h.shared.max_body
            ),
        ));
    }
    if !json_depth_within(bytes, h.shared.max_depth) {
        return Err(reject(
            h,
            400,
            format!(
                "the JSON is nested deeper than {} levels (max_json_depth)",
                h.shared.max_depth
            ),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        reject(
            h,
            400,
            format!(
                "the body is not JSON: {e} (expected a JSON object, `Content-Type: application/json`)"
            ),
        )
    })
}

/// Hands a call to the engine and waits for its answer.
fn call(h: &StreamsHandle, call: ApiCall) -> Response {
    let (reply, answer) = crossbeam_channel::bounded(1);
    if h.tx
        .send_timeout(Cmd::Api(call, reply), ENGINE_WAIT)
        .is_err()
    {
        return Response::json(
            503,
            &json!({"error": "the stream engine is busy or stopped"}),
        )
        .with_header("Retry-After", "1");
    }
    match answer.recv_timeout(ENGINE_WAIT) {
        Ok(a) => respond(a),
        Err(_) => Response::json(
            503,
            &json!({"error": "the stream engine did not answer in time"}),
        )
        .with_header("Retry-After", "1"),
    }
}

/// `%41` → `A`, `+` → space; invalid escapes are kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(percent_decode("acme%20corp"), "acme corp");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}

//! The REST API, compatible with Almanach's: every route under the mount
//! and under `{mount}v1/`, `X-Auth-Token` checked first, JSON errors that
//! say which parameter is wrong and what was expected.

use bson::DateTime;
use eventstorm_core::http::{Request, Response, Router};
use serde_json::{Value, json};

use super::model::Kind;
use super::{UsageHandle, billing, time, writes};

/// An answer other than success: status and message.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: u16,
    pub(super) message: String,
}

impl ApiError {
    pub(super) fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            message: message.into(),
        }
    }

    pub(super) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 404,
            message: message.into(),
        }
    }

    pub(super) fn conflict(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 409,
            message: message.into(),
        }
    }

    /// MongoDB failed: 503, retry later.
    pub(super) fn store(e: &mongodb::error::Error) -> ApiError {
        ApiError {
            status: 503,
            message: format!("MongoDB did not answer: {e} (try again later)"),
        }
    }

    fn into_response(self) -> Response {
        Response::json(self.status, &json!({"error": self.message}))
    }
}

impl From<mongodb::error::Error> for ApiError {
    fn from(e: mongodb::error::Error) -> Self {
        ApiError::store(&e)
    }
}

pub(super) type ApiResult = Result<Response, ApiError>;

/// A handler of the API.
type Handler = fn(&UsageHandle, &Request) -> ApiResult;

/// Every route of the API.
const ROUTES: &[(&str, &str, Handler)] = &[
    ("GET", "info", info),
    ("GET", "project/{project_id}/entities", |h, r| {
        list(h, r, None)
    }),
    ("GET", "project/{project_id}/instances", |h, r| {
        list(h, r, Some(Kind::Instance))
    }),
    ("GET", "project/{project_id}/volumes", |h, r| {
        list(h, r, Some(Kind::Volume))
    }),
    ("GET", "project/{project_id}/usage", usage),
    ("GET", "entity/{entity_id}", entity),
    ("HEAD", "entity/{entity_id}", entity_exists),
    (
        "PUT",
        "entity/instance/{entity_id}",
        writes::update_instance_entity,
    ),
    (
        "POST",
        "project/{project_id}/instance",
        writes::create_instance,
    ),
    ("POST", "project/{project_id}/volume", writes::create_volume),
    ("DELETE", "instance/{entity_id}", writes::delete_instance),
    ("DELETE", "volume/{entity_id}", writes::delete_volume),
    (
        "PUT",
        "instance/{entity_id}/resize",
        writes::resize_instance,
    ),
    (
        "PUT",
        "instance/{entity_id}/rebuild",
        writes::rebuild_instance,
    ),
    ("PUT", "volume/{entity_id}/resize", writes::resize_volume),
    ("PUT", "volume/{entity_id}/attach", writes::attach_volume),
    ("PUT", "volume/{entity_id}/detach", writes::detach_volume),
    ("GET", "volume_types", volume_types),
    ("GET", "volume_type/{type_id}", volume_type),
    (
        "DELETE",
        "volume_type/{type_id}",
        writes::delete_volume_type,
    ),
    ("POST", "volume_type", writes::create_volume_type),
];

/// The router: each route under `mount` and `{mount}v1/`.
pub(super) fn router(handle: &UsageHandle) -> Router {
    let mut router = Router::new();
    let mount = handle.config.mount.clone();
    for prefix in [mount.clone(), format!("{mount}v1/")] {
        for &(method, path, handler) in ROUTES {
            let handle = handle.clone();
            router = router.route(method, &format!("{prefix}{path}"), move |r: &Request| {
                serve(&handle, r, handler)
            });
        }
    }
    router
}

fn serve(handle: &UsageHandle, request: &Request, handler: Handler) -> Response {
    if !authorized(request.header("X-Auth-Token"), &handle.config.token) {
        handle.shared.counters.api_unauthorized.inc();
        return ApiError {
            status: 401,
            message: "unauthorized: send the configured token in the X-Auth-Token header".into(),
        }
        .into_response();
    }
    let answer = handler(handle, request).unwrap_or_else(ApiError::into_response);
    answer.with_header("Cache-Control", "no-store")
}

/// Compares without stopping at the first difference.
fn authorized(given: Option<&str>, token: &str) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ x);
    }
    diff == 0
}

/// A path parameter (present by construction of the route).
pub(super) fn param(request: &Request, name: &str) -> Result<String, ApiError> {
    let raw = request.param(name).unwrap_or_default();
    let value = decode(raw);
    if value.is_empty() || value.len() > super::notification::MAX_ID_BYTES {
        return Err(ApiError::bad(format!(
            "`{name}`: expected 1 to {} bytes",
            super::notification::MAX_ID_BYTES
        )));
    }
    Ok(value)
}

/// A query parameter, percent-decoded (`+` is a space).
pub(super) fn query(request: &Request, name: &str) -> Option<String> {
    request.query_param(name).map(decode)
}

fn decode(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A date query parameter.
pub(super) fn date_param(request: &Request, name: &str) -> Result<Option<DateTime>, ApiError> {
    match query(request, name) {
        None => Ok(None),
        Some(text) => time::parse(&text).map(Some).ok_or_else(|| {
            ApiError::bad(format!("`{name}` is {text:?}: expected {}", time::EXPECTED))
        }),
    }
}

/// `start` (required) and `end` (default now), in order and within
/// `max_period_days`.
pub(super) fn period(
    handle: &UsageHandle,
    request: &Request,
) -> Result<(DateTime, DateTime), ApiError> {
    let start = date_param(request, "start")?.ok_or_else(|| {
        ApiError::bad(format!("`start` is required: expected {}", time::EXPECTED))
    })?;
    let end = date_param(request, "end")?.unwrap_or_else(DateTime::now);
    if end < start {
        return Err(ApiError::bad(format!(
            "`end` ({}) is before `start` ({}): expected end >= start",
            time::format(end),
            time::format(start)
        )));
    }
    let days = (end.timestamp_millis() - start.timestamp_millis()) / 86_400_000;
    if days as u64 > handle.config.max_period_days {
        return Err(ApiError::bad(format!(
            "`start`..`end` spans {days} days: expected at most {} (max_period_days)",
            handle.config.max_period_days
        )));
    }
    Ok((start, end))
}

pub(super) fn ok(status: u16, body: &Value) -> ApiResult {
    Ok(Response::json(status, body))
}

fn info(handle: &UsageHandle, _: &Request) -> ApiResult {
    let (all, active) = handle.store.counts()?;
    ok(
        200,
        &json!({
            "info": {"version": env!("CARGO_PKG_VERSION")},
            "database": {"all_entities": all, "active_entities": active},
        }),
    )
}

fn list(handle: &UsageHandle, request: &Request, kind: Option<Kind>) -> ApiResult {
    let project = param(request, "project_id")?;
    let (start, end) = period(handle, request)?;
    let max = handle.config.max_results;
    let versions = handle
        .store
        .overlapping(&project, start, end, kind, max as i64 + 1)?;
    if versions.len() as u64 > max {
        return Err(ApiError::bad(format!(
            "more than {max} versions in this period (max_results): ask for a shorter `start`..`end`"
        )));
    }
    ok(
        200,
        &Value::Array(versions.iter().map(|v| v.to_json()).collect()),
    )
}

fn usage(handle: &UsageHandle, request: &Request) -> ApiResult {
    let project = param(request, "project_id")?;
    let (start, end) = period(handle, request)?;
    let max = handle.config.max_results;
    let versions = handle
        .store
        .overlapping(&project, start, end, None, max as i64 + 1)?;
    if versions.len() as u64 > max {
        return Err(ApiError::bad(format!(
            "more than {max} versions in this period (max_results): ask for a shorter `start`..`end`"
        )));
    }
    ok(200, &billing::summary(&project, start, end, &versions))
}

fn entity(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "entity_id")?;
    let versions = handle
        .store
        .versions(&id, handle.config.max_results as i64)?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!("entity {id} not found")));
    }
    ok(
        200,
        &Value::Array(versions.iter().map(|v| v.to_json()).collect()),
    )
}

fn entity_exists(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "entity_id")?;
    let found = !handle.store.versions(&id, 1)?.is_empty();
    Ok(Response::new(if found { 200 } else { 404 }))
}

fn volume_types(handle: &UsageHandle, _: &Request) -> ApiResult {
    let types = handle.store.types(handle.config.max_results as i64)?;
    ok(
        200,
        &Value::Array(
            types
                .into_iter()
                .map(|(id, name)| json!({"volume_type_id": id, "volume_type_name": name}))
                .collect(),
        ),
    )
}

fn volume_type(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "type_id")?;
    match handle.store.type_name(&id)? {
        Some(name) => ok(
            200,
            &json!({"volume_type_id": id, "volume_type_name": name}),
        ),
        None => Err(ApiError::not_found(format!("volume type {id} not found"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries_and_compares_tokens() {
        assert_eq!(
            decode("2026-03-01+09%3A02%3A43.000"),
            "2026-03-01 09:02:43.000"
        );
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert!(authorized(Some("secret-token"), "secret-token"));
        assert!(!authorized(Some("secret-toke"), "secret-token"));
        assert!(!authorized(Some("secret-tokenx"), "secret-token"));
        assert!(!authorized(None, "secret-token"));
    }
}

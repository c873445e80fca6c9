//! Per-tenant search over the events a [`MongoSink`](crate::mongo::MongoSink)
//! stored (feature `mongodb`):
//! `GET /v1/tenants/{tenant}/events?q=&type=&start=&end=&limit=`, answering
//! only to that tenant's token.
//!
//! Every request must carry a token (`X-Auth-Token: TOKEN` or
//! `Authorization: Bearer TOKEN`) of [`SearchConfig::auth`]:
//!
//! | status | when |
//! |---|---|
//! | 200 | `{"tenant": "acme", "events": [...], "count": N, "limit": L}`: events in relaxed extended JSON, earliest first |
//! | 400 | a parameter is wrong or unknown: `{"error": "...", "parameter": "limit"}` |
//! | 401 | no token, or one that is not valid (`WWW-Authenticate: Bearer`) |
//! | 403 | a valid token of another tenant |
//! | 503 | the database did not answer (`store_errors`) |
//!
//! Parameters (each at most once, percent-encoded; `+` is a space):
//!
//! | parameter | meaning | checked |
//! |---|---|---|
//! | `q` | words that must all occur in `body.message` (the text index when the sink has `text_index = true`) | at most [`MAX_QUERY_BYTES`] bytes and [`MAX_QUERY_WORDS`] words |
//! | `type` | a type prefix (`compute.instance.`) | a valid type prefix |
//! | `start`, `end` | `start <= ts < end`: RFC 3339 or milliseconds since the epoch | `start < end` |
//! | `limit` | at most this many events | 1 to [`SearchConfig::max_limit`], default [`SearchConfig::default_limit`] |
//!
//! **Isolation.** The tenant comes from the token, never from the request:
//! the path's tenant only has to match it. Each query filters on
//! `tenant = <the token's tenant>`, and with a per-tenant collection
//! template (`{tenant}_events`) it reads only that tenant's collections
//! (the name mapping is injective), so neither a query parameter nor a
//! collection shared by several tenants lets one tenant see another's events.

use std::sync::Arc;

use bson::DateTime;
use eventstorm_core::auth::{TokenStore, TokensConfig};
use eventstorm_core::http::{Request, Response, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::mongo::{EventQuery, MongoError, MongoReader, MongoSinkConfig};
use crate::sinks::to_json;

/// The route's path.
pub const SEARCH_PATH: &str = "/v1/tenants/{tenant}/events";
/// The longest `q`, in bytes.
pub const MAX_QUERY_BYTES: usize = 512;
/// The most words in `q`.
pub const MAX_QUERY_WORDS: usize = 16;
/// The longest `type` prefix, in bytes.
const MAX_TYPE_BYTES: usize = 256;

/// The search's settings: the tenants' tokens and the result limits (the
/// `[sinks.search]` table of a `mongodb` sink in the sink binary).
///
/// ```
/// use eventstorm_sink::search::SearchConfig;
///
/// let config: SearchConfig = toml::from_str(r#"
///     max_limit = 500
///     [[auth.tokens]]
///     tenant = "acme"
///     token = "acme-token-0123456789"
/// "#)?;
/// assert_eq!(config.default_limit, SearchConfig::DEFAULT_LIMIT);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// The tenants' tokens (`tokens`, `tokens_file`): required, a search
    /// without tokens would answer no one.
    #[serde(skip_serializing)]
    pub auth: TokensConfig,
    /// The highest `limit` a request may ask for ([`Self::DEFAULT_MAX_LIMIT`],
    /// 1 to 100 000).
    pub max_limit: usize,
    /// The `limit` of a request without one ([`Self::DEFAULT_LIMIT`], 1 to
    /// `max_limit`).
    pub default_limit: usize,
}

impl SearchConfig {
    /// Default highest `limit`.
    pub const DEFAULT_MAX_LIMIT: usize = 1000;
    /// Default `limit`.
    pub const DEFAULT_LIMIT: usize = 100;

    /// A search answering to these tokens, with the default limits.
    pub fn with_tokens(auth: TokensConfig) -> Self {
        SearchConfig {
            auth,
            ..Default::default()
        }
    }

    /// Checks the limits and the tokens; the error names the key.
    pub fn validate(&self) -> Result<TokenStore, MongoError> {
        let config = |key: &str, message: String| MongoError::Config {
            key: key.to_string(),
            message,
        };
        if !(1..=100_000).contains(&self.max_limit) {
            return Err(config(
                "search.max_limit",
                format!("expected 1 to 100000, got {}", self.max_limit),
            ));
        }
        if !(1..=self.max_limit).contains(&self.default_limit) {
            return Err(config(
                "search.default_limit",
                format!(
                    "expected 1 to max_limit ({}), got {}",
                    self.max_limit, self.default_limit
                ),
            ));
        }
        if !self.auth.is_enabled() {
            return Err(config(
                "search.auth",
                "expected tokens (`[[search.auth.tokens]]` with tenant and token, or \
                 `tokens_file`): the search answers only to a tenant's token"
                    .to_string(),
            ));
        }
        TokenStore::new(&self.auth)
            .map_err(|e| config(&format!("search.auth.{}", e.key), e.message))
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            auth: TokensConfig::default(),
            max_limit: Self::DEFAULT_MAX_LIMIT,
            default_limit: Self::DEFAULT_LIMIT,
        }
    }
}

eventstorm_core::counters! {
    /// The counters of a [`Search`]: `requests` = `answered` +
    /// `unauthorized` + `forbidden` + `bad_requests` + `store_errors`.
    pub struct SearchCounters {
        /// Requests to the route.
        requests,
        /// Requests answered 200.
        answered,
        /// Requests answered 401: no token, or one that is not valid.
        unauthorized,
        /// Requests answered 403: a valid token of another tenant.
        forbidden,
        /// Requests answered 400: a parameter is wrong.
        bad_requests,
        /// Requests answered 503: the database did not answer.
        store_errors,
    }
}

/// The per-tenant search: see the [module docs](self).
#[derive(Debug)]
pub struct Search {
    reader: MongoReader,
    tokens: TokenStore,
    max_limit: usize,
    default_limit: usize,
    counters: Arc<SearchCounters>,
}

/// The search's route over the events the MongoDB sink configured by
/// `mongo` stores, answering to `search`'s tokens; merge it into the
/// process's [`Router`].
pub fn search_routes(mongo: &MongoSinkConfig, search: &SearchConfig) -> Result<Router, MongoError> {
    Ok(Search::new(mongo, search)?.router())
}

impl Search {
    /// Checks the settings and opens a reader on the sink's database (the
    /// driver connects in the background).
    pub fn new(mongo: &MongoSinkConfig, search: &SearchConfig) -> Result<Search, MongoError> {
        let tokens = search.validate()?;
        Ok(Search {
            reader: MongoReader::connect(mongo)?,
            tokens,
            max_limit: search.max_limit,
            default_limit: search.default_limit,
            counters: Arc::default(),
        })
    }

    /// The live counters.
    pub fn counters(&self) -> Arc<SearchCounters> {
        Arc::clone(&self.counters)
    }

    /// The route, `GET` [`SEARCH_PATH`].
    pub fn router(self) -> Router {
        let search = Arc::new(self);
        Router::new().route("GET", SEARCH_PATH, move |r: &Request| search.answer(r))
    }

    /// The answer to one request.
    pub fn answer(&self, request: &Request) -> Response {
        self.counters.requests.inc();
        let tenant = match self.tokens.verify(request.auth_token()) {
            Ok(tenant) => tenant,
            Err(e) => {
                self.counters.unauthorized.inc();
                tracing::debug!(peer = %request.peer(), "search refused (401): {e}");
                return Response::unauthorized(&e.to_string());
            }
        };
        let asked = percent_decode(request.param("tenant").unwrap_or(""), false);
        if asked.as_deref() != Ok(tenant.as_str()) {
            self.counters.forbidden.inc();
            tracing::warn!(peer = %request.peer(), token_tenant = %tenant, "search of another tenant's events refused (403)");
            return Response::json(
                403,
                &json!({"error": "this token may only read its own tenant's events"}),
            );
        }
        let query = match self.query(request.query().unwrap_or(""), &tenant) {
            Ok(query) => query,
            Err((parameter, message)) => {
                self.counters.bad_requests.inc();
                return Response::json(400, &json!({"error": message, "parameter": parameter}));
            }
        };
        match self.reader.find_raw(&query) {
            Ok(events) => {
                self.counters.answered.inc();
                let events: Vec<serde_json::Value> = events.iter().map(to_json).collect();
                Response::json(
                    200,
                    &json!({
                        "tenant": tenant,
                        "count": events.len(),
                        "limit": query.limit_value(),
                        "events": events,
                    }),
                )
            }
            Err(e) => {
                self.counters.store_errors.inc();
                tracing::warn!("search failed: {e}");
                Response::json(
                    503,
                    &json!({"error": "the event store did not answer: retry later"}),
                )
                .with_header("Retry-After", "5")
            }
        }
    }

    /// The query a request's parameters ask for, for `tenant`; or the
    /// parameter that is wrong and why.
    fn query(&self, raw: &str, tenant: &str) -> Result<EventQuery, (String, String)> {
        let mut query = EventQuery::new().tenant(tenant);
        let mut seen: Vec<&str> = Vec::new();
        let mut limit = self.default_limit;
        let (mut start, mut end) = (None, None);
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let wrong = |message: String| (key.to_string(), message);
            if seen.contains(&key) {
                return Err(wrong(format!("`{key}` is given more than once")));
            }
            let value = percent_decode(value, true).map_err(|m| wrong(format!("`{key}`: {m}")))?;
            match key {
                "q" => {
                    let words = value.split_whitespace().count();
                    if value.len() > MAX_QUERY_BYTES || words > MAX_QUERY_WORDS {
                        return Err(wrong(format!(
                            "`q` is limited to {MAX_QUERY_BYTES} bytes and {MAX_QUERY_WORDS} words"
                        )));
                    }
                    if words > 0 {
                        query = query.text(value);
                    }
                }
                "type" => {
                    let valid = value.len() <= MAX_TYPE_BYTES
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._-:*@/".contains(&b));
                    if value.is_empty() || !valid {
                        return Err(wrong(format!(
                            "`type` must be a type prefix of at most {MAX_TYPE_BYTES} letters, \
                             digits and `._-:@/` (e.g. compute.instance.), got {value:?}"
                        )));
                    }
                    query = query.type_prefix(value);
                }
                "start" => start = Some(time(&value).map_err(wrong)?),
                "end" => end = Some(time(&value).map_err(wrong)?),
                "limit" => {
                    limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=self.max_limit).contains(n))
                        .ok_or_else(|| {
                            wrong(format!(
                                "`limit` must be 1 to {}, got {value:?}",
                                self.max_limit
                            ))
                        })?;
                }
                other => {
                    return Err(wrong(format!(
                        "unknown parameter `{other}`: expected q, type, start, end, limit"
                    )));
                }
            }
            seen.push(key);
        }
        if let (Some(s), Some(e)) = (start, end)
            && s >= e
        {
            return Err(("end".into(), "`end` must be later than `start`".into()));
        }
        if let Some(start) = start {
            query = query.since(start);
        }
        if let Some(end) = end {
            query = query.until(end);
        }
        Ok(query.limit(limit))
    }
}

/// RFC 3339, or milliseconds since the epoch.
fn time(value: &str) -> Result<DateTime, String> {
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(DateTime::from_millis(ms));
    }
    DateTime::parse_rfc3339_str(value).map_err(|_| {
        format!(
            "expected an RFC 3339 time (2026-03-01T09:00:00Z) or milliseconds since the epoch, got {value:?}"
        )
    })
}

/// Undoes percent-encoding (and `+` as a space in a query value); the
/// result must be UTF-8.
fn percent_decode(value: &str, plus_is_space: bool) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("a `%` not followed by two hex digits")?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once decoded".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus() {
        assert_eq!(
            percent_decode("disk+full%21", true).as_deref(),
            Ok("disk full!")
        );
        assert_eq!(percent_decode("a+b", false).as_deref(), Ok("a+b"));
        assert_eq!(percent_decode("caf%C3%A9", false).as_deref(), Ok("café"));
        assert!(percent_decode("%zz", true).is_err());
        assert!(percent_decode("%ff", true).is_err());
        assert_eq!(time("1000"), Ok(DateTime::from_millis(1000)));
        assert!(time("yesterday").is_err());
    }
}

//! Requests, responses and the [`Router`] that maps a method and path to a
//! [`Handler`].

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Bytes;

use super::body::{BodySender, ResponseBody};

/// A request whose body has been read whole (and decoded, for
/// `Content-Encoding: gzip`) within the server's limits.
#[derive(Debug)]
pub struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) peer: SocketAddr,
    pub(crate) params: Vec<(String, String)>,
}

impl Request {
    /// The method, upper case (`POST`).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, without the query (`/v1/events`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string, without `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first value of a query parameter (`?parser=openstack`), not
    /// percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// A header's value, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The token the client presents: the `X-Auth-Token` header, else the
    /// `Authorization: Bearer TOKEN` header (the scheme in any case). See
    /// [`auth`](crate::auth) for checking it.
    pub fn auth_token(&self) -> Option<&str> {
        if let Some(token) = self.header("x-auth-token") {
            return Some(token.trim());
        }
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    }

    /// Adds a header (for testing handlers without a server).
    pub fn with_header(mut self, name: &'static str, value: &str) -> Request {
        if let Ok(value) = hyper::header::HeaderValue::from_str(value) {
            self.headers.append(name, value);
        }
        self
    }

    /// The body (decoded when it was sent gzip-compressed).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// A path parameter: for the route `/v1/events/{parser}` and the path
    /// `/v1/events/openstack`, `param("parser")` is `openstack`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A request built by hand, for testing handlers without a server.
    pub fn for_test(method: &str, path_and_query: &str, body: impl Into<Bytes>) -> Request {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query.to_string())),
            None => (path_and_query, None),
        };
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query,
            headers: hyper::HeaderMap::new(),
            body: body.into(),
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
            params: Vec::new(),
        }
    }
}

/// An answer: a status, headers and a body.
#[derive(Debug)]
pub struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: ResponseBody,
}

impl Response {
    /// An answer with this status and no body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: ResponseBody::Full(Bytes::new()),
        }
    }

    /// A JSON answer (`Content-Type: application/json`).
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response::new(status)
            .with_header("Content-Type", "application/json")
            .with_body(body.to_string())
    }

    /// 401 with `WWW-Authenticate: Bearer` and `{"error": message}`: no
    /// token, or one that is not valid.
    pub fn unauthorized(message: &str) -> Response {
        Response::json(401, &serde_json::json!({ "error": message }))
            .with_header("WWW-Authenticate", "Bearer")
    }

    /// An answer whose body is written later, chunk by chunk, through the
    /// returned [`BodySender`] (for Server-Sent Events, long downloads). At
    /// most `capacity` chunks wait to be written. The body ends when the
    /// sender is dropped, or when the server shuts down.
    pub fn streaming(status: u16, capacity: usize) -> (Response, BodySender) {
        let (sender, body) = BodySender::channel(capacity);
        let response = Response {
            status,
            headers: Vec::new(),
            body,
        };
        (response, sender)
    }

    /// Adds a header (an invalid name or value is left out and logged).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the whole body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Response {
        self.body = ResponseBody::Full(body.into());
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The value of a header set on this answer.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body, when it is not streamed.
    pub fn body(&self) -> Option<&[u8]> {
        match &self.body {
            ResponseBody::Full(bytes) => Some(bytes),
            ResponseBody::Stream(_) => None,
        }
    }
}

/// Answers requests. Runs on one of the server's handler threads, so it may
/// block briefly (a channel send, a small query); it must not wait without
/// bound.
pub trait Handler: Send + Sync + 'static {
    /// The answer to `request`.
    fn handle(&self, request: &Request) -> Response;
}

impl<F> Handler for F
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    fn handle(&self, request: &Request) -> Response {
        self(request)
    }
}

/// One segment of a route's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

struct Route {
    method: String,
    pattern: String,
    segments: Vec<Segment>,
    handler: Arc<dyn Handler>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.pattern)
    }
}

/// Maps a method and a path to a [`Handler`]. Paths are literal segments and
/// `{name}` parameters (`/v1/events/{parser}`); a literal route wins over a
/// parameter. A path no route has is answered 404; a path with routes for
/// other methods only, 405 with `Allow`.
///
/// ```
/// use eventstorm_core::http::{Request, Response, Router};
///
/// let router = Router::new()
///     .route("GET", "/v1/health", |_: &Request| Response::new(204))
///     .route("POST", "/v1/streams/{name}", |r: &Request| {
///         Response::json(201, &serde_json::json!({"name": r.param("name")}))
///     });
/// let answer = router.dispatch(Request::for_test("POST", "/v1/streams/billing", ""));
/// assert_eq!(answer.body(), Some(&br#"{"name":"billing"}"#[..]));
/// assert_eq!(router.dispatch(Request::for_test("GET", "/v1/streams/x", "")).status(), 405);
/// assert_eq!(router.dispatch(Request::for_test("GET", "/nope", "")).status(), 404);
/// ```
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// A router with no routes.
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a route. `method` is upper case (`GET`, `POST`, ...).
    pub fn route(mut self, method: &str, pattern: &str, handler: impl Handler) -> Router {
        self.routes.push(Route {
            method: method.to_ascii_uppercase(),
            pattern: pattern.to_string(),
            segments: parse_pattern(pattern),
            handler: Arc::new(handler),
        });
        self
    }

    /// Adds every route of `other` (how components contribute routes to one
    /// listener).
    pub fn merge(mut self, other: Router) -> Router {
        self.routes.extend(other.routes);
        self
    }

    /// The handler for a request's method and path, with the path
    /// parameters filled in; or the answer when there is none.
    pub(crate) fn find(&self, request: &mut Request) -> Result<Arc<dyn Handler>, Response> {
        let parts: Vec<&str> = request.path.split('/').collect();
        let mut best: Option<(&Route, usize)> = None;
        let mut allowed = BTreeSet::new();
        for route in &self.routes {
            let Some(literals) = matches(&route.segments, &parts) else {
                continue;
            };
            if route.method != request.method {
                allowed.insert(route.method.as_str());
                continue;
            }
            if best.is_none_or(|(_, n)| literals > n) {
                best = Some((route, literals));
            }
        }
        match best {
            Some((route, _)) => {
                request.params = params(&route.segments, &parts);
                Ok(Arc::clone(&route.handler))
            }
            None if allowed.is_empty() => Err(Response::json(
                404,
                &serde_json::json!({"error": format!("no route for {}", request.path)}),
            )),
            None => {
                let allow = allowed.into_iter().collect::<Vec<_>>().join(", ");
                Err(Response::json(
                    405,
                    &serde_json::json!({"error": format!(
                        "method {} not allowed on {}: use {allow}",
                        request.method, request.path
                    )}),
                )
                .with_header("Allow", allow))
            }
        }
    }

    /// Routes a request and runs its handler (what the server does on its
    /// handler threads; also handy in tests).
    pub fn dispatch(&self, mut request: Request) -> Response {
        match self.find(&mut request) {
            Ok(handler) => handler.handle(&request),
            Err(answer) => answer,
        }
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    pattern
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => Segment::Param(name.to_string()),
                None => Segment::Literal(s.to_string()),
            },
        )
        .collect()
}

/// The number of literal segments when the path matches.
fn matches(segments: &[Segment], parts: &[&str]) -> Option<usize> {
    if segments.len() != parts.len() {
        return None;
    }
    let mut literals = 0;
    for (segment, part) in segments.iter().zip(parts) {
        match segment {
            Segment::Literal(literal) if literal == part => literals += 1,
            Segment::Literal(_) => return None,
            Segment::Param(_) if part.is_empty() => return None,
            Segment::Param(_) => {}
        }
    }
    Some(literals)
}

fn params(segments: &[Segment], parts: &[&str]) -> Vec<(String, String)> {
    segments
        .iter()
        .zip(parts)
        .filter_map(|(segment, part)| match segment {
            Segment::Param(name) => Some((name.clone(), (*part).to_string())),
            Segment::Literal(_) => None,
        })
        .collect()
}

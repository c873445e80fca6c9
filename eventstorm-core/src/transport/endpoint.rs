//! Endpoints: checking them, and preparing a socket (security, binds,
//! connects) in one place.

use std::sync::Arc;

use super::endpoint_config::EndpointConfig;
use super::error::{Result, TransportError};
use super::security::Applied;
use super::zap::SecurityCounters;

/// The transports an endpoint may name.
const SCHEMES: [&str; 7] = [
    "tcp://",
    "ipc://",
    "inproc://",
    "pgm://",
    "epgm://",
    "ws://",
    "tipc://",
];

/// Checks an endpoint before libzmq sees it: a known scheme and, for `tcp://`,
/// a host and a port in 1–65535 (`*` allowed when binding). libzmq itself
/// accepts `tcp://127.0.0.1:99999` and binds a random port.
///
/// ```
/// use eventstorm_core::transport::check_endpoint;
///
/// assert!(check_endpoint("bind", "tcp://127.0.0.1:*").is_ok());
/// assert!(check_endpoint("connect", "tcp://127.0.0.1:5555").is_ok());
/// let err = check_endpoint("bind", "tcp://127.0.0.1:99999").unwrap_err();
/// assert!(err.contains("65535"), "{err}");
/// ```
pub fn check_endpoint(action: &str, endpoint: &str) -> Result<(), String> {
    let Some(scheme) = SCHEMES.iter().find(|s| endpoint.starts_with(**s)) else {
        return Err("expected tcp://HOST:PORT, ipc://PATH or inproc://NAME".into());
    };
    let rest = &endpoint[scheme.len()..];
    if rest.is_empty() {
        return Err(format!("nothing after `{scheme}`"));
    }
    if *scheme != "tcp://" && *scheme != "ws://" {
        return Ok(());
    }
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err("expected HOST:PORT after tcp:// (for example tcp://127.0.0.1:5555)".into());
    };
    // `ws://` endpoints may carry a path after the port.
    let port = port.split('/').next().unwrap_or(port);
    if host.is_empty() {
        return Err("the host is empty (use 0.0.0.0 or * to bind every interface)".into());
    }
    if port == "*" {
        return if action == "bind" {
            Ok(())
        } else {
            Err("`*` (any free port) only makes sense when binding".into())
        };
    }
    match port.parse::<u32>() {
        Ok(1..=65535) => Ok(()),
        _ => Err(format!(
            "the port `{port}` is not a number in 1-65535{}",
            if action == "bind" { " or `*`" } else { "" }
        )),
    }
}

/// Prepares `socket` as `config` says, in the one order every socket
/// follows: its security options first (libzmq reads them when a connection
/// starts; an allow-list is registered with the context's ZAP handler, its
/// answers counted in `counters`), then its binds and connects. Returns the
/// endpoints with `*` ports resolved to the ports actually bound, and what
/// the security options left running (keep it as long as the socket).
/// `name` says which socket in errors; `config` was validated
/// ([`EndpointConfig::validate`]).
pub(crate) fn attach(
    ctx: &zmq::Context,
    socket: &zmq::Socket,
    name: &str,
    config: &EndpointConfig,
    counters: &Arc<SecurityCounters>,
) -> Result<(Vec<String>, Applied)> {
    let applied = config.security.apply(ctx, socket, name, counters)?;
    type Attach = fn(&zmq::Socket, &str) -> zmq::Result<()>;
    let actions: [(&'static str, Attach, &[String]); 2] = [
        ("bind", zmq::Socket::bind, &config.bind),
        ("connect", zmq::Socket::connect, &config.connect),
    ];
    let mut endpoints = Vec::with_capacity(config.bind.len() + config.connect.len());
    for (action, attach, list) in actions {
        for endpoint in list {
            attach(socket, endpoint)
                .map_err(|e| TransportError::endpoint(name, action, endpoint, e))?;
            // A bound `*` port is resolved to the port libzmq chose.
            let resolved = (action == "bind")
                .then(|| socket.get_last_endpoint().ok().and_then(Result::ok))
                .flatten();
            endpoints.push(resolved.unwrap_or_else(|| endpoint.clone()));
        }
    }
    Ok((endpoints, applied))
}

/// Checks that a socket has an endpoint and that each is well formed.
pub fn check_all(name: &str, bind: &[String], connect: &[String]) -> Result<()> {
    if bind.is_empty() && connect.is_empty() {
        return Err(TransportError::NoEndpoint {
            socket: name.to_string(),
        });
    }
    for (action, list) in [("bind", bind), ("connect", connect)] {
        for endpoint in list {
            check_endpoint(action, endpoint).map_err(|reason| {
                TransportError::invalid_endpoint(name, action, endpoint, reason)
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints_are_checked_before_libzmq_sees_them() {
        for ok in [
            ("bind", "tcp://127.0.0.1:*"),
            ("bind", "tcp://*:5555"),
            ("connect", "tcp://localhost:1"),
            ("connect", "tcp://[::1]:65535"),
            ("bind", "ipc:///tmp/x"),
            ("bind", "inproc://x"),
        ] {
            assert!(check_endpoint(ok.0, ok.1).is_ok(), "{ok:?}");
        }
        for bad in [
            ("bind", "tcp://127.0.0.1:99999"),
            ("connect", "tcp://127.0.0.1:99999"),
            ("connect", "tcp://127.0.0.1:0"),
            ("connect", "tcp://127.0.0.1:*"),
            ("bind", "tcp://127.0.0.1"),
            ("bind", "tcp://:5555"),
            ("bind", "udp://127.0.0.1:5"),
            ("bind", "ipc://"),
            ("bind", "127.0.0.1:5555"),
        ] {
            assert!(check_endpoint(bad.0, bad.1).is_err(), "{bad:?}");
        }
    }
}

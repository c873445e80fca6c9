//! CURVE over real tcp sockets: a router whose input and output are CURVE
//! servers with allow-lists, publishers and a subscriber that are CURVE
//! clients. Needs a libzmq with CURVE, so it is built only with the
//! `curve-tests` feature, against such a libzmq:
//!
//! ```text
//! scripts/cargo-curve.sh test -p eventstorm-router --features curve-tests --test curve
//! ```
//!
//! Built that way it never skips: a libzmq without CURVE fails every test.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{wait_for, with_timeout};
use eventstorm_core::Event;
use eventstorm_core::transport::{
    KeyPair, PubSocket, PublishConfig, SecurityConfig, curve_available,
};
use eventstorm_router::{
    InputConfig, OutputConfig, RouterConfig, RouterHandle, RouterRuntime, STATS_TYPE, TenantBinding,
};
use eventstorm_sink::{Subscriber, SubscriberConfig};

const LIMIT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(10);
/// How long a publisher that should be refused is given to connect: a
/// bound for the negative case, never a condition for passing.
const REFUSED_WAIT: Duration = Duration::from_millis(500);

fn require_curve() {
    assert!(
        curve_available(),
        "this libzmq has no CURVE: run these tests with \
         `scripts/cargo-curve.sh test -p eventstorm-router --features curve-tests --test curve`"
    );
}

/// Key pairs in a temporary directory, by name.
struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new(names: &[&str]) -> Keys {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in names {
            KeyPair::generate()
                .expect("key pair")
                .write(&dir.path().join(name))
                .expect("key files");
        }
        Keys { dir }
    }

    fn secret(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.key"))
    }

    fn public(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.pub"))
    }

    fn z85(&self, name: &str) -> String {
        KeyPair::read(&self.secret(name)).expect("key").public_z85()
    }

    fn allow_list(&self) -> PathBuf {
        self.dir.path().join("clients.toml")
    }

    /// Writes the allow-list: (key name, tenant, trusted).
    fn write_allow_list(&self, clients: &[(&str, Option<&str>, bool)]) {
        let mut text = String::new();
        for (name, tenant, trusted) in clients {
            text.push_str(&format!(
                "[[clients]]\nkey = \"{}\"\nname = \"{name}\"\ntrusted = {trusted}\n",
                self.z85(name)
            ));
            if let Some(tenant) = tenant {
                text.push_str(&format!("tenant = \"{tenant}\"\n"));
            }
        }
        // Replaced by rename, as an operator's tool would.
        let tmp = self.dir.path().join("clients.toml.tmp");
        std::fs::write(&tmp, text).expect("allow-list");
        std::fs::rename(&tmp, self.allow_list()).expect("allow-list");
    }

    fn server(&self) -> SecurityConfig {
        SecurityConfig::default().with_curve_server(self.secret("router"), Some(self.allow_list()))
    }

    fn client(&self, name: &str) -> SecurityConfig {
        SecurityConfig::default().with_curve_client(self.secret(name), self.public("router"))
    }
}

/// A router with CURVE on its input `apps` (tenant binding as given) and
/// its output `all`, and a subscriber (key `sink`) on that output.
fn router(
    ctx: &zmq::Context,
    keys: &Keys,
    binding: Option<TenantBinding>,
) -> (RouterHandle, Subscriber) {
    let mut input = InputConfig::bind("apps", "tcp://127.0.0.1:*");
    input.socket.endpoint.security = keys.server();
    input.tenant_from_key = binding;
    let mut output = OutputConfig::bind("all", "tcp://127.0.0.1:*");
    output.socket.endpoint.security = keys.server();
    let mut config = RouterConfig {
        inputs: vec![input],
        outputs: vec![output],
        ..Default::default()
    };
    config.router.default_output = Some("all".into());
    config.router.stats_interval_ms = 0;
    let router = RouterRuntime::spawn(ctx, config).expect("router");
    let mut sub = SubscriberConfig::connect(&router.endpoints().output("all")[0]);
    sub.socket.endpoint.security = keys.client("sink");
    let subscriber = Subscriber::new(ctx, &sub).expect("subscriber");
    (router, subscriber)
}

/// A publisher connected to the router's input with `security`; whether
/// the router's subscription reached it within `wait`.
fn publisher(
    ctx: &zmq::Context,
    router: &RouterHandle,
    security: SecurityConfig,
    wait: Duration,
) -> (PubSocket, bool) {
    let mut config = PublishConfig::connect(&router.endpoints().input("apps")[0]);
    config.endpoint.security = security;
    let mut socket = PubSocket::open(ctx, "publisher", &config).expect("publisher");
    let subscribed = socket.wait_for_subscribers(1, wait).expect("wait");
    (socket, subscribed)
}

fn send(socket: &mut PubSocket, event: &Event) {
    let body = event.to_bytes();
    assert!(
        socket
            .try_send(event.event_type().as_bytes(), body, 0)
            .expect("send")
            .is_sent()
    );
}

fn stat(router: &RouterHandle, key: &str) -> u64 {
    router.stats().get(key).unwrap_or(0)
}

fn wait_stat(router: &RouterHandle, key: &str, at_least: u64) {
    assert!(
        wait_for(WAIT, || stat(router, key) >= at_least),
        "`{key}` did not reach {at_least}: {}",
        router.stats()
    );
}

#[test]
fn only_allowed_keys_deliver_and_refusals_are_counted() {
    require_curve();
    with_timeout(LIMIT, || {
        let keys = Keys::new(&["router", "sink", "app", "stranger"]);
        keys.write_allow_list(&[("sink", None, false), ("app", Some("acme"), false)]);
        let ctx = zmq::Context::new();
        let (router, mut subscriber) = router(&ctx, &keys, None);
        // The subscriber's key is on the output's list.
        wait_stat(&router, "out.all.zap_accepted", 1);

        // No CURVE at all: the handshake fails before the allow-list.
        let (mut plain, subscribed) =
            publisher(&ctx, &router, SecurityConfig::default(), REFUSED_WAIT);
        assert!(!subscribed, "a publisher without a key was accepted");
        wait_stat(&router, "in.apps.handshake_failed", 1);
        // A key that is not on the list: refused by the ZAP handler.
        let (mut stranger, subscribed) =
            publisher(&ctx, &router, keys.client("stranger"), REFUSED_WAIT);
        assert!(!subscribed, "a key not on the allow-list was accepted");
        wait_stat(&router, "in.apps.zap_refused", 1);
        for socket in [&mut plain, &mut stranger] {
            // Nobody subscribed: XPUB drops them without a trace.
            let body = Event::builder("forged").build().to_bytes();
            let _ = socket.try_send(b"forged", body, zmq::DONTWAIT);
        }

        // An allowed key delivers.
        let (mut app, subscribed) = publisher(&ctx, &router, keys.client("app"), WAIT);
        assert!(subscribed, "an allowed key was refused: {}", router.stats());
        send(&mut app, &Event::builder("app.started").build());
        let event = subscriber.recv(WAIT).expect("recv").expect("an event");
        assert_eq!(event.event_type(), "app.started");
        // The handle's snapshot is refreshed by the router's thread.
        wait_stat(&router, "in.apps.zap_accepted", 1);
        wait_stat(&router, "in.apps.received", 1);
        assert_eq!(stat(&router, "in.apps.received"), 1, "{}", router.stats());
        router.shutdown().expect("shutdown");
    });
}

#[test]
fn a_key_removed_from_the_list_is_refused_without_a_restart() {
    require_curve();
    with_timeout(LIMIT, || {
        let keys = Keys::new(&["router", "sink", "app", "other"]);
        keys.write_allow_list(&[
            ("sink", None, false),
            ("app", None, false),
            ("other", None, false),
        ]);
        let ctx = zmq::Context::new();
        let (router, mut subscriber) = router(&ctx, &keys, None);
        let (mut first, subscribed) = publisher(&ctx, &router, keys.client("app"), WAIT);
        assert!(subscribed, "{}", router.stats());
        send(&mut first, &Event::builder("before").build());
        let event = subscriber.recv(WAIT).expect("recv").expect("an event");
        assert_eq!(event.event_type(), "before");

        // `app` leaves the list: its next connection is refused.
        keys.write_allow_list(&[("sink", None, false), ("other", None, false)]);
        let refused = stat(&router, "in.apps.zap_refused");
        let (_again, subscribed) = publisher(&ctx, &router, keys.client("app"), REFUSED_WAIT);
        assert!(!subscribed, "a key removed from the list was accepted");
        wait_stat(&router, "in.apps.zap_refused", refused + 1);
        // The others still connect.
        let (mut other, subscribed) = publisher(&ctx, &router, keys.client("other"), WAIT);
        assert!(subscribed, "{}", router.stats());
        send(&mut other, &Event::builder("after").build());
        let event = subscriber.recv(WAIT).expect("recv").expect("an event");
        assert_eq!(event.event_type(), "after");
        router.shutdown().expect("shutdown");
    });
}

#[test]
fn a_tenant_key_cannot_put_an_event_into_another_tenant() {
    require_curve();
    with_timeout(LIMIT, || {
        let keys = Keys::new(&["router", "sink", "acme", "nobody"]);
        keys.write_allow_list(&[
            ("sink", None, false),
            ("acme", Some("acme"), false),
            ("nobody", None, false),
        ]);
        let ctx = zmq::Context::new();
        let (router, mut subscriber) = router(&ctx, &keys, Some(TenantBinding::Set));
        let (mut acme, subscribed) = publisher(&ctx, &router, keys.client("acme"), WAIT);
        assert!(subscribed, "{}", router.stats());

        send(
            &mut acme,
            &Event::builder("claims.globex").tenant("globex").build(),
        );
        send(&mut acme, &Event::builder("no.tenant").build());
        send(
            &mut acme,
            &Event::builder("own.tenant").tenant("acme").build(),
        );
        for expected in ["no.tenant", "own.tenant"] {
            let event = subscriber.recv(WAIT).expect("recv").expect("an event");
            assert_eq!(event.event_type(), expected);
            assert_eq!(event.view().tenant(), Some("acme"), "{expected}");
        }
        wait_stat(&router, "in.apps.refused_tenant", 1);

        // A key without a tenant sends nothing through a binding input.
        let (mut nobody, subscribed) = publisher(&ctx, &router, keys.client("nobody"), WAIT);
        assert!(subscribed, "{}", router.stats());
        send(&mut nobody, &Event::builder("untenanted").build());
        wait_stat(&router, "in.apps.refused_tenant", 2);
        send(&mut acme, &Event::builder("last").build());
        let event = subscriber.recv(WAIT).expect("recv").expect("an event");
        assert_eq!(event.event_type(), "last");
        router.shutdown().expect("shutdown");
    });
}

#[test]
fn verify_mode_refuses_events_without_their_keys_tenant() {
    require_curve();
    with_timeout(LIMIT, || {
        let keys = Keys::new(&["router", "sink", "acme"]);
        keys.write_allow_list(&[("sink", None, false), ("acme", Some("acme"), false)]);
        let ctx = zmq::Context::new();
        let (router, mut subscriber) = router(&ctx, &keys, Some(TenantBinding::Verify));
        let (mut acme, subscribed) = publisher(&ctx, &router, keys.client("acme"), WAIT);
        assert!(subscribed, "{}", router.stats());
        send(&mut acme, &Event::builder("no.tenant").build());
        send(
            &mut acme,
            &Event::builder("claims.globex").tenant("globex").build(),
        );
        send(
            &mut acme,
            &Event::builder("own.tenant").tenant("acme").build(),
        );
        let event = subscriber.recv(WAIT).expect("recv").expect("an event");
        assert_eq!(event.event_type(), "own.tenant");
        wait_stat(&router, "in.apps.refused_tenant", 2);
        router.shutdown().expect("shutdown");
    });
}

#[test]
fn forged_stats_from_an_untrusted_key_are_refused() {
    require_curve();
    with_timeout(LIMIT, || {
        let keys = Keys::new(&["router", "sink", "app", "edge"]);
        keys.write_allow_list(&[
            ("sink", None, false),
            ("app", Some("acme"), false),
            ("edge", None, true),
        ]);
        let ctx = zmq::Context::new();
        let (router, mut subscriber) = router(&ctx, &keys, Some(TenantBinding::Set));
        let (mut app, subscribed) = publisher(&ctx, &router, keys.client("app"), WAIT);
        assert!(subscribed, "{}", router.stats());
        let (mut edge, subscribed) = publisher(&ctx, &router, keys.client("edge"), WAIT);
        assert!(subscribed, "{}", router.stats());

        send(&mut app, &Event::builder(STATS_TYPE).build());
        send(&mut app, &Event::builder("app.started").build());
        let event = subscriber.recv(WAIT).expect("recv").expect("an event");
        assert_eq!(event.event_type(), "app.started");
        wait_stat(&router, "in.apps.refused_reserved", 1);

        // A trusted key (another router) forwards stats, and events of any
        // tenant, unchanged.
        send(
            &mut edge,
            &Event::builder(STATS_TYPE).tenant("globex").build(),
        );
        let event = subscriber.recv(WAIT).expect("recv").expect("an event");
        assert_eq!(event.event_type(), STATS_TYPE);
        assert_eq!(event.view().tenant(), Some("globex"));
        assert_eq!(stat(&router, "in.apps.refused_reserved"), 1);
        router.shutdown().expect("shutdown");
    });
}

#[test]
fn world_readable_secret_keys_and_bad_allow_lists_fail_at_start() {
    require_curve();
    with_timeout(LIMIT, || {
        use std::os::unix::fs::PermissionsExt;
        let keys = Keys::new(&["router", "sink"]);
        keys.write_allow_list(&[("sink", None, false)]);
        let ctx = zmq::Context::new();
        let start = |keys: &Keys| {
            let mut input = InputConfig::bind("apps", "tcp://127.0.0.1:*");
            input.socket.endpoint.security = keys.server();
            let mut config = RouterConfig {
                inputs: vec![input],
                outputs: vec![OutputConfig::bind("all", "tcp://127.0.0.1:*")],
                ..Default::default()
            };
            config.router.default_output = Some("all".into());
            RouterRuntime::spawn(&ctx, config).map(|r| r.shutdown())
        };
        assert!(start(&keys).is_ok());
        std::fs::write(keys.allow_list(), "[[clients]]\nkey = \"not a key\"\n").expect("write");
        let err = start(&keys).expect_err("a bad allow-list").to_string();
        assert!(err.contains("clients[0]") && err.contains("Z85"), "{err}");
        keys.write_allow_list(&[("sink", None, false)]);
        set_mode(&keys.secret("router"), 0o644);
        let err = start(&keys).expect_err("a readable secret key").to_string();
        assert!(err.contains("chmod 600"), "{err}");
        set_mode(&keys.secret("router"), 0o600);

        fn set_mode(path: &Path, mode: u32) {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
    });
}

//! Rules, transforms and configuration errors, without sockets.

use eventstorm_core::{Event, EventRouter, RawEvent, Routed};
use eventstorm_router::{ConfigError, RouterConfig, Rules};

const BASE: &str = r#"
[[inputs]]
name = "in"
bind = ["tcp://127.0.0.1:*"]

[[outputs]]
name = "a"
bind = ["tcp://127.0.0.1:*"]

[[outputs]]
name = "b"
bind = ["tcp://127.0.0.1:*"]
"#;

/// The config text: `router.*` lines first (dotted keys belong to the last
/// table otherwise), then the inputs and outputs, then the rest.
fn text(extra: &str) -> String {
    let (top, rest): (Vec<&str>, Vec<&str>) = extra.lines().partition(|l| l.starts_with("router."));
    format!("{}\n{BASE}\n{}", top.join("\n"), rest.join("\n"))
}

fn rules(extra: &str) -> Rules {
    let text = text(extra);
    let config = RouterConfig::from_toml_str(&text, "test.toml").expect("valid config");
    Rules::new(&config).expect("rules")
}

fn route(rules: &mut Rules, event: &Event) -> Vec<Routed> {
    let raw = RawEvent::from_event(event).expect("event");
    let mut routes = Vec::new();
    rules.route(raw.view(), &mut routes).expect("route");
    routes
}

fn config_error(extra: &str) -> ConfigError {
    let text = text(extra);
    RouterConfig::from_toml_str(&text, "bad.toml").expect_err("invalid config")
}

/// The 1-based line of the config text holding `needle`.
fn line_of(extra: &str, needle: &str) -> Option<usize> {
    text(extra)
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
}

#[test]
fn first_match_stops_unless_continue() {
    let mut r = rules(
        r#"
[[rules]]
match = "volume.*"
outputs = ["a"]
[[rules]]
match = "*"
outputs = ["b"]
"#,
    );
    assert_eq!(
        route(&mut r, &Event::builder("volume.x").build()),
        vec![Routed::Original(0)]
    );
    assert_eq!(
        route(&mut r, &Event::builder("compute.x").build()),
        vec![Routed::Original(1)]
    );

    let mut r = rules(
        r#"
[[rules]]
match = "volume.*"
outputs = ["a"]
continue = true
[[rules]]
match = "*"
outputs = ["a", "b"]
"#,
    );
    // Both rules match; output `a` gets the original once.
    assert_eq!(
        route(&mut r, &Event::builder("volume.x").build()),
        vec![Routed::Original(0), Routed::Original(1)]
    );
}

#[test]
fn conditions_read_fields() {
    let mut r = rules(
        r#"
[[rules]]
name = "big"
match = 'volume.* where body.size_gb >= 100 and tenant == "acme"'
outputs = ["b"]
"#,
    );
    let big = Event::builder("volume.create")
        .tenant("acme")
        .field("size_gb", 200)
        .build();
    let small = Event::builder("volume.create")
        .tenant("acme")
        .field("size_gb", 20)
        .build();
    assert_eq!(route(&mut r, &big), vec![Routed::Original(1)]);
    assert_eq!(route(&mut r, &small), vec![]);
    let stats = r.stats();
    assert_eq!(stats.get("rule.big.matches"), Some(1));
    assert_eq!(stats.get("unmatched_dropped"), Some(1));
}

#[test]
fn unmatched_go_to_the_default_output() {
    let mut r = rules(
        r#"
router.default_output = "b"
[[rules]]
match = "volume.*"
outputs = ["a"]
"#,
    );
    assert_eq!(
        route(&mut r, &Event::builder("other").build()),
        vec![Routed::Original(1)]
    );
    assert_eq!(r.stats().get("unmatched_default"), Some(1));
}

#[test]
fn transforms_reencode_only_touched_events() {
    let mut r = rules(
        r#"
[[rules]]
name = "scrub"
match = "login.*"
outputs = ["a", "b"]
[rules.transform]
remove = ["body.password"]
rename = { "body.host" = "body.hostname" }
set = { "body.region" = "eu-1" }
tenant = "acme"
"#,
    );
    let event = Event::builder("login.ok")
        .field("password", "secret")
        .field("host", "web1")
        .build();
    let routes = route(&mut r, &event);
    assert_eq!(routes.len(), 2);
    for (i, routed) in routes.iter().enumerate() {
        let Routed::Transformed(o, raw) = routed else {
            panic!("expected a transformed event, got {routed:?}");
        };
        assert_eq!(*o, i);
        assert!(raw.get("body.password").is_none());
        assert_eq!(
            raw.get("body.hostname").and_then(|v| v.as_str()),
            Some("web1")
        );
        assert_eq!(
            raw.get("body.region").and_then(|v| v.as_str()),
            Some("eu-1")
        );
        assert_eq!(raw.view().tenant(), Some("acme"));
        assert_eq!(raw.id(), event.id());
    }
    // Already in shape: forwarded as the original bytes.
    let clean = Event::builder("login.ok")
        .tenant("acme")
        .field("region", "eu-1")
        .build();
    assert_eq!(
        route(&mut r, &clean),
        vec![Routed::Original(0), Routed::Original(1)]
    );
    let stats = r.stats();
    assert_eq!(stats.get("rule.scrub.matches"), Some(2));
    assert_eq!(stats.get("rule.scrub.transformed"), Some(1));
}

#[test]
fn sampling_sends_one_in_n() {
    let mut r = rules(
        r#"
[[rules]]
name = "debug"
match = "debug.*"
outputs = ["a"]
transform.sample = 10
"#,
    );
    let sent: usize = (0..100)
        .map(|_| route(&mut r, &Event::builder("debug.trace").build()).len())
        .sum();
    assert_eq!(sent, 10);
    assert_eq!(r.stats().get("rule.debug.sampled_out"), Some(90));
}

#[test]
fn output_prefixes_follow_the_rules() {
    let r = rules(
        r#"
router.default_output = "b"
[[rules]]
match = "volume.*, compute.instance.*"
outputs = ["a"]
"#,
    );
    assert_eq!(
        r.output_prefixes(),
        vec![
            vec!["compute.instance.".to_string(), "volume.".to_string()],
            vec![String::new()]
        ]
    );
}

#[test]
fn unknown_key_names_the_key_and_line() {
    let extra = "[[rules]]\nmatch = \"a\"\noutputs = [\"a\"]\nbogus = 1\n";
    let err = config_error(extra);
    let text = err.to_string();
    assert!(text.contains("bogus"), "{text}");
    assert_eq!(err.key.as_deref(), Some("rules[0].bogus"));
    assert_eq!(err.line, line_of(extra, "bogus"));
    assert!(text.starts_with("bad.toml:"), "{text}");
}

#[test]
fn unknown_output_is_located() {
    let extra = "[[rules]]\nmatch = \"a\"\noutputs = [\"a\", \"nope\"]\n";
    let err = config_error(extra);
    assert_eq!(err.key.as_deref(), Some("rules[0].outputs[1]"));
    assert_eq!(err.line, line_of(extra, "nope"));
    assert_eq!(err.column, Some(17));
    assert!(err.message.contains("unknown output `nope`"), "{err}");
}

#[test]
fn bad_matcher_gives_the_matcher_column() {
    let extra = "[[rules]]\nmatch = \"volume.* where body.x >> 3\"\noutputs = [\"a\"]\n";
    let err = config_error(extra);
    assert_eq!(err.key.as_deref(), Some("rules[0].match"));
    assert!(err.message.contains("column 24"), "{err}");
    assert_eq!(err.line, line_of(extra, ">>"));
}

#[test]
fn semantic_errors() {
    for (extra, needle) in [
        ("router.default_output = \"zzz\"", "unknown output `zzz`"),
        (
            "[[rules]]\nmatch = \"a\"\noutputs = []",
            "at least one output",
        ),
        (
            "[[rules]]\nmatch = \"a\"\noutputs = [\"a\"]\ntransform.remove = [\"_id\"]",
            "envelope field",
        ),
        (
            "[[rules]]\nmatch = \"a\"\noutputs = [\"a\"]\ntransform.sample = 0",
            "sample must be",
        ),
        (
            "[[outputs]]\nname = \"a\"\nbind = [\"tcp://127.0.0.1:*\"]",
            "used twice",
        ),
        (
            "[[outputs]]\nname = \"c\"\nbind = [\"localhost:5\"]",
            "is not a valid bind endpoint",
        ),
        (
            "[[outputs]]\nname = \"c\"\nbind = [\"tcp://127.0.0.1:99999\"]",
            "not a number in 1-65535",
        ),
        (
            "[[rules]]\nmatch = \"a\"\noutputs = [\"a\"]\ntransform.set = { severity = \"loud\" }",
            "expected a syslog severity",
        ),
        (
            "[[rules]]\nmatch = \"a\"\noutputs = [\"a\"]\ntransform.set = { tenant = 5 }",
            "expected a string",
        ),
        (
            "[[rules]]\nmatch = \"a\"\noutputs = [\"a\"]\ntransform.set = { pid = \"x\" }",
            "expected an integer",
        ),
    ] {
        let err = config_error(extra);
        assert!(err.to_string().contains(needle), "{extra}: {err}");
        assert!(err.line.is_some(), "{extra}: no line in {err}");
    }
}

#[test]
fn default_and_example_configs_are_valid() {
    RouterConfig::from_toml_str(eventstorm_router::DEFAULT_CONFIG, "default")
        .expect("default config");
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/config/router.toml"
    );
    RouterConfig::from_file(std::path::Path::new(example)).expect("examples/config/router.toml");
}

#[test]
fn inputs_and_outputs_take_the_security_table_and_nothing_unknown() {
    let extra = "[[inputs]]\nname = \"secured\"\nbind = [\"tcp://127.0.0.1:*\"]\nhwm = 10\nsecurity = { zap_domain = \"edge\" }\n\
                 [[outputs]]\nname = \"c\"\nbind = [\"tcp://127.0.0.1:*\"]\nmode = \"block\"\n[outputs.security]\nzap_domain = \"global\"\n";
    let config = RouterConfig::from_toml_str(&text(extra), "test.toml").expect("valid config");
    let input = &config.inputs[1].socket.endpoint;
    assert_eq!(input.hwm, 10);
    assert_eq!(input.security.zap_domain.as_deref(), Some("edge"));
    let output = &config.outputs[2].socket.endpoint;
    assert_eq!(output.security.zap_domain.as_deref(), Some("global"));

    for (extra, needle) in [
        (
            "[[inputs]]\nname = \"x\"\nbind = [\"tcp://127.0.0.1:*\"]\nzap_domain = \"edge\"\n",
            "unknown field `zap_domain`",
        ),
        (
            "[[outputs]]\nname = \"c\"\nbind = [\"tcp://127.0.0.1:*\"]\nsecurity = { domain = \"edge\" }\n",
            "unknown field `domain`",
        ),
        (
            "[[outputs]]\nname = \"c\"\nbind = [\"tcp://127.0.0.1:*\"]\nsecurity = { zap_domain = \"\" }\n",
            "1 to 255 bytes",
        ),
    ] {
        let err = config_error(extra);
        assert!(err.to_string().contains(needle), "{extra}: {err}");
        assert!(err.line.is_some(), "{extra}: no line in {err}");
    }
}

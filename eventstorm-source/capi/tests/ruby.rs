//! The Ruby binding (`ruby/lib/eventstorm.rb`, Fiddle only) delivers its
//! events to a Rust subscriber: `ruby/test/emit_test.rb` emits hashes as
//! JSON, a log, a counter, a gauge and a timer block, checks the error
//! rules, and prints its counters, which must account for every event.
//!
//! Ruby is `$EVENTSTORM_RUBY` (`eval "$(scripts/services/ruby.sh start)"`
//! installs Debian's into .test-env/); without it the test is skipped,
//! loudly, and fails under `CI=true`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use eventstorm_core::{Event, Severity};
use eventstorm_test_support::{required_env, with_timeout};

mod common;
use common::{Receiver, check_accounting, counters_line, library_dir};

#[test]
fn the_ruby_binding_delivers_its_events_and_counts() {
    let Some(ruby) = required_env(
        "EVENTSTORM_RUBY",
        "eval \"$(scripts/services/ruby.sh start)\"",
    ) else {
        return;
    };
    with_timeout(Duration::from_secs(180), move || {
        let ruby_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ruby");
        let ctx = zmq::Context::new();
        let mut receiver = Receiver::bind(&ctx);
        let count = 100;
        let child = Command::new(&ruby)
            .arg("-I")
            .arg(ruby_dir.join("lib"))
            .arg(ruby_dir.join("test/emit_test.rb"))
            .arg(receiver.endpoint())
            .arg(count.to_string())
            .env("EVENTSTORM_LIB", library_dir().join("libeventstorm.so"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ruby");
        let expected = count + 4;
        let (events, stats, output) = receiver.collect(child, expected, Duration::from_secs(120));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "the Ruby script failed:\n{stderr}");
        assert!(stderr.contains("unknown field `conect`"), "{stderr}");
        assert_eq!(events.len(), expected, "{stderr}");

        for (i, event) in events[..count].iter().enumerate() {
            assert_eq!(event.event_type(), "order.placed");
            assert_eq!(event.logger(), Some("ruby-app"));
            let body = event.body();
            assert_eq!(
                body.get_i32("order_id").ok().map(i64::from),
                Some(i64::try_from(i).expect("index"))
            );
            let keys: Vec<_> = body.keys().collect();
            assert_eq!(keys, ["order_id", "source", "total", "customer", "tags"]);
            assert_eq!(
                body.get_document("customer")
                    .ok()
                    .and_then(|c| c.get_str("name").ok()),
                Some("Zoë")
            );
            let severity = if i % 2 == 1 {
                Severity::Notice
            } else {
                Severity::Informational
            };
            assert_eq!(event.severity(), severity);
        }
        let rest = &events[count..];
        let types: Vec<_> = rest.iter().map(Event::event_type).collect();
        assert_eq!(types, ["log", "counter", "gauge", "timer"]);
        assert_eq!(rest[0].severity(), Severity::Warning);
        assert_eq!(
            rest[1].body().get_i64("value").ok(),
            Some(i64::try_from(count).expect("count"))
        );
        assert_eq!(rest[2].body().get_f64("value").ok(), Some(17.5));
        assert_eq!(rest[3].body().get_str("name").ok(), Some("db.query"));

        check_accounting(&counters_line(&output.stdout), expected, &stats);
    });
}

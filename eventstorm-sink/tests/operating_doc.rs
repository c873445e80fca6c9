//! The lines `docs/operating.md` feeds the pipeline with, taken from the
//! document and run by `bash` as written (without their redirection): each
//! parses with the parser its source uses and is dated now, so that the
//! MongoDB sink's `retention_days` (counted from the event's own time) keeps
//! what the document says MongoDB holds.
//!
//! The whole walk-through (binaries, fixed ports, the test server) is run
//! from the same configurations by `topology.rs`.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eventstorm_source::parse::{ParserConfig, parser_by_name};
use eventstorm_test_support::with_timeout;

const OPERATING: &str = include_str!("../../docs/operating.md");
const SECTION: &str = "## 3. Feed it";

/// The line of step 3's shell block that ends with `redirect`, without it.
fn feed_command(redirect: &str) -> String {
    let section = &OPERATING[OPERATING
        .find(SECTION)
        .unwrap_or_else(|| panic!("docs/operating.md has no section {SECTION:?}"))..];
    let start = section.find("```sh\n").expect("a ```sh block in step 3") + "```sh\n".len();
    let end = start
        + section[start..]
            .find("\n```\n")
            .expect("the end of the block");
    let line = section[start..end]
        .lines()
        .find(|l| l.trim_end().ends_with(redirect))
        .unwrap_or_else(|| panic!("no line ending with {redirect:?} in step 3"));
    line.trim_end()
        .trim_end_matches(redirect)
        .trim_end()
        .to_owned()
}

/// What `command` prints, run by bash.
fn run(command: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", command])
        .output()
        .expect("run bash");
    assert!(out.status.success(), "{command}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Parses `line` with `parser` and checks that the event is dated now.
fn assert_dated_now(parser: &str, line: &str, event_type: &str) {
    let parser = parser_by_name(parser, &ParserConfig::default()).expect("parser");
    let event = parser
        .parse(line)
        .unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_eq!(event.event_type(), event_type);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let ts = event.timestamp().timestamp_millis();
    // Generous: the line was made a moment ago; a fixed date is months off.
    let slack = Duration::from_secs(600).as_millis() as i64;
    assert!(
        (now - ts).abs() < slack,
        "{line:?} is dated {ts} ms, now is {now} ms: MongoDB's TTL would delete it"
    );
}

#[test]
fn the_nginx_line_parses_and_is_dated_now() {
    with_timeout(Duration::from_secs(60), || {
        let line = run(&feed_command(">> $EVENTSTORM_NGINX_LOG"));
        assert_dated_now("nginx", &line, "nginx.access");
    });
}

#[test]
fn the_syslog_message_parses_and_is_dated_now() {
    with_timeout(Duration::from_secs(60), || {
        let line = run(&feed_command("> /dev/tcp/127.0.0.1/5514"));
        assert_dated_now("syslog", &line, "syslog.user");
    });
}

//! `examples/c/emit.c`, compiled with the system C compiler against the
//! built library and the committed header, delivers its events to a Rust
//! subscriber: every event arrives as sent, nothing is lost, and the
//! program's counters account for every call.
//!
//! The compiler is `$EVENTSTORM_CC` or `cc`; without one the test is
//! skipped, loudly, and fails under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use eventstorm_core::{Event, Severity};
use eventstorm_test_support::{missing, with_timeout};

mod common;
use common::{Receiver, check_accounting, counters_line, include_dir, library_dir};

/// The C compiler, if it runs.
fn c_compiler() -> Option<String> {
    let cc = std::env::var("EVENTSTORM_CC")
        .ok()
        .filter(|cc| !cc.is_empty())
        .unwrap_or_else(|| "cc".to_string());
    let runs = Command::new(&cc)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if runs {
        Some(cc)
    } else {
        missing(
            &format!("no C compiler: `{cc} --version` does not run"),
            "apt-get install gcc (or set EVENTSTORM_CC to a C compiler)",
        );
        None
    }
}

/// `examples/c/emit.c`.
fn example_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/c/emit.c")
}

/// Compiles `emit.c` into `program` with `cc` and these extra arguments.
fn compile(cc: &str, program: &Path, args: &[String]) {
    let compiled = Command::new(cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-o"])
        .arg(program)
        .arg(example_source())
        .args(args)
        .output()
        .expect("run the C compiler");
    assert!(
        compiled.status.success(),
        "{cc} {args:?} failed:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
}

#[test]
fn the_c_example_delivers_its_events_and_counts() {
    let Some(cc) = c_compiler() else {
        return;
    };
    with_timeout(Duration::from_secs(180), move || {
        let dir = tempfile::tempdir().expect("tempdir");
        let program = dir.path().join("emit");
        let lib = library_dir();
        compile(
            &cc,
            &program,
            &[
                format!("-I{}", include_dir().display()),
                format!("-L{}", lib.display()),
                "-leventstorm".into(),
                format!("-Wl,-rpath,{}", lib.display()),
            ],
        );
        run_and_check(&program);
    });
}

/// `install.sh` puts the libraries, the header and `eventstorm.pc` under a
/// prefix; a program built with `pkg-config`'s flags, linked against the
/// shared or (`--static`) the static library, delivers its events.
#[test]
fn the_installed_library_builds_with_pkg_config_shared_and_static() {
    let Some(cc) = c_compiler() else {
        return;
    };
    if Command::new("pkg-config")
        .arg("--version")
        .output()
        .is_err()
    {
        missing("pkg-config does not run", "apt-get install pkg-config");
        return;
    }
    with_timeout(Duration::from_secs(300), move || {
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = dir.path().join("prefix");
        let installed = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh"))
            .arg(&prefix)
            .arg(library_dir())
            .output()
            .expect("run install.sh");
        assert!(
            installed.status.success(),
            "install.sh failed:\n{}",
            String::from_utf8_lossy(&installed.stderr)
        );
        let pkg_config = |args: &[&str]| -> Vec<String> {
            let out = Command::new("pkg-config")
                .args(args)
                .arg("eventstorm")
                .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
                .output()
                .expect("run pkg-config");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        assert_eq!(pkg_config(&["--modversion"]), [env!("CARGO_PKG_VERSION")]);

        let shared = dir.path().join("emit-shared");
        let mut args = pkg_config(&["--cflags", "--libs"]);
        args.push(format!("-Wl,-rpath,{}", prefix.join("lib").display()));
        compile(&cc, &shared, &args);
        run_and_check(&shared);

        // The static library, with the libraries it needs (Libs.private).
        let fully_static = dir.path().join("emit-static");
        let args: Vec<String> = pkg_config(&["--cflags", "--libs", "--static"])
            .into_iter()
            .map(|a| {
                if a == "-leventstorm" {
                    "-l:libeventstorm.a".into()
                } else {
                    a
                }
            })
            .collect();
        compile(&cc, &fully_static, &args);
        run_and_check(&fully_static);
    });
}

/// Runs the compiled example against a Rust subscriber and checks every
/// event and the program's counters.
fn run_and_check(program: &Path) {
    let ctx = zmq::Context::new();
    let mut receiver = Receiver::bind(&ctx);
    let count = 200;
    let child = Command::new(program)
        .arg(receiver.endpoint())
        .arg(count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the example");
    let expected = count + 4;
    let (events, stats, output) = receiver.collect(child, expected, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the example failed:\n{stderr}");
    assert!(stderr.contains("unknown field `conect`"), "{stderr}");
    assert!(stderr.contains("`json`: column"), "{stderr}");
    assert_eq!(events.len(), expected, "{stderr}");
    for (i, event) in events[..count].iter().enumerate() {
        assert_eq!(event.event_type(), "order.placed");
        assert_eq!(event.logger(), Some("c-example"));
        let order_id = i64::try_from(i).expect("index");
        assert_eq!(
            event.body().get_i32("order_id").map(i64::from).ok(),
            Some(order_id)
        );
        if i % 2 == 0 {
            assert_eq!(event.body().get_str("source").ok(), Some("json"));
            assert_eq!(event.body().get_f64("total").ok(), Some(99.5));
            assert_eq!(event.severity(), Severity::Informational);
            let keys: Vec<_> = event.body().keys().collect();
            assert_eq!(keys, ["order_id", "source", "total", "items"]);
        } else {
            assert_eq!(event.body().get_str("source").ok(), Some("bson"));
            assert_eq!(event.severity(), Severity::Notice);
        }
    }
    let rest = &events[count..];
    let types: Vec<_> = rest.iter().map(Event::event_type).collect();
    assert_eq!(types, ["log", "counter", "gauge", "timer"]);
    assert_eq!(rest[0].severity(), Severity::Warning);
    assert_eq!(
        rest[0].body().get_str("message").ok(),
        Some("payment provider slow")
    );
    assert_eq!(rest[1].body().get_str("name").ok(), Some("orders"));
    assert_eq!(
        rest[1].body().get_i64("value").ok(),
        Some(i64::try_from(count).expect("count"))
    );
    assert_eq!(rest[2].body().get_f64("value").ok(), Some(17.5));
    assert_eq!(rest[3].body().get_str("name").ok(), Some("db.query"));
    assert!(
        rest[3]
            .body()
            .get_f64("elapsed_ms")
            .is_ok_and(|ms| ms >= 0.0)
    );

    check_accounting(&counters_line(&output.stdout), expected, &stats);
}

//! Logging conventions shared by the binaries and examples. Libraries never
//! install a log subscriber; programs call [`use_color`] when they do.

use std::ffi::OsStr;
use std::io::IsTerminal;

/// Whether log lines written to stderr may carry ANSI colour codes: only
/// when stderr is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>). A pipe, a file or a log collector gets plain
/// text.
///
/// ```
/// let color = eventstorm_core::log::use_color();
/// // A program's logging set-up, with tracing-subscriber:
/// // tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(color).init();
/// # let _ = color;
/// ```
pub fn use_color() -> bool {
    color_allowed(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// The rule of [`use_color`], given whether stderr is a terminal and the
/// value of `NO_COLOR`.
fn color_allowed(terminal: bool, no_color: Option<&OsStr>) -> bool {
    terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(color_allowed(true, None));
        assert!(color_allowed(true, Some(OsStr::new(""))));
        assert!(!color_allowed(true, Some(OsStr::new("1"))));
        assert!(!color_allowed(true, Some(OsStr::new("false"))));
        assert!(!color_allowed(false, None));
        assert!(!color_allowed(false, Some(OsStr::new(""))));
    }
}

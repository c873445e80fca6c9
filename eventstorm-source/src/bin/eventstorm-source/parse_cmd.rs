//! `eventstorm-source parse`: a dry run of a parser over a file.

use std::io::{BufWriter, Write};

use eventstorm_source::parse::{ParserConfig, parser_by_name};
use serde_json::json;

use crate::cli::ParseArgs;

/// Prints one JSON object per input line: the event, or
/// `{"line": N, "error": "..."}`; then `parsed=N rejected=M` on stderr.
/// Err only when the parser or the file is unusable.
pub(crate) fn run(args: &ParseArgs) -> Result<(), String> {
    let config = ParserConfig {
        log_format: args.log_format.clone(),
        ..ParserConfig::default()
    };
    let parser = parser_by_name(&args.parser, &config).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let (mut parsed, mut rejected) = (0u64, 0u64);
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (i, line) in lines.iter().enumerate() {
        let text = String::from_utf8_lossy(line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let value = match parser.parse(text) {
            Ok(event) => {
                parsed += 1;
                bson::Bson::Document(event.into_document()).into_relaxed_extjson()
            }
            Err(e) => {
                rejected += 1;
                json!({"line": i + 1, "error": e.to_string()})
            }
        };
        if let Err(e) = writeln!(out, "{value}") {
            return write_error(&e);
        }
    }
    if let Err(e) = out.flush() {
        return write_error(&e);
    }
    eprintln!("parsed={parsed} rejected={rejected}");
    Ok(())
}

/// A closed pipe (`... | head`) ends the output quietly; other errors fail.
fn write_error(e: &std::io::Error) -> Result<(), String> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(format!("cannot write: {e}"))
    }
}

//! Optional persistence: a kassandra state snapshot (`PATH`) plus a write-ahead log
//! (`PATH.wal`) of every successful write, appended before the client gets its answer.
//! A killed server therefore loses no acknowledged write; on start the snapshot is
//! loaded, the log replayed, a fresh snapshot written and the log emptied.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use kassandra::KassandraSession;
use kassandra::cql::parser;
use kassandra::frame::request::QueryFlags;
use kassandra::frame::request::query::Query;
use kassandra::frame::value::FrameValue;
use serde::{Deserialize, Serialize};

/// Entries after which the log is folded into a new snapshot.
const COMPACT_AFTER: usize = 100_000;

/// One bound value in the log.
#[derive(Debug, Serialize, Deserialize)]
enum Value {
    Set(String),
    Null,
    NotSet,
}

/// One logged write: the rewritten statement, its keyspace and its kept values.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    ks: Option<String>,
    q: String,
    v: Vec<Value>,
}

/// The write-ahead log of a data file.
#[derive(Debug)]
pub(crate) struct Wal {
    data_path: PathBuf,
    wal_path: PathBuf,
    file: File,
    entries: usize,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes a snapshot atomically (temporary file + rename).
fn snapshot(session: &KassandraSession, path: &Path) -> std::io::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    fs::write(&tmp, session.save_state())?;
    fs::rename(&tmp, path)
}

fn replay(session: &mut KassandraSession, line: &str) -> Result<(), String> {
    let entry: Entry = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let owned: Vec<Option<Option<Vec<u8>>>> = entry
        .v
        .iter()
        .map(|v| match v {
            Value::Set(h) => unhex(h).map(|b| Some(Some(b))).unwrap_or(None),
            Value::Null => Some(None),
            Value::NotSet => None,
        })
        .collect();
    let data = owned
        .iter()
        .map(|v| match v {
            Some(Some(b)) => FrameValue::Some(b),
            Some(None) => FrameValue::Null,
            None => FrameValue::NotSet,
        })
        .collect();
    if let Some(ks) = entry.ks {
        session.use_keyspace(ks);
    }
    let query = parser::query(&entry.q).map_err(|e| e.to_string())?;
    let parameters = crate::db::params_with(QueryFlags::VALUES, data);
    session
        .process(Query {
            query,
            raw_query: "",
            parameters,
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl Wal {
    /// Loads `path` (if present), replays its log and starts a new log.
    pub(crate) fn open(path: &Path) -> Result<(KassandraSession, Wal), String> {
        let wal_path = with_suffix(path, ".wal");
        let mut session = if path.exists() {
            let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            KassandraSession::load_state(&bytes)
                .map_err(|e| format!("{}: not a cql-test-server snapshot: {e}", path.display()))?
        } else {
            KassandraSession::new()
        };
        if let Ok(file) = File::open(&wal_path) {
            for (n, line) in BufReader::new(file).lines().enumerate() {
                let Ok(line) = line else { break };
                // A torn last line (killed mid-write) was never acknowledged.
                if let Err(e) = replay(&mut session, &line) {
                    eprintln!("{}:{}: skipped: {e}", wal_path.display(), n + 1);
                }
            }
        }
        snapshot(&session, path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file = File::create(&wal_path).map_err(|e| format!("{}: {e}", wal_path.display()))?;
        let wal = Wal {
            data_path: path.to_owned(),
            wal_path,
            file,
            entries: 0,
        };
        Ok((session, wal))
    }

    /// Appends one write; folds the log into the snapshot when it gets long.
    pub(crate) fn append(
        &mut self,
        session: &KassandraSession,
        ks: Option<&str>,
        text: &str,
        values: &[FrameValue<'_>],
    ) -> std::io::Result<()> {
        let entry = Entry {
            ks: ks.map(str::to_owned),
            q: text.to_owned(),
            v: values
                .iter()
                .map(|v| match v {
                    FrameValue::Some(b) => Value::Set(hex(b)),
                    FrameValue::Null => Value::Null,
                    FrameValue::NotSet => Value::NotSet,
                })
                .collect(),
        };
        let mut line = serde_json::to_string(&entry).map_err(std::io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.entries += 1;
        if self.entries >= COMPACT_AFTER {
            snapshot(session, &self.data_path)?;
            self.file = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&self.wal_path)?;
            self.entries = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{hex, unhex};

    #[test]
    fn hex_round_trip() {
        assert_eq!(
            unhex(&hex(&[0, 1, 0xab, 0xff])).unwrap(),
            vec![0, 1, 0xab, 0xff]
        );
        assert!(unhex("zz").is_none());
    }
}

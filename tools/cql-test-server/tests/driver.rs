//! Drives the built `cql-test-server` binary with the scylla driver, the way
//! Eventstorm's Cassandra/ScyllaDB sink will.

#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstorm_test_support::{CqlServer, keyspace, with_timeout};
use futures::StreamExt;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_cql-test-server");

/// Runs the future `test` makes on a runtime of its own, under
/// [`TEST_TIMEOUT`] (which also kills the servers it started).
fn run<F: Future<Output = ()>>(test: impl FnOnce() -> F + Send + 'static) {
    with_timeout(TEST_TIMEOUT, move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(test());
    });
}

async fn connect(server: &CqlServer) -> Session {
    SessionBuilder::new()
        .known_node(server.uri())
        .build()
        .await
        .unwrap()
}

async fn create_schema(session: &Session, ks: &str) {
    for _ in 0..2 {
        // Twice: IF NOT EXISTS makes repeated schema creation harmless.
        session
            .query_unpaged(
                format!(
                    "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = \
                     {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
                ),
                (),
            )
            .await
            .unwrap();
        session
            .query_unpaged(
                format!(
                    "CREATE TABLE IF NOT EXISTS {ks}.events (type text, bucket bigint, \
                     ts timestamp, id blob, source text, seq int, size bigint, payload blob, \
                     PRIMARY KEY ((type, bucket), ts, id))"
                ),
                (),
            )
            .await
            .unwrap();
    }
}

type EventRow = (
    String,
    i64,
    CqlTimestamp,
    Vec<u8>,
    Option<String>,
    Option<i32>,
    Option<i64>,
    Option<Vec<u8>>,
);

async fn select_partition(session: &Session, ks: &str, kind: &str, bucket: i64) -> Vec<EventRow> {
    let query = format!(
        "SELECT type, bucket, ts, id, source, seq, size, payload FROM {ks}.events \
         WHERE type = ? AND bucket = ?"
    );
    let result = session.query_unpaged(query, (kind, bucket)).await.unwrap();
    result
        .into_rows_result()
        .unwrap()
        .rows::<EventRow>()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

async fn prepare_insert(session: &Session, ks: &str) -> PreparedStatement {
    session
        .prepare(format!(
            "INSERT INTO {ks}.events (type, bucket, ts, id, source, seq, size, payload) \
             VALUES (?, ?, ?, ?, 'sink', ?, ?, ?)"
        ))
        .await
        .unwrap()
}

/// Inserts `count` events into partition (`kind`, 7) with 16 requests in flight.
async fn insert_concurrently(
    session: &Arc<Session>,
    insert: &PreparedStatement,
    kind: &str,
    start: i64,
    count: i64,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (session, insert, kind) = (Arc::clone(session), insert.clone(), kind.to_owned());
        tasks.spawn(async move {
            for n in (start..start + count).filter(|n| n % 16 == worker) {
                let values = (
                    &kind,
                    7i64,
                    CqlTimestamp(1_000 + n),
                    n.to_be_bytes().to_vec(),
                    n as i32,
                    n * 10,
                    vec![n as u8; 32],
                );
                session.execute_unpaged(&insert, values).await.unwrap();
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
}

#[test]
fn sink_workflow() {
    run(|| async {
        let server = CqlServer::start(Path::new(BIN), None);
        let session = Arc::new(connect(&server).await);
        let ks = keyspace("sink");
        create_schema(&session, &ks).await;

        let insert = prepare_insert(&session, &ks).await;
        // The literal 'sink' is not a bind marker: 7 markers, partition key at 0 and 1.
        assert_eq!(insert.get_variable_col_specs().len(), 7);
        assert_eq!(insert.get_variable_pk_indexes().len(), 2);

        let started = Instant::now();
        insert_concurrently(&session, &insert, "click", 0, 1000).await;
        eprintln!("1000 inserts with 16 in flight: {:?}", started.elapsed());

        let ttl_insert = session
            .prepare(format!("INSERT INTO {ks}.events (type, bucket, ts, id, payload) VALUES (?, ?, ?, ?, ?) USING TTL ?"))
            .await
            .unwrap();
        assert_eq!(ttl_insert.get_variable_col_specs().len(), 6);
        let values = (
            "view",
            7i64,
            CqlTimestamp(5),
            vec![1u8, 2],
            vec![0u8, 255],
            3600i32,
        );
        session.execute_unpaged(&ttl_insert, values).await.unwrap();

        let rows = select_partition(&session, &ks, "click", 7).await;
        assert_eq!(rows.len(), 1000);
        for (n, row) in rows.iter().enumerate() {
            let n = n as i64;
            let expected = (
                "click".to_owned(),
                7,
                CqlTimestamp(1_000 + n),
                n.to_be_bytes().to_vec(),
                Some("sink".to_owned()),
                Some(n as i32),
                Some(n * 10),
                Some(vec![n as u8; 32]),
            );
            assert_eq!(row, &expected);
        }
        let view = select_partition(&session, &ks, "view", 7).await;
        assert_eq!(
            view,
            vec![(
                "view".to_owned(),
                7,
                CqlTimestamp(5),
                vec![1, 2],
                None,
                None,
                None,
                Some(vec![0, 255])
            )]
        );
        assert!(select_partition(&session, &ks, "click", 8).await.is_empty());

        // Range on the clustering key, descending order, LIMIT ?, count(*): applied by the server.
        let range = session
            .prepare(format!(
                "SELECT ts, seq FROM {ks}.events WHERE type = ? AND bucket = ? AND ts >= ? AND ts < ? \
                 ORDER BY ts DESC LIMIT ?"
            ))
            .await
            .unwrap();
        let result = session
            .execute_unpaged(
                &range,
                (
                    "click",
                    7i64,
                    CqlTimestamp(1_100),
                    CqlTimestamp(1_200),
                    3i32,
                ),
            )
            .await
            .unwrap();
        let rows: Vec<(CqlTimestamp, i32)> = result
            .into_rows_result()
            .unwrap()
            .rows()
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            vec![
                (CqlTimestamp(1_199), 199),
                (CqlTimestamp(1_198), 198),
                (CqlTimestamp(1_197), 197)
            ]
        );
        let count = session
            .query_unpaged(
                format!("SELECT count(*) FROM {ks}.events WHERE type = 'click' AND bucket = 7"),
                (),
            )
            .await
            .unwrap();
        let (count,): (i64,) = count.into_rows_result().unwrap().single_row().unwrap();
        assert_eq!(count, 1000);

        // Paging through a partition with the driver's iterator.
        let paged = session
            .query_iter(
                format!("SELECT id FROM {ks}.events WHERE type = 'click' AND bucket = 7"),
                (),
            )
            .await
            .unwrap();
        let mut stream = paged.rows_stream::<(Vec<u8>,)>().unwrap();
        let mut seen = 0;
        while let Some(row) = stream.next().await {
            row.unwrap();
            seen += 1;
        }
        assert_eq!(seen, 1000);

        // Unsupported statements are errors, not crashes.
        assert!(
            session
                .query_unpaged(format!("DROP TABLE {ks}.events"), ())
                .await
                .is_err()
        );
        assert!(
            session
                .query_unpaged(format!("CREATE TYPE {ks}.t (a int)"), ())
                .await
                .is_err()
        );
        assert_eq!(select_partition(&session, &ks, "view", 7).await.len(), 1);
    });
}

#[test]
fn restart_keeps_data_and_driver_reconnects() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("cql.data");
        let mut server = CqlServer::start(Path::new(BIN), Some(&data));
        let session = Arc::new(connect(&server).await);
        let ks = keyspace("restart");
        create_schema(&session, &ks).await;
        let insert = prepare_insert(&session, &ks).await;
        insert_concurrently(&session, &insert, "click", 0, 200).await;

        // SIGKILL: nothing is flushed on exit, acknowledged writes must survive anyway.
        server.kill();
        let started = Instant::now();
        server.restart();
        // The driver reconnects by itself; the old prepared statement is re-prepared.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let values = (
                "click",
                7i64,
                CqlTimestamp(1_200),
                200i64.to_be_bytes().to_vec(),
                200i32,
                2000i64,
                vec![0u8],
            );
            match session.execute_unpaged(&insert, values).await {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("waiting for reconnection: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("driver did not reconnect: {e}"),
            }
        }
        eprintln!(
            "driver usable again {:?} after the restart",
            started.elapsed()
        );
        create_schema(&session, &ks).await;
        insert_concurrently(&session, &insert, "click", 201, 99).await;
        let rows = select_partition(&session, &ks, "click", 7).await;
        assert_eq!(rows.len(), 300);
        assert_eq!(rows[150].7, Some(vec![150u8; 32]));
    });
}

#[test]
fn bad_input_gets_errors_not_crashes() {
    run(|| async {
        let server = CqlServer::start(Path::new(BIN), None);
        let addr = server.addr();
        tokio::task::spawn_blocking(move || {
            let frames: [&[u8]; 5] = [
                b"\x04\x00\x00\x01\x07\x00\x00\x00\x03abc", // QUERY with a truncated body
                b"\x04\x00\x00\x02\x42\x00\x00\x00\x00",    // unknown opcode
                b"\x03\x00\x00\x03\x05\x00\x00\x00\x00",    // protocol v3
                b"\x04\x00\x00\x04\x09\x00\x00\x00\x0a\x00\x00\x00\x06SELECT", // PREPARE garbage
                b"\x04\x00\x00\x05\x0a\x00\x00\x00\x04\x00\x02ab", // EXECUTE unknown id
            ];
            for frame in frames {
                let mut socket = TcpStream::connect(addr).unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                socket.write_all(frame).unwrap();
                let mut header = [0u8; 9];
                socket.read_exact(&mut header).unwrap();
                assert_eq!(header[0], 0x84);
                assert_eq!(header[4], 0x00, "expected an ERROR frame for {frame:?}");
            }
            // Oversized frame: error, then the connection is closed.
            let mut socket = TcpStream::connect(addr).unwrap();
            socket
                .write_all(b"\x04\x00\x00\x06\x07\x7f\xff\xff\xff")
                .unwrap();
            let mut reply = Vec::new();
            socket.read_to_end(&mut reply).unwrap();
            assert_eq!(reply[4], 0x00);
            // Half a frame then EOF.
            let mut socket = TcpStream::connect(addr).unwrap();
            socket.write_all(b"\x04\x00").unwrap();
        })
        .await
        .unwrap();

        let session = connect(&server).await;
        let ks = keyspace("bad");
        create_schema(&session, &ks).await;
        for bad in [
            "SELECT * FROM".to_owned(),
            format!("CREATE TABLE {ks}.x (a nosuchtype PRIMARY KEY)"),
            format!("SELECT * FROM {ks}.nosuchtable"),
            format!("INSERT INTO {ks}.events (type) VALUES (1, 2)"),
            format!("TRUNCATE {ks}.events"),
        ] {
            assert!(
                session.query_unpaged(bad.clone(), ()).await.is_err(),
                "{bad}"
            );
        }
        assert!(select_partition(&session, &ks, "none", 1).await.is_empty());
    });
}

#[test]
fn batch_use_update_delete_and_port_file() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let server = CqlServer::start_on(
            Path::new(BIN),
            0,
            None,
            &[OsStr::new("--port-file"), port_file.as_os_str()],
        );
        assert_eq!(
            std::fs::read_to_string(&port_file).unwrap(),
            server.port().to_string()
        );
        let session = connect(&server).await;
        let ks = keyspace("batch");
        create_schema(&session, &ks).await;
        session.use_keyspace(&ks, false).await.unwrap();

        let insert = session
            .prepare("INSERT INTO events (type, bucket, ts, id, seq) VALUES (?, ?, ?, ?, ?) USING TTL 60")
            .await
            .unwrap();
        let mut batch = Batch::new(BatchType::Unlogged);
        let mut values = Vec::new();
        for n in 0..10i64 {
            batch.append_statement(insert.clone());
            values.push(("b", 1i64, CqlTimestamp(n), vec![n as u8], n as i32));
        }
        session.batch(&batch, values).await.unwrap();

        let update = session
            .prepare("UPDATE events USING TTL ? SET source = ? WHERE type = ? AND bucket = ? AND ts = ? AND id = ?")
            .await
            .unwrap();
        let values = (60i32, "updated", "b", 1i64, CqlTimestamp(3), vec![3u8]);
        session.execute_unpaged(&update, values).await.unwrap();
        let delete = session
            .prepare("DELETE FROM events WHERE type = ? AND bucket = ? AND ts = ? AND id = ?")
            .await
            .unwrap();
        session
            .execute_unpaged(&delete, ("b", 1i64, CqlTimestamp(4), vec![4u8]))
            .await
            .unwrap();

        let rows = select_partition(&session, &ks, "b", 1).await;
        assert_eq!(rows.len(), 9);
        assert_eq!(rows[3].4.as_deref(), Some("updated"));
        assert_eq!(rows[3].5, Some(3));
        assert!(rows.iter().all(|r| r.2 != CqlTimestamp(4)));
    });
}

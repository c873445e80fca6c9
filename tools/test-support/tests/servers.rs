//! The test server helpers against the real servers: the port read back is
//! the one the server listens on, a restart keeps it, nothing outlives the
//! handle.

use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use eventstorm_test_support::{
    CqlServer, MongoServer, cql_server_bin, mongo_server_bin, with_timeout,
};

const LIMIT: Duration = Duration::from_secs(120);

fn running(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn listens(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn the_mongodb_test_server_reports_its_port_and_restarts_on_it() {
    let Some(bin) = mongo_server_bin() else {
        return;
    };
    with_timeout(LIMIT, move || {
        let storage = tempfile::tempdir().expect("tempdir");
        let mut server = MongoServer::start(&bin, storage.path());
        let port = server.port();
        assert_ne!(port, 0);
        assert!(listens(port), "nothing listens on {port}");
        assert_eq!(
            server.uri(),
            format!("mongodb://127.0.0.1:{port}/?directConnection=true")
        );
        server.kill();
        assert!(!listens(port));
        server.restart();
        assert_eq!(server.port(), port);
        assert!(listens(port));
        let pid = server.id().expect("running");
        drop(server);
        assert!(!running(pid));
    });
}

#[test]
fn the_cql_test_server_reports_its_port_and_restarts_on_it() {
    let Some(bin) = cql_server_bin() else {
        return;
    };
    with_timeout(LIMIT, move || {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = CqlServer::start(&bin, Some(&dir.path().join("cql.data")));
        let port = server.port();
        assert_ne!(port, 0);
        assert!(listens(port), "nothing listens on {port}");
        assert_eq!(server.uri(), format!("127.0.0.1:{port}"));
        server.kill();
        assert!(!listens(port));
        server.restart();
        assert_eq!(server.port(), port);
        assert!(listens(port));
        let pid = server.id().expect("running");
        drop(server);
        assert!(!running(pid));
    });
}

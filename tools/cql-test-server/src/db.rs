//! The shared database: one kassandra session behind a mutex, the prepared statements
//! (with the server's own bind-marker bookkeeping) and the optional write-ahead log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use kassandra::KassandraSession;
use kassandra::cql::column::ColumnType;
use kassandra::cql::parser;
use kassandra::cql::query::QueryString;
use kassandra::error::DbError;
use kassandra::frame::consistency::{Consistency, SerialConsistency};
use kassandra::frame::request::batch::{Batch, BatchStatement};
use kassandra::frame::request::query::Query;
use kassandra::frame::request::{QueryFlags, QueryParameters};
use kassandra::frame::response::error::Error;
use kassandra::frame::response::result::{Prepared, PreparedMetadata, QueryResult, ResultMetadata};
use kassandra::frame::value::FrameValue;

use crate::bind::{self, blank_pairs, stable_id};
use crate::persist::Wal;
use crate::post;
use crate::rewrite::{Rewritten, Role, Statement, rewrite};

/// Per-connection state.
#[derive(Debug, Default)]
pub(crate) struct Conn {
    /// Keyspace chosen with `USE`.
    pub(crate) keyspace: Option<String>,
}

#[derive(Debug)]
struct PreparedInfo {
    rw: Rewritten,
    keyspace: Option<String>,
    filter_types: Vec<ColumnType>,
}

#[derive(Debug)]
struct Inner {
    session: KassandraSession,
    prepared: HashMap<u128, Arc<PreparedInfo>>,
    wal: Option<Wal>,
}

/// The database shared by all connections.
#[derive(Debug)]
pub(crate) struct Db {
    inner: Mutex<Inner>,
}

fn invalid(message: impl ToString) -> Error {
    Error::new(DbError::Invalid, message)
}

/// Query parameters carrying only values.
pub(crate) fn params_with<'a>(flags: QueryFlags, data: Vec<FrameValue<'a>>) -> QueryParameters<'a> {
    QueryParameters {
        consistency: Consistency::LocalOne,
        flags,
        data,
        result_page_size: None,
        paging_state: None,
        serial_consistency: SerialConsistency::Serial,
        default_timestamp: None,
    }
}

fn parse(text: &str) -> Result<QueryString, Error> {
    parser::query(text)
        .map_err(|_| Error::new(DbError::SyntaxError, format!("cannot parse `{text}`")))
}

impl Inner {
    fn use_keyspace(&mut self, keyspace: Option<&str>) {
        if let Some(ks) = keyspace {
            self.session.use_keyspace(ks);
        }
    }

    /// Types of the columns filtered by the server (list types for `IN`).
    fn filter_types(&mut self, ks: Option<&str>, rw: &Rewritten) -> Result<Vec<ColumnType>, Error> {
        if rw.filters.is_empty() {
            return Ok(Vec::new());
        }
        self.use_keyspace(ks);
        let table = rw.table.as_deref().unwrap_or_default();
        let query = parse(&format!("SELECT * FROM {table}"))?;
        let QueryResult::Prepared(all) = self.session.prepare_with_id(query, 0)? else {
            return Err(invalid("cannot read the table's columns"));
        };
        rw.filters
            .iter()
            .map(|f| {
                let spec = all
                    .result_metadata
                    .col_specs
                    .iter()
                    .find(|c| c.name == f.column);
                let ty = spec
                    .ok_or_else(|| invalid(format!("unknown column `{}`", f.column)))?
                    .typ
                    .clone();
                Ok(if f.op == "IN" {
                    ColumnType::List(Box::new(ty))
                } else {
                    ty
                })
            })
            .collect()
    }

    /// Runs a rewritten statement with the values bound to its original markers.
    fn run(
        &mut self,
        ks: Option<&str>,
        rw: &Rewritten,
        filter_types: &[ColumnType],
        mut params: QueryParameters<'_>,
    ) -> Result<QueryResult, Error> {
        let values = std::mem::take(&mut params.data);
        if values.len() != rw.roles.len() {
            return Err(invalid(format!(
                "statement has {} bind markers but {} values were given",
                rw.roles.len(),
                values.len()
            )));
        }
        let mut bounds = Vec::new();
        let mut limit = rw.limit;
        for (role, value) in rw.roles.iter().zip(values) {
            match role {
                Role::Kept => params.data.push(value),
                Role::Ttl | Role::Timestamp => {}
                Role::Limit => limit = Some(post::bound_limit(&value)?),
                Role::Filter(n) => {
                    let ty = filter_types
                        .get(*n)
                        .ok_or_else(|| invalid("unknown filter"))?;
                    bounds.push((*n, post::bound_value(&value, ty)?));
                }
            }
        }
        for (n, filter) in rw.filters.iter().enumerate() {
            if let crate::rewrite::Operand::Literal(text) = &filter.operand {
                let ty = filter_types
                    .get(n)
                    .ok_or_else(|| invalid("unknown filter"))?;
                bounds.push((n, post::literal_value(text, ty)?));
            }
        }
        bounds.sort_by_key(|(n, _)| *n);
        let bounds: Vec<_> = bounds.into_iter().map(|(_, v)| v).collect();
        // No page size means "everything" (kassandra would default to 100 rows).
        if rw.needs_post() || params.result_page_size.is_none() {
            params.result_page_size = Some(i32::MAX as usize);
            params.paging_state = None;
        }
        self.use_keyspace(ks);
        let query = parse(&rw.text)?;
        let mutation = rw.statement == Statement::Write
            || matches!(
                query,
                QueryString::CreateKeyspace(_) | QueryString::CreateTable(_)
            );
        let logged = params.data.clone();
        let result = self.session.process(Query {
            query,
            raw_query: "",
            parameters: params,
        })?;
        if mutation && let Some(wal) = &mut self.wal {
            wal.append(&self.session, ks, &rw.text, &logged)
                .map_err(|e| Error::new(DbError::ServerError, format!("write-ahead log: {e}")))?;
        }
        post::apply(result, rw, &bounds, limit)
    }
}

impl Db {
    /// Opens the database, from `data_file` when given, and fixes `system.local` so
    /// that drivers see a Murmur3 partitioner, a numeric token and the listen address.
    pub(crate) fn open(data_file: Option<&Path>, listen_ip: IpAddr) -> Result<Db, String> {
        let (mut session, wal) = match data_file {
            Some(path) => {
                let (session, wal) = Wal::open(path)?;
                (session, Some(wal))
            }
            None => (KassandraSession::new(), None),
        };
        let ip = if listen_ip.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            listen_ip
        };
        let fix = format!(
            "INSERT INTO system.local (key, partitioner, tokens, rpc_address, broadcast_address, \
             listen_address) VALUES ('local', 'org.apache.cassandra.dht.Murmur3Partitioner', \
             ['0'], '{ip}', '{ip}', '{ip}')"
        );
        let query = Query::simple(&fix).map_err(|e| e.to_string())?;
        session.process(query).map_err(|e| e.to_string())?;
        let inner = Inner {
            session,
            prepared: HashMap::new(),
            wal,
        };
        Ok(Db {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// QUERY: runs an unprepared statement.
    pub(crate) fn query(
        &self,
        conn: &mut Conn,
        text: &str,
        params: QueryParameters<'_>,
    ) -> Result<QueryResult, Error> {
        let rw = rewrite(text).map_err(invalid)?;
        let mut inner = self.lock();
        let ks = conn.keyspace.as_deref();
        let filter_types = inner.filter_types(ks, &rw)?;
        let result = inner.run(ks, &rw, &filter_types, params)?;
        if let QueryResult::SetKeyspace(set) = &result {
            conn.keyspace = Some(set.keyspace_name.clone());
        }
        Ok(result)
    }

    /// PREPARE: returns metadata listing exactly the statement's real bind markers.
    pub(crate) fn prepare(&self, conn: &Conn, text: &str) -> Result<QueryResult, Error> {
        let rw = rewrite(text).map_err(invalid)?;
        let ks = conn.keyspace.as_deref();
        let id = stable_id(ks, text);
        let mut inner = self.lock();
        inner.use_keyspace(ks);
        let query = parse(&rw.text)?;
        let blanks = blank_pairs(&query);
        let (kmeta, mut result_metadata) = match blanks {
            Some(_) => match inner.session.prepare_with_id(query, id)? {
                QueryResult::Prepared(p) => (p.prepared_metadata, p.result_metadata),
                _ => return Err(invalid("kassandra did not prepare the statement")),
            },
            None => {
                let empty = PreparedMetadata {
                    pk_indexes: Vec::new(),
                    global_spec: None,
                    col_specs: Vec::new(),
                };
                (empty, ResultMetadata::empty())
            }
        };
        let filter_types = inner.filter_types(ks, &rw)?;
        let prepared_metadata = bind::metadata(&rw, kmeta, blanks, &filter_types)?;
        if let Some(name) = &rw.count {
            result_metadata = post::count_metadata(result_metadata.global_spec.take(), name);
        }
        let info = PreparedInfo {
            rw,
            keyspace: conn.keyspace.clone(),
            filter_types,
        };
        inner.prepared.insert(id, Arc::new(info));
        Ok(QueryResult::Prepared(Prepared {
            id,
            prepared_metadata,
            result_metadata,
        }))
    }

    fn lookup(inner: &Inner, id: &[u8]) -> Result<Arc<PreparedInfo>, Error> {
        let found = <[u8; 16]>::try_from(id)
            .ok()
            .map(u128::from_be_bytes)
            .and_then(|id| inner.prepared.get(&id));
        found.cloned().ok_or_else(|| {
            let statement_id = Bytes::copy_from_slice(id);
            Error::new(
                DbError::Unprepared { statement_id },
                "unprepared statement id",
            )
        })
    }

    /// EXECUTE: runs a prepared statement.
    pub(crate) fn execute(
        &self,
        conn: &Conn,
        id: &[u8],
        params: QueryParameters<'_>,
    ) -> Result<QueryResult, Error> {
        let mut inner = self.lock();
        let info = Self::lookup(&inner, id)?;
        let ks = info.keyspace.as_deref().or(conn.keyspace.as_deref());
        inner.run(ks, &info.rw, &info.filter_types, params)
    }

    /// BATCH: runs the writes in order under one lock (not atomic on error).
    pub(crate) fn batch(&self, conn: &Conn, batch: Batch<'_>) -> Result<QueryResult, Error> {
        let mut inner = self.lock();
        for statement in batch.statements {
            let (info, values) = match statement {
                BatchStatement::Query {
                    raw_query, values, ..
                } => {
                    let rw = rewrite(raw_query).map_err(invalid)?;
                    let keyspace = conn.keyspace.clone();
                    (
                        Arc::new(PreparedInfo {
                            rw,
                            keyspace,
                            filter_types: Vec::new(),
                        }),
                        values,
                    )
                }
                BatchStatement::Prepared { id, values } => (Self::lookup(&inner, id)?, values),
            };
            if info.rw.statement != Statement::Write {
                return Err(invalid(
                    "only INSERT, UPDATE and DELETE are allowed in a batch",
                ));
            }
            let mut params = params_with(QueryFlags::VALUES, values);
            params.consistency = batch.consistency;
            let ks = info.keyspace.as_deref().or(conn.keyspace.as_deref());
            inner.run(ks, &info.rw, &[], params)?;
        }
        Ok(QueryResult::Void)
    }
}

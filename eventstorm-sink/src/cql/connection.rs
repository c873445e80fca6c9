//! The private tokio runtime, the driver session, the schema and the prepared
//! statements, shared by the sink and its readers.

use std::sync::Arc;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::prepared::PreparedStatement;
use tokio::runtime::Runtime;

use super::CqlError;
use super::config::CqlSinkConfig;
use super::schema::Schema;

/// Worker threads of the private runtime: the driver's I/O and the insert
/// tasks are light; two threads keep one busy connection from starving the
/// others.
const RUNTIME_THREADS: usize = 2;

/// Everything the insert tasks and the readers share. Holds no runtime, so
/// that tasks running on the runtime never keep it alive.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) session: Session,
    pub(crate) schema: Schema,
    pub(crate) insert: PreparedStatement,
    pub(crate) select_range: PreparedStatement,
    pub(crate) select_partition: PreparedStatement,
}

/// The runtime plus the shared state.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) shared: Arc<Shared>,
}

impl Connection {
    /// Starts the runtime, connects, creates the schema when missing and
    /// prepares the statements.
    pub(crate) fn open(config: &CqlSinkConfig) -> Result<Self, CqlError> {
        config.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("eventstorm-cql")
            .enable_all()
            .build()
            .map_err(CqlError::Runtime)?;
        let schema = Schema::new(config);
        let shared = runtime.block_on(async {
            let session = connect(config).await?;
            for statement in schema.create_cql() {
                session
                    .query_unpaged(statement.as_str(), ())
                    .await
                    .map_err(|e| CqlError::Schema {
                        statement: statement.clone(),
                        source: Box::new(e.into()),
                    })?;
            }
            let prepare = |cql: String| {
                let session = &session;
                async move {
                    let mut statement =
                        session
                            .prepare(cql.as_str())
                            .await
                            .map_err(|e| CqlError::Prepare {
                                statement: cql.clone(),
                                source: Box::new(e.into()),
                            })?;
                    statement.set_consistency(config.consistency.into());
                    Ok::<_, CqlError>(statement)
                }
            };
            let mut insert = prepare(schema.insert_cql()).await?;
            // Same primary key, same values: running an insert twice is harmless,
            // so the driver may retry it after a timeout.
            insert.set_is_idempotent(true);
            let select_range = prepare(schema.select_range_cql()).await?;
            let select_partition = prepare(schema.select_partition_cql()).await?;
            Ok::<_, CqlError>(Shared {
                session,
                schema: schema.clone(),
                insert,
                select_range,
                select_partition,
            })
        })?;
        Ok(Connection {
            runtime: Arc::new(runtime),
            shared: Arc::new(shared),
        })
    }

    /// Runs `future` to completion on the private runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

async fn connect(config: &CqlSinkConfig) -> Result<Session, CqlError> {
    let profile = ExecutionProfile::builder()
        .consistency(config.consistency.into())
        .request_timeout(Some(config.request_timeout()))
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&config.contact_points)
        .connection_timeout(config.connect_timeout())
        .default_execution_profile_handle(profile.into_handle());
    if let Some(credentials) = &config.credentials {
        builder = builder.user(&credentials.username, &credentials.password);
    }
    let building = builder.build();
    match tokio::time::timeout(config.connect_timeout() * 2, building).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(e)) => Err(CqlError::Connect {
            contact_points: config.contact_points.join(","),
            source: Box::new(e.into()),
        }),
        Err(_) => Err(CqlError::ConnectTimeout {
            contact_points: config.contact_points.join(","),
            waited: config.connect_timeout() * 2,
        }),
    }
}

//! [`EventBuilder`]: builds an [`Event`] field by field.

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document};
use serde::Serialize;

use super::{Event, Severity, fields};
use crate::error::Result;

/// Builds an [`Event`]; see [`Event::builder`].
#[derive(Debug, Clone)]
pub struct EventBuilder {
    event_type: String,
    id: Option<ObjectId>,
    timestamp: Option<DateTime>,
    severity: Severity,
    logger: Option<String>,
    hostname: Option<String>,
    pid: Option<i64>,
    tenant: Option<String>,
    body: Document,
}

impl EventBuilder {
    pub(super) fn new(event_type: String) -> Self {
        EventBuilder {
            event_type,
            id: None,
            timestamp: None,
            severity: Severity::default(),
            logger: None,
            hostname: None,
            pid: None,
            tenant: None,
            body: Document::new(),
        }
    }

    /// Uses this id instead of a fresh one (to keep a source's own message id).
    pub fn id(mut self, id: ObjectId) -> Self {
        self.id = Some(id);
        self
    }

    /// Uses this timestamp instead of now.
    pub fn timestamp(mut self, timestamp: DateTime) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Sets the severity (default: informational).
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Sets the logger or source name.
    pub fn logger(mut self, logger: impl Into<String>) -> Self {
        self.logger = Some(logger.into());
        self
    }

    /// Sets the host name.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// Sets the process id.
    pub fn pid(mut self, pid: i64) -> Self {
        self.pid = Some(pid);
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets one body field.
    pub fn field(mut self, key: impl Into<String>, value: impl Into<Bson>) -> Self {
        self.body.insert(key, value);
        self
    }

    /// Merges these fields into the body.
    pub fn fields(mut self, fields: Document) -> Self {
        self.body.extend(fields);
        self
    }

    /// Serializes a typed payload (a struct or map) into the body fields.
    pub fn payload<T: Serialize + ?Sized>(mut self, payload: &T) -> Result<Self> {
        let doc = bson::serialize_to_document(payload)?;
        self.body.extend(doc);
        Ok(self)
    }

    /// The event.
    pub fn build(self) -> Event {
        let mut doc = Document::new();
        doc.insert(fields::ID, self.id.unwrap_or_default());
        doc.insert(fields::TYPE, self.event_type);
        doc.insert(
            fields::TIMESTAMP,
            self.timestamp.unwrap_or_else(DateTime::now),
        );
        doc.insert(fields::SEVERITY, i32::from(self.severity.code()));
        if let Some(logger) = self.logger {
            doc.insert(fields::LOGGER, logger);
        }
        if let Some(hostname) = self.hostname {
            doc.insert(fields::HOSTNAME, hostname);
        }
        if let Some(pid) = self.pid {
            doc.insert(fields::PID, pid);
        }
        if let Some(tenant) = self.tenant {
            doc.insert(fields::TENANT, tenant);
        }
        doc.insert(fields::BODY, self.body);
        Event::from_parts(doc)
    }
}

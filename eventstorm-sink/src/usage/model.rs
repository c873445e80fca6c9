//! A version of an entity: what is stored in the `entity` collection and
//! what the API answers.

use bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use serde_json::{Value, json};

use super::time;

/// `instance` or `volume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Instance,
    Volume,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Instance => "instance",
            Kind::Volume => "volume",
        }
    }
}

/// An instance's operating system (from the image's metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Os {
    pub(crate) os_type: Option<String>,
    pub(crate) distro: Option<String>,
    pub(crate) version: Option<String>,
}

/// One version of an entity. `end` is `None` while it is the active one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Version {
    /// The stored document's `_id` (none before it is inserted).
    pub(crate) id: Option<ObjectId>,
    pub(crate) entity_id: String,
    pub(crate) kind: Kind,
    pub(crate) project_id: String,
    pub(crate) start: DateTime,
    pub(crate) end: Option<DateTime>,
    pub(crate) last_event: DateTime,
    pub(crate) name: Option<String>,
    // Instances.
    pub(crate) flavor: Option<String>,
    pub(crate) os: Os,
    pub(crate) metadata: Document,
    // Volumes.
    pub(crate) volume_type: Option<String>,
    pub(crate) size: Option<i64>,
    pub(crate) attached_to: Vec<String>,
    /// The notification that opened this version, and the one that closed
    /// it: a notification seen again after a crash between the two writes
    /// of a change is recognised by them.
    pub(crate) opened_by: Option<String>,
    pub(crate) closed_by: Option<String>,
}

impl Version {
    /// A new active version starting at `start`.
    pub(crate) fn new(entity_id: &str, kind: Kind, project_id: &str, start: DateTime) -> Version {
        Version {
            id: None,
            entity_id: entity_id.into(),
            kind,
            project_id: project_id.into(),
            start,
            end: None,
            last_event: start,
            name: None,
            flavor: None,
            os: Os::default(),
            metadata: Document::new(),
            volume_type: None,
            size: None,
            attached_to: Vec::new(),
            opened_by: None,
            closed_by: None,
        }
    }

    /// The next version: a copy of this one from `at`, active.
    pub(crate) fn successor(&self, at: DateTime) -> Version {
        Version {
            id: None,
            start: at,
            end: None,
            last_event: at,
            opened_by: None,
            closed_by: None,
            ..self.clone()
        }
    }

    /// The stored document. The active version carries `active_id` (the
    /// entity's id): a unique sparse index on it lets MongoDB itself refuse
    /// a second active version of one entity.
    pub(crate) fn to_document(&self) -> Document {
        let opt = |v: &Option<String>| v.clone().map_or(Bson::Null, Bson::String);
        let mut d = doc! {
            "entity_id": &self.entity_id,
            "entity_type": self.kind.as_str(),
            "project_id": &self.project_id,
            "start": self.start,
            "end": self.end.map_or(Bson::Null, Bson::DateTime),
            "last_event": self.last_event,
            "name": opt(&self.name),
        };
        if let Some(id) = self.id {
            d.insert("_id", id);
        }
        match self.kind {
            Kind::Instance => {
                d.insert("flavor", opt(&self.flavor));
                d.insert(
                    "os",
                    doc! {
                        "os_type": opt(&self.os.os_type),
                        "distro": opt(&self.os.distro),
                        "version": opt(&self.os.version),
                    },
                );
                d.insert("metadata", self.metadata.clone());
            }
            Kind::Volume => {
                d.insert("volume_type", opt(&self.volume_type));
                d.insert("size", self.size.map_or(Bson::Null, Bson::Int64));
                d.insert("attached_to", self.attached_to.clone());
            }
        }
        if self.end.is_none() {
            d.insert("active_id", &self.entity_id);
        }
        if let Some(m) = &self.opened_by {
            d.insert("opened_by", m);
        }
        if let Some(m) = &self.closed_by {
            d.insert("closed_by", m);
        }
        d
    }

    /// Reads a stored document back; `None` for a document that is not a
    /// version (written by someone else).
    pub(crate) fn from_document(d: &Document) -> Option<Version> {
        let s = |k: &str| d.get_str(k).ok().map(str::to_owned);
        let kind = match d.get_str("entity_type").ok()? {
            "instance" => Kind::Instance,
            "volume" => Kind::Volume,
            _ => return None,
        };
        let os = d.get_document("os").ok();
        let os_field = |k: &str| os.and_then(|o| o.get_str(k).ok()).map(str::to_owned);
        Some(Version {
            id: d.get_object_id("_id").ok(),
            entity_id: s("entity_id")?,
            kind,
            project_id: s("project_id").unwrap_or_default(),
            start: *d.get_datetime("start").ok()?,
            end: d.get_datetime("end").ok().copied(),
            last_event: d
                .get_datetime("last_event")
                .ok()
                .copied()
                .unwrap_or_else(|| *d.get_datetime("start").unwrap_or(&DateTime::MIN)),
            name: s("name"),
            flavor: s("flavor"),
            os: Os {
                os_type: os_field("os_type"),
                distro: os_field("distro"),
                version: os_field("version"),
            },
            metadata: d.get_document("metadata").cloned().unwrap_or_default(),
            volume_type: s("volume_type"),
            size: match d.get("size") {
                Some(Bson::Int64(n)) => Some(*n),
                Some(Bson::Int32(n)) => Some(i64::from(*n)),
                Some(Bson::Double(n)) => Some(*n as i64),
                _ => None,
            },
            attached_to: d
                .get_array("attached_to")
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            opened_by: s("opened_by"),
            closed_by: s("closed_by"),
        })
    }

    /// What the API answers: Almanach's fields, dates as RFC 3339 UTC with
    /// milliseconds.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "entity_id": self.entity_id,
            "entity_type": self.kind.as_str(),
            "project_id": self.project_id,
            "start": time::format(self.start),
            "end": self.end.map(time::format),
            "last_event": time::format(self.last_event),
            "name": self.name,
        });
        let o = v.as_object_mut().expect("an object");
        match self.kind {
            Kind::Instance => {
                o.insert("flavor".into(), json!(self.flavor));
                o.insert(
                    "os".into(),
                    json!({
                        "os_type": self.os.os_type,
                        "distro": self.os.distro,
                        "version": self.os.version,
                    }),
                );
                o.insert(
                    "metadata".into(),
                    Bson::Document(self.metadata.clone()).into_relaxed_extjson(),
                );
            }
            Kind::Volume => {
                o.insert("volume_type".into(), json!(self.volume_type));
                o.insert("size".into(), json!(self.size));
                o.insert("attached_to".into(), json!(self.attached_to));
            }
        }
        v
    }
}

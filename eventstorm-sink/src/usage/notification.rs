//! OpenStack notifications (as the `openstack` parser makes events of
//! them: `type` = `event_type`, `body` = the payload plus `message_id`) read
//! into the [`Change`]s the version rules apply; the API's writes make the
//! same changes.

use bson::{Bson, DateTime, Document};
use eventstorm_core::RawEvent;

use super::model::Os;
use super::time;

/// Longest id (entity, project, volume type, message) accepted.
pub(crate) const MAX_ID_BYTES: usize = 255;
/// Longest name kept (longer ones are cut at a character boundary).
pub(crate) const MAX_NAME_BYTES: usize = 255;
/// Most attachments of a volume read from one notification.
pub(crate) const MAX_ATTACHMENTS: usize = 1024;
/// Longest metadata value kept, as text.
const MAX_METADATA_VALUE_BYTES: usize = 1024;

/// What a notification (or an API call) asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    InstanceCreate {
        id: String,
        project: String,
        start: DateTime,
        flavor: Option<String>,
        os: Os,
        name: Option<String>,
        metadata: Document,
    },
    InstanceDelete {
        id: String,
        at: DateTime,
    },
    InstanceResize {
        id: String,
        flavor: Option<String>,
        at: DateTime,
    },
    InstanceRebuild {
        id: String,
        os: Os,
        at: DateTime,
    },
    VolumeCreate {
        id: String,
        project: String,
        start: DateTime,
        /// The type's id or name, as sent.
        volume_type: Option<String>,
        size: Option<i64>,
        name: Option<String>,
        attached_to: Vec<String>,
    },
    VolumeDelete {
        id: String,
        at: DateTime,
    },
    VolumeResize {
        id: String,
        size: Option<i64>,
        at: DateTime,
    },
    VolumeAttach {
        id: String,
        attachments: Vec<String>,
        at: DateTime,
    },
    VolumeDetach {
        id: String,
        attachments: Vec<String>,
        at: DateTime,
    },
    VolumeRename {
        id: String,
        name: Option<String>,
    },
    VolumeTypeCreate {
        type_id: String,
        name: String,
    },
}

impl Change {
    /// The entity it is about (none for a volume type).
    pub(crate) fn entity_id(&self) -> Option<&str> {
        match self {
            Change::InstanceCreate { id, .. }
            | Change::InstanceDelete { id, .. }
            | Change::InstanceResize { id, .. }
            | Change::InstanceRebuild { id, .. }
            | Change::VolumeCreate { id, .. }
            | Change::VolumeDelete { id, .. }
            | Change::VolumeResize { id, .. }
            | Change::VolumeAttach { id, .. }
            | Change::VolumeDetach { id, .. }
            | Change::VolumeRename { id, .. } => Some(id),
            Change::VolumeTypeCreate { .. } => None,
        }
    }

    /// Whether it creates its entity (parked events wait for one).
    pub(crate) fn is_create(&self) -> bool {
        matches!(
            self,
            Change::InstanceCreate { .. } | Change::VolumeCreate { .. }
        )
    }
}

/// A notification read from an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notification {
    /// `message_id`, else the event's own id: the key of the processed set.
    pub(crate) message_id: String,
    pub(crate) change: Change,
}

/// Why an event was not read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Unread {
    /// Not a notification usage is kept from (`compute.instance.create.start`, ...).
    Ignored,
    /// A usage notification without what it needs: the reason.
    Invalid(String),
}

/// The notification types read, for documentation and routing.
pub(crate) const TYPES: [&str; 12] = [
    "compute.instance.create.end",
    "compute.instance.delete.end",
    "compute.instance.resize.confirm.end",
    "compute.instance.rebuild.end",
    "volume.create.end",
    "volume.delete.end",
    "volume.resize.end",
    "volume.attach.end",
    "volume.detach.end",
    "volume.update.end",
    "volume.exists",
    "volume_type.create",
];

/// Reads `event` as a notification. `whitelist`: the metadata keys kept.
pub(crate) fn read(event: &RawEvent, whitelist: &[String]) -> Result<Notification, Unread> {
    let event_type = event.event_type();
    if !TYPES.contains(&event_type) {
        return Err(Unread::Ignored);
    }
    let body = match event.view().body() {
        Some(raw) => Document::try_from(raw)
            .map_err(|e| Unread::Invalid(format!("the body is not a valid document: {e}")))?,
        None => Document::new(),
    };
    let p = Payload {
        body: &body,
        event_type,
    };
    let message_id = match body.get_str("message_id") {
        Ok(m) if !m.is_empty() => p.bounded("message_id", m)?,
        _ => event.id().to_hex(),
    };
    let at = event.timestamp();
    let change = match event_type {
        "compute.instance.create.end" => Change::InstanceCreate {
            id: p.id("instance_id")?,
            project: p.project()?,
            start: p.date("created_at")?.unwrap_or(at),
            flavor: p.text("instance_type"),
            os: p.os(),
            name: p.text("hostname").or_else(|| p.text("display_name")),
            metadata: p.metadata(whitelist),
        },
        "compute.instance.delete.end" => Change::InstanceDelete {
            id: p.id("instance_id")?,
            at: p.date("terminated_at")?.unwrap_or(at),
        },
        "compute.instance.resize.confirm.end" => Change::InstanceResize {
            id: p.id("instance_id")?,
            flavor: p.text("instance_type"),
            at,
        },
        "compute.instance.rebuild.end" => Change::InstanceRebuild {
            id: p.id("instance_id")?,
            os: p.os(),
            at,
        },
        "volume.create.end" => Change::VolumeCreate {
            id: p.id("volume_id")?,
            project: p.project()?,
            start: p.date("created_at")?.unwrap_or(at),
            volume_type: p.text("volume_type"),
            size: p.int("size")?,
            name: p.text("display_name"),
            attached_to: Vec::new(),
        },
        "volume.delete.end" => Change::VolumeDelete {
            id: p.id("volume_id")?,
            at,
        },
        "volume.resize.end" => Change::VolumeResize {
            id: p.id("volume_id")?,
            size: p.int("size")?,
            at,
        },
        "volume.attach.end" => Change::VolumeAttach {
            id: p.id("volume_id")?,
            attachments: p.attachments()?,
            at,
        },
        "volume.detach.end" => Change::VolumeDetach {
            id: p.id("volume_id")?,
            attachments: p.attachments()?,
            at,
        },
        "volume.update.end" | "volume.exists" => Change::VolumeRename {
            id: p.id("volume_id")?,
            name: p.text("display_name"),
        },
        "volume_type.create" => {
            let types = body.get_document("volume_types").map_err(|_| {
                Unread::Invalid(
                    "volume_type.create: expected a `volume_types` object with `id` and `name`"
                        .into(),
                )
            })?;
            let t = Payload {
                body: types,
                event_type,
            };
            Change::VolumeTypeCreate {
                type_id: t.id("id")?,
                name: t.id("name")?,
            }
        }
        _ => return Err(Unread::Ignored),
    };
    Ok(Notification { message_id, change })
}

struct Payload<'a> {
    body: &'a Document,
    event_type: &'a str,
}

impl Payload<'_> {
    fn invalid(&self, message: String) -> Unread {
        Unread::Invalid(format!("{}: {message}", self.event_type))
    }

    fn bounded(&self, key: &str, value: &str) -> Result<String, Unread> {
        if value.len() > MAX_ID_BYTES {
            return Err(self.invalid(format!(
                "`{key}` is {} bytes, expected at most {MAX_ID_BYTES}",
                value.len()
            )));
        }
        Ok(value.to_owned())
    }

    /// A required, non-empty id.
    fn id(&self, key: &str) -> Result<String, Unread> {
        match self.body.get_str(key) {
            Ok(v) if !v.is_empty() => self.bounded(key, v),
            _ => Err(self.invalid(format!("expected a non-empty `{key}` string"))),
        }
    }

    /// The project: `tenant_id`, else `project_id`.
    fn project(&self) -> Result<String, Unread> {
        self.id("tenant_id")
            .or_else(|_| self.id("project_id"))
            .map_err(|_| {
                self.invalid("expected a non-empty `tenant_id` (or `project_id`) string".into())
            })
    }

    /// An optional text field (empty is absent), cut to [`MAX_NAME_BYTES`].
    fn text(&self, key: &str) -> Option<String> {
        text_of(self.body.get(key))
    }

    /// An optional date; present but unreadable is an error, empty is absent.
    fn date(&self, key: &str) -> Result<Option<DateTime>, Unread> {
        match self.body.get(key) {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::String(s)) if s.is_empty() => Ok(None),
            Some(Bson::String(s)) => time::parse(s).map(Some).ok_or_else(|| {
                self.invalid(format!("`{key}` is {s:?}, expected {}", time::EXPECTED))
            }),
            Some(Bson::DateTime(t)) => Ok(Some(*t)),
            Some(other) => Err(self.invalid(format!(
                "`{key}` is a {:?}, expected a date string",
                other.element_type()
            ))),
        }
    }

    fn int(&self, key: &str) -> Result<Option<i64>, Unread> {
        match self.body.get(key) {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::Int32(n)) if *n >= 0 => Ok(Some(i64::from(*n))),
            Some(Bson::Int64(n)) if *n >= 0 => Ok(Some(*n)),
            Some(Bson::Double(n)) if *n >= 0.0 && n.fract() == 0.0 && *n < 9e15 => {
                Ok(Some(*n as i64))
            }
            Some(Bson::String(s)) if s.parse::<u32>().is_ok() => Ok(s.parse::<i64>().ok()),
            Some(other) => Err(self.invalid(format!("`{key}` is {other}, expected a size in GB"))),
        }
    }

    fn os(&self) -> Os {
        let meta = self.body.get_document("image_meta").ok();
        let field = |k: &str| meta.and_then(|m| text_of(m.get(k)));
        Os {
            os_type: field("os_type"),
            distro: field("distro"),
            version: field("version"),
        }
    }

    fn metadata(&self, whitelist: &[String]) -> Document {
        let mut kept = Document::new();
        let Ok(meta) = self.body.get_document("metadata") else {
            return kept;
        };
        for key in whitelist {
            let value = match meta.get(key) {
                Some(Bson::String(s)) => cut(s, MAX_METADATA_VALUE_BYTES),
                Some(
                    v @ (Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Boolean(_)),
                ) => v.to_string(),
                _ => continue,
            };
            kept.insert(key.clone(), value);
        }
        kept
    }

    /// `volume_attachment[].instance_uuid`, else `instance_uuid`.
    fn attachments(&self) -> Result<Vec<String>, Unread> {
        let mut ids = Vec::new();
        if let Ok(list) = self.body.get_array("volume_attachment") {
            if list.len() > MAX_ATTACHMENTS {
                return Err(self.invalid(format!(
                    "{} attachments, expected at most {MAX_ATTACHMENTS}",
                    list.len()
                )));
            }
            for item in list {
                if let Some(id) = item
                    .as_document()
                    .and_then(|d| d.get_str("instance_uuid").ok())
                {
                    ids.push(self.bounded("volume_attachment[].instance_uuid", id)?);
                }
            }
        } else if let Ok(id) = self.body.get_str("instance_uuid")
            && !id.is_empty()
        {
            ids.push(self.bounded("instance_uuid", id)?);
        }
        Ok(ids)
    }
}

fn text_of(value: Option<&Bson>) -> Option<String> {
    match value {
        Some(Bson::String(s)) if !s.is_empty() => Some(cut(s, MAX_NAME_BYTES)),
        _ => None,
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

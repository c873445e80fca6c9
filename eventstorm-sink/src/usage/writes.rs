//! The API's writes: the same changes notifications make, through the one
//! writer, and the direct edit of a version (`PUT /entity/instance/{id}`).

use bson::{DateTime, Document};
use eventstorm_core::http::{Request, Response};
use serde_json::{Map, Value, json};

use super::api::{ApiError, ApiResult, ok, param, period, query};
use super::engine::Outcome;
use super::model::{Kind, Os, Version};
use super::notification::{Change, MAX_ATTACHMENTS, MAX_ID_BYTES, MAX_NAME_BYTES, cut};
use super::{UsageHandle, time};

/// A JSON object body.
struct Body(Map<String, Value>);

impl Body {
    fn parse(request: &Request) -> Result<Body, ApiError> {
        match serde_json::from_slice::<Value>(request.body()) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            Ok(_) => Err(ApiError::bad("the body: expected a JSON object")),
            Err(e) => Err(ApiError::bad(format!("the body is not JSON: {e}"))),
        }
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= MAX_ID_BYTES.max(MAX_NAME_BYTES) => {
                Ok(Some(s.clone()))
            }
            Some(Value::String(_)) => Err(ApiError::bad(format!(
                "`{key}`: expected at most {MAX_ID_BYTES} bytes"
            ))),
            Some(_) => Err(ApiError::bad(format!("`{key}`: expected a string"))),
        }
    }

    fn str(&self, key: &str) -> Result<String, ApiError> {
        self.opt_str(key)?.filter(|s| !s.is_empty()).ok_or_else(|| {
            ApiError::bad(format!("`{key}` is required: expected a non-empty string"))
        })
    }

    fn date(&self, key: &str) -> Result<DateTime, ApiError> {
        let text = self.opt_str(key)?.ok_or_else(|| {
            ApiError::bad(format!("`{key}` is required: expected {}", time::EXPECTED))
        })?;
        time::parse(&text).ok_or_else(|| {
            ApiError::bad(format!("`{key}` is {text:?}: expected {}", time::EXPECTED))
        })
    }

    fn size(&self, key: &str) -> Result<i64, ApiError> {
        let expected = || {
            ApiError::bad(format!(
                "`{key}` is required: expected a size in GB (0 or more)"
            ))
        };
        match self.0.get(key) {
            Some(Value::Number(n)) => n.as_i64().filter(|n| *n >= 0).ok_or_else(expected),
            Some(Value::String(s)) => s.parse::<u32>().map(i64::from).map_err(|_| expected()),
            _ => Err(expected()),
        }
    }

    fn ids(&self, key: &str) -> Result<Vec<String>, ApiError> {
        let expected = || {
            ApiError::bad(format!(
                "`{key}`: expected a list of at most {MAX_ATTACHMENTS} instance ids"
            ))
        };
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) if items.len() <= MAX_ATTACHMENTS => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .filter(|s| !s.is_empty() && s.len() <= MAX_ID_BYTES)
                        .map(str::to_owned)
                        .ok_or_else(expected)
                })
                .collect(),
            Some(_) => Err(expected()),
        }
    }
}

/// Applies `change` through the writer; `status` on success.
fn apply(handle: &UsageHandle, change: &Change, status: u16) -> ApiResult {
    let outcome = handle.shared.engine().apply_change(change, None)?;
    match outcome {
        Outcome::Applied | Outcome::Unchanged | Outcome::Duplicate => Ok(Response::new(status)),
        Outcome::Stale(reason) => ok(status, &json!({"ignored": reason})),
        Outcome::NotFound | Outcome::Parked => Err(ApiError::not_found(format!(
            "entity {} not found",
            change.entity_id().unwrap_or_default()
        ))),
        Outcome::Refused(reason) => Err(ApiError::conflict(reason)),
    }
}

pub(super) fn create_instance(handle: &UsageHandle, request: &Request) -> ApiResult {
    let project = param(request, "project_id")?;
    let b = Body::parse(request)?;
    let change = Change::InstanceCreate {
        id: b.str("id")?,
        project,
        start: b.date("created_at")?,
        flavor: Some(b.str("flavor")?),
        os: Os {
            os_type: b.opt_str("os_type")?,
            distro: b.opt_str("os_distro")?,
            version: b.opt_str("os_version")?,
        },
        name: b.opt_str("name")?.map(|n| cut(&n, MAX_NAME_BYTES)),
        metadata: Document::new(),
    };
    apply(handle, &change, 201)
}

pub(super) fn create_volume(handle: &UsageHandle, request: &Request) -> ApiResult {
    let project = param(request, "project_id")?;
    let b = Body::parse(request)?;
    let change = Change::VolumeCreate {
        id: b.str("volume_id")?,
        project,
        start: b.date("start")?,
        volume_type: b.opt_str("volume_type")?,
        size: Some(b.size("size")?),
        name: b.opt_str("volume_name")?.map(|n| cut(&n, MAX_NAME_BYTES)),
        attached_to: b.ids("attached_to")?,
    };
    apply(handle, &change, 201)
}

pub(super) fn delete_instance(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "entity_id")?;
    let at = Body::parse(request)?.date("date")?;
    apply(handle, &Change::InstanceDelete { id, at }, 202)
}

pub(super) fn delete_volume(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "entity_id")?;
    let at = Body::parse(request)?.date("date")?;
    apply(handle, &Change::VolumeDelete { id, at }, 202)
}

pub(super) fn resize_instance(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "entity_id")?;
    let b = Body::parse(request)?;
    let change = Change::InstanceResize {
        id,
        flavor: Some(b.str("flavor")?),
        at: b.date("date")?,
    };
    apply(handle, &change, 200)
}

pub(super) fn rebuild_instance(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "entity_id")?;
    let b = Body::parse(request)?;
    let change = Change::InstanceRebuild {
        id,
        os: Os {
            os_type: b.opt_str("os_type")?,
            distro: Some(b.str("distro")?),
            version: Some(b.str("version")?),
        },
        at: b.date("rebuild_date")?,
    };
    apply(handle, &change, 200)
}

pub(super) fn resize_volume(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "entity_id")?;
    let b = Body::parse(request)?;
    let change = Change::VolumeResize {
        id,
        size: Some(b.size("size")?),
        at: b.date("date")?,
    };
    apply(handle, &change, 200)
}

pub(super) fn attach_volume(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "entity_id")?;
    let b = Body::parse(request)?;
    let change = Change::VolumeAttach {
        id,
        attachments: b.ids("attachments")?,
        at: b.date("date")?,
    };
    apply(handle, &change, 200)
}

pub(super) fn detach_volume(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "entity_id")?;
    let b = Body::parse(request)?;
    let change = Change::VolumeDetach {
        id,
        attachments: b.ids("attachments")?,
        at: b.date("date")?,
    };
    apply(handle, &change, 200)
}

pub(super) fn create_volume_type(handle: &UsageHandle, request: &Request) -> ApiResult {
    let b = Body::parse(request)?;
    let change = Change::VolumeTypeCreate {
        type_id: b.str("type_id")?,
        name: b.str("type_name")?,
    };
    apply(handle, &change, 201)
}

pub(super) fn delete_volume_type(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "type_id")?;
    let engine = handle.shared.engine();
    if engine.store.delete_type(&id)? {
        Ok(Response::new(202))
    } else {
        Err(ApiError::not_found(format!("volume type {id} not found")))
    }
}

/// The fields `PUT /entity/instance/{id}` may change.
const UPDATABLE: [&str; 6] = ["start_date", "end_date", "name", "flavor", "os", "metadata"];

/// Updates the active version of an instance, or (with `start` and `end`
/// in the query) the one closed version within that period.
pub(super) fn update_instance_entity(handle: &UsageHandle, request: &Request) -> ApiResult {
    let id = param(request, "entity_id")?;
    let b = Body::parse(request)?;
    if let Some(key) = b.0.keys().find(|k| !UPDATABLE.contains(&k.as_str())) {
        return Err(ApiError::bad(format!(
            "`{key}` cannot be updated: expected some of {}",
            UPDATABLE.join(", ")
        )));
    }
    let engine = handle.shared.engine();
    let mut target =
        if query(request, "start").is_some() {
            let (start, end) = period(handle, request)?;
            let mut found = engine.store.closed_within(&id, start, end)?;
            match found.len() {
                0 => {
                    return Err(ApiError::not_found(format!(
                        "instance {id} has no closed version within {}..{}",
                        time::format(start),
                        time::format(end)
                    )));
                }
                1 => found.remove(0),
                _ => {
                    return Err(ApiError::bad(
                        "several closed versions within `start`..`end`: narrow the period to one",
                    ));
                }
            }
        } else {
            engine.store.state(&id)?.active.ok_or_else(|| {
                ApiError::not_found(format!("instance {id} has no active version"))
            })?
        };
    if target.kind != Kind::Instance {
        return Err(ApiError::bad(format!("{id} is a volume, not an instance")));
    }
    if b.0.contains_key("start_date") {
        target.start = b.date("start_date")?;
    }
    if b.0.contains_key("end_date") {
        if target.end.is_none() {
            return Err(ApiError::bad(
                "`end_date`: the active version has no end (delete the instance to close it)",
            ));
        }
        let end = b.date("end_date")?;
        target.end = Some(end);
        target.last_event = end;
    }
    if let Some(name) = b.opt_str("name")? {
        target.name = Some(name);
    }
    if let Some(flavor) = b.opt_str("flavor")? {
        target.flavor = Some(flavor);
    }
    if let Some(os) = b.0.get("os") {
        let os = os.as_object().ok_or_else(|| {
            ApiError::bad("`os`: expected an object with `os_type`, `distro`, `version`")
        })?;
        let field = |k: &str| -> Result<Option<String>, ApiError> {
            match os.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.len() <= MAX_NAME_BYTES => Ok(Some(s.clone())),
                Some(_) => Err(ApiError::bad(format!("`os.{k}`: expected a short string"))),
            }
        };
        target.os = Os {
            os_type: field("os_type")?,
            distro: field("distro")?,
            version: field("version")?,
        };
    }
    if let Some(meta) = b.0.get("metadata") {
        let meta = meta
            .as_object()
            .filter(|m| m.len() <= 64)
            .ok_or_else(|| ApiError::bad("`metadata`: expected an object of at most 64 strings"))?;
        let mut doc = Document::new();
        for (k, v) in meta {
            match v {
                Value::String(s) if !k.contains('$') && k.len() <= 128 => {
                    doc.insert(k.clone(), cut(s, 1024));
                }
                _ => return Err(ApiError::bad(format!("`metadata.{k}`: expected a string"))),
            }
        }
        target.metadata = doc;
    }
    if let Some(end) = target.end
        && end < target.start
    {
        return Err(ApiError::bad(
            "`end_date` is before `start_date`: expected end >= start",
        ));
    }
    if let Some(other) = overlapping(&engine.store.versions(&id, 10_000)?, &target) {
        return Err(ApiError::conflict(format!(
            "the version would overlap the one from {} to {}: versions of an entity never overlap",
            time::format(other.start),
            other.end.map_or_else(|| "now".into(), time::format)
        )));
    }
    engine.store.replace(&target)?;
    ok(200, &target.to_json())
}

/// Another version of the entity that overlaps `target`.
fn overlapping<'a>(versions: &'a [Version], target: &Version) -> Option<&'a Version> {
    let end = |v: &Version| v.end.unwrap_or(DateTime::MAX);
    versions
        .iter()
        .filter(|v| v.id != target.id)
        .find(|v| v.start < end(target) && target.start < end(v))
}

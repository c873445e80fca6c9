//! Light per-rule transforms: set, remove and rename fields, set the tenant,
//! sample 1 in N. An event is decoded and re-encoded only when a transform
//! actually changes it.

use bson::{Bson, Document};
use eventstorm_core::{RawEvent, RawEventRef};

use crate::config::TransformConfig;

/// What a [`Transform`] did with one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Sampled out: not sent.
    SampledOut,
    /// Nothing to change: send the original bytes.
    Unchanged,
    /// Changed: send these bytes instead.
    Changed(RawEvent),
}

/// A compiled [`TransformConfig`].
///
/// ```
/// use eventstorm_core::{Event, RawEvent};
/// use eventstorm_router::{TransformConfig, transform::{Outcome, Transform}};
///
/// let mut config = TransformConfig::default();
/// config.remove.push("body.password".into());
/// config.tenant = Some("acme".into());
/// let mut transform = Transform::new(&config);
///
/// let event = RawEvent::from_event(&Event::builder("login").field("password", "hunter2").build())?;
/// let Outcome::Changed(out) = transform.apply(event.view())? else { panic!("changed") };
/// assert!(out.get("body.password").is_none());
/// assert_eq!(out.view().tenant(), Some("acme"));
/// # Ok::<(), eventstorm_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Transform {
    set: Vec<(String, Bson)>,
    remove: Vec<String>,
    rename: Vec<(String, String)>,
    tenant: Option<String>,
    sample: u64,
    seen: u64,
}

impl Transform {
    /// Compiles a transform (the config is assumed validated).
    pub fn new(config: &TransformConfig) -> Self {
        Transform {
            set: config
                .set
                .iter()
                .map(|(k, v)| (k.clone(), crate::config::normalize_set(k, v)))
                .collect(),
            remove: config.remove.clone(),
            rename: config
                .rename
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            tenant: config.tenant.clone(),
            sample: config.sample.max(1),
            seen: 0,
        }
    }

    /// Applies the transform to one event.
    pub fn apply(&mut self, event: RawEventRef<'_>) -> eventstorm_core::Result<Outcome> {
        self.seen += 1;
        if !(self.seen - 1).is_multiple_of(self.sample) {
            return Ok(Outcome::SampledOut);
        }
        if !self.touches(event) {
            return Ok(Outcome::Unchanged);
        }
        let mut doc = Document::try_from(event.document()).map_err(|e| {
            eventstorm_core::Error::Decode(eventstorm_core::DecodeError::Bson(e.to_string()))
        })?;
        for path in &self.remove {
            remove_path(&mut doc, path);
        }
        for (from, to) in &self.rename {
            if let Some(value) = remove_path(&mut doc, from) {
                set_path(&mut doc, to, value)?;
            }
        }
        for (path, value) in &self.set {
            set_path(&mut doc, path, value.clone())?;
        }
        if let Some(tenant) = &self.tenant {
            doc.insert("tenant", tenant.as_str());
        }
        // The event was validated on receipt, so decoding it recursed at most
        // `MAX_DEPTH` levels; `set` and `rename` may nest it deeper, which
        // the encoder refuses (receivers would).
        let mut bytes = Vec::with_capacity(event.as_bytes().len() + 64);
        eventstorm_core::event::write_document(&mut bytes, &doc)?;
        Ok(Outcome::Changed(RawEvent::from_bytes(bytes)?))
    }

    /// Whether applying would change the event (read from the raw bytes).
    fn touches(&self, event: RawEventRef<'_>) -> bool {
        self.remove.iter().any(|p| event.get(p).is_some())
            || self
                .rename
                .iter()
                .any(|(from, _)| event.get(from).is_some())
            || self.set.iter().any(|(path, value)| {
                let current = event.get(path).and_then(|v| Bson::try_from(v).ok());
                current.as_ref() != Some(value)
            })
            || self
                .tenant
                .as_deref()
                .is_some_and(|t| event.tenant() != Some(t))
    }
}

/// A copy of `event` whose top-level `tenant` is `tenant`, as the
/// `tenant` transform writes it (the router's tenant binding uses it).
pub(crate) fn with_tenant(
    event: RawEventRef<'_>,
    tenant: &str,
) -> eventstorm_core::Result<RawEvent> {
    let mut doc = Document::try_from(event.document()).map_err(|e| {
        eventstorm_core::Error::Decode(eventstorm_core::DecodeError::Bson(e.to_string()))
    })?;
    doc.insert("tenant", tenant);
    let mut bytes = Vec::with_capacity(event.as_bytes().len() + tenant.len() + 16);
    eventstorm_core::event::write_document(&mut bytes, &doc)?;
    Ok(RawEvent::from_bytes(bytes)?)
}

fn remove_path(doc: &mut Document, path: &str) -> Option<Bson> {
    match path.rsplit_once('.') {
        None => doc.remove(path),
        Some((parent, last)) => {
            let mut current = doc;
            for segment in parent.split('.') {
                current = match current.get_mut(segment) {
                    Some(Bson::Document(inner)) => inner,
                    _ => return None,
                };
            }
            current.remove(last)
        }
    }
}

fn set_path(doc: &mut Document, path: &str, value: Bson) -> eventstorm_core::Result<()> {
    let (parent, last) = match path.rsplit_once('.') {
        None => {
            doc.insert(path, value);
            return Ok(());
        }
        Some(split) => split,
    };
    let mut current = doc;
    for segment in parent.split('.') {
        if !current.contains_key(segment) {
            current.insert(segment, Document::new());
        }
        current = match current.get_mut(segment) {
            Some(Bson::Document(inner)) => inner,
            _ => {
                return Err(eventstorm_core::Error::InvalidEvent(format!(
                    "cannot set `{path}`: `{segment}` is not a document"
                )));
            }
        };
    }
    current.insert(last, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstorm_core::Event;

    fn raw(event: &Event) -> RawEvent {
        RawEvent::from_event(event).expect("valid event")
    }

    #[test]
    fn untouched_events_are_not_reencoded() {
        let mut config = TransformConfig::default();
        config.remove.push("body.password".into());
        config.set.insert("body.region".into(), Bson::from("eu"));
        let mut t = Transform::new(&config);
        let event = raw(&Event::builder("a").field("region", "eu").build());
        assert_eq!(t.apply(event.view()).expect("ok"), Outcome::Unchanged);
    }

    #[test]
    fn rename_moves_nested_values() {
        let mut config = TransformConfig::default();
        config
            .rename
            .insert("body.host".into(), "body.meta.hostname".into());
        let mut t = Transform::new(&config);
        let event = raw(&Event::builder("a").field("host", "web1").build());
        let Outcome::Changed(out) = t.apply(event.view()).expect("ok") else {
            panic!("expected a change");
        };
        assert!(out.get("body.host").is_none());
        assert_eq!(
            out.get("body.meta.hostname").and_then(|v| v.as_str()),
            Some("web1")
        );
        assert_eq!(out.id(), event.id());
    }

    #[test]
    fn sample_keeps_one_in_n() {
        let config = TransformConfig {
            sample: 3,
            ..Default::default()
        };
        let mut t = Transform::new(&config);
        let event = raw(&Event::builder("a").build());
        let kept = (0..9)
            .filter(|_| t.apply(event.view()).expect("ok") == Outcome::Unchanged)
            .count();
        assert_eq!(kept, 3);
    }

    #[test]
    fn a_transform_that_nests_past_the_limit_is_an_error() {
        use eventstorm_core::event::MAX_DEPTH;
        // The body is level 2; `set` adds documents along its path.
        let mut body = Document::new();
        for _ in 3..MAX_DEPTH {
            body = bson::doc! { "a": body };
        }
        let event = raw(&Event::builder("a").field("a", body).build());
        let mut config = TransformConfig::default();
        config.set.insert("body.b.c".into(), Bson::from(1));
        assert!(matches!(
            Transform::new(&config).apply(event.view()),
            Ok(Outcome::Changed(_))
        ));
        let deep_path = format!("body.{}", vec!["x"; MAX_DEPTH].join("."));
        config.set.insert(deep_path, Bson::from(1));
        let err = Transform::new(&config).apply(event.view()).unwrap_err();
        assert!(err.to_string().contains("100 levels"), "{err}");
    }

    #[test]
    fn set_through_a_scalar_is_an_error() {
        let mut config = TransformConfig::default();
        config.set.insert("body.x.y".into(), Bson::from(1));
        let mut t = Transform::new(&config);
        let event = raw(&Event::builder("a").field("x", 5).build());
        assert!(t.apply(event.view()).is_err());
    }
}

//! Routing rules and their transforms (`[[rules]]`).

use std::collections::BTreeMap;

use eventstorm_core::Matcher;
use serde::{Deserialize, Serialize};

/// One routing rule (`[[rules]]`): events that match go to the outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name in stats (default `rule<N>`, N from 0 in file order).
    #[serde(default)]
    pub name: Option<String>,
    /// Which events: the matcher grammar (`'volume.* where tenant == "acme"'`)
    /// or its table form.
    #[serde(rename = "match")]
    pub matcher: Matcher,
    /// The outputs matching events go to (at least one).
    pub outputs: Vec<String>,
    /// Keep evaluating the rules after this one matched (default false: stop).
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    /// Changes made to the events this rule sends (default: none).
    #[serde(default)]
    pub transform: TransformConfig,
}

impl RuleConfig {
    /// A rule sending what `matcher` matches to `outputs`, stopping there.
    pub fn new<I, S>(matcher: Matcher, outputs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RuleConfig {
            name: None,
            matcher,
            outputs: outputs.into_iter().map(Into::into).collect(),
            continue_: false,
            transform: TransformConfig::default(),
        }
    }
}

/// A rule's light transform (`[rules.transform]`). Fields are dotted paths
/// from the document root (`body.region`, `tenant`); the envelope fields `_id`,
/// `type`, `ts` and `body` cannot be changed. Applied in the order: sample,
/// remove, rename, set, tenant. Only events a transform changes are re-encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformConfig {
    /// Fields to set (added or replaced), e.g. `{ "body.region" = "eu-1" }`.
    pub set: BTreeMap<String, bson::Bson>,
    /// Fields to remove, e.g. `["body.password"]`.
    pub remove: Vec<String>,
    /// Fields to rename, old path to new path, e.g. `{ "body.host" = "body.hostname" }`.
    pub rename: BTreeMap<String, String>,
    /// Sets the `tenant` envelope field.
    pub tenant: Option<String>,
    /// Sends 1 event in `sample` (default 1: all); the others are counted as
    /// `sampled_out`.
    pub sample: u64,
}

impl TransformConfig {
    /// Whether this transform changes nothing and keeps every event.
    pub fn is_identity(&self) -> bool {
        self.set.is_empty()
            && self.remove.is_empty()
            && self.rename.is_empty()
            && self.tenant.is_none()
            && self.sample <= 1
    }
}

impl Default for TransformConfig {
    fn default() -> Self {
        TransformConfig {
            set: BTreeMap::new(),
            remove: Vec::new(),
            rename: BTreeMap::new(),
            tenant: None,
            sample: 1,
        }
    }
}

//! The billing summary Almanach left to its users: instance-hours per
//! flavor and GB-hours per volume type over a period, from the versions
//! clipped to it.

use std::collections::BTreeMap;

use bson::DateTime;
use serde_json::{Value, json};

use super::model::{Kind, Version};
use super::time;

/// Hours of `version` within `[start, end]`.
fn hours(version: &Version, start: DateTime, end: DateTime) -> f64 {
    let from = version.start.max(start).timestamp_millis();
    let to = version.end.unwrap_or(end).min(end).timestamp_millis();
    (to - from).max(0) as f64 / 3_600_000.0
}

/// Rounded to the millisecond's share of an hour that still reads well.
fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The summary of `versions` (a project's, overlapping the period).
pub(crate) fn summary(
    project: &str,
    start: DateTime,
    end: DateTime,
    versions: &[Version],
) -> Value {
    let mut flavors: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    let mut types: BTreeMap<String, (f64, f64, u64)> = BTreeMap::new();
    for v in versions {
        let h = hours(v, start, end);
        match v.kind {
            Kind::Instance => {
                let key = v.flavor.clone().unwrap_or_else(|| "unknown".into());
                let entry = flavors.entry(key).or_default();
                entry.0 += h;
                entry.1 += 1;
            }
            Kind::Volume => {
                let key = v.volume_type.clone().unwrap_or_else(|| "unknown".into());
                let entry = types.entry(key).or_default();
                entry.0 += h * v.size.unwrap_or(0) as f64;
                entry.1 += h;
                entry.2 += 1;
            }
        }
    }
    let instance_hours: f64 = flavors.values().map(|e| e.0).sum();
    let gb_hours: f64 = types.values().map(|e| e.0).sum();
    json!({
        "project_id": project,
        "start": time::format(start),
        "end": time::format(end),
        "instances": flavors.into_iter().map(|(flavor, (h, n))| json!({
            "flavor": flavor, "hours": round(h), "versions": n,
        })).collect::<Vec<_>>(),
        "volumes": types.into_iter().map(|(t, (gbh, h, n))| json!({
            "volume_type": t, "gb_hours": round(gbh), "hours": round(h), "versions": n,
        })).collect::<Vec<_>>(),
        "totals": {"instance_hours": round(instance_hours), "volume_gb_hours": round(gb_hours)},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_versions_to_the_period() {
        let t = |s: &str| time::parse(s).expect("date");
        let mut a = Version::new("i-1", Kind::Instance, "p", t("2026-03-01 00:00:00"));
        a.flavor = Some("m1.small".into());
        a.end = Some(t("2026-03-01 12:00:00"));
        let mut b = a.successor(t("2026-03-01 12:00:00"));
        b.flavor = Some("m1.large".into());
        let mut v = Version::new("v-1", Kind::Volume, "p", t("2026-02-28 00:00:00"));
        v.size = Some(10);
        v.volume_type = Some("ssd".into());
        let s = summary(
            "p",
            t("2026-03-01 06:00:00"),
            t("2026-03-02 00:00:00"),
            &[a, b, v],
        );
        assert_eq!(
            s["instances"][0],
            json!({"flavor": "m1.large", "hours": 12.0, "versions": 1})
        );
        assert_eq!(
            s["instances"][1],
            json!({"flavor": "m1.small", "hours": 6.0, "versions": 1})
        );
        assert_eq!(s["volumes"][0]["gb_hours"], 180.0);
        assert_eq!(s["totals"]["instance_hours"], 18.0);
    }
}

//! Each version rule on its own, without a database.

use super::*;
use crate::usage::model::Os;
use bson::Document;

const MIN: i64 = 60_000;

fn t(s: &str) -> DateTime {
    time::parse(s).expect("date")
}

fn instance(start: &str) -> Version {
    let mut v = Version::new("i-1", Kind::Instance, "p", t(start));
    v.flavor = Some("m1.small".into());
    v.os = Os {
        os_type: Some("linux".into()),
        distro: Some("ubuntu".into()),
        version: Some("22.04".into()),
    };
    v
}

fn volume(start: &str, attached: &[&str]) -> Version {
    let mut v = Version::new("v-1", Kind::Volume, "p", t(start));
    v.size = Some(10);
    v.attached_to = attached.iter().map(|s| (*s).to_owned()).collect();
    v
}

fn active(v: Version) -> State {
    State {
        active: Some(v),
        ..State::default()
    }
}

#[test]
fn a_create_opens_the_first_version_and_an_older_one_is_ignored() {
    let create = Change::InstanceCreate {
        id: "i-1".into(),
        project: "p".into(),
        start: t("2026-03-01 09:00:00"),
        flavor: Some("m1.small".into()),
        os: Os::default(),
        name: Some("vm".into()),
        metadata: Document::new(),
    };
    let Plan::Insert(v) = plan(&create, &State::default(), MIN) else {
        panic!("insert")
    };
    assert_eq!(
        (v.start, v.end, v.last_event),
        (t("2026-03-01 09:00:00"), None, t("2026-03-01 09:00:00"))
    );
    let mut newer = instance("2026-03-01 08:00:00");
    newer.last_event = t("2026-03-01 10:00:00");
    assert!(matches!(plan(&create, &active(newer), MIN), Plan::Stale(_)));
    // Newer than the active version: it is closed where the create starts.
    let older = instance("2026-03-01 07:00:00");
    assert!(
        matches!(plan(&create, &active(older), MIN), Plan::Replace { at, .. } if at == t("2026-03-01 09:00:00"))
    );
    // Older than the end of a deleted entity's last version: ignored.
    let mut closed = instance("2026-03-01 07:00:00");
    closed.end = Some(t("2026-03-01 09:30:00"));
    let state = State {
        latest_closed: Some(closed),
        ..State::default()
    };
    assert!(matches!(plan(&create, &state, MIN), Plan::Stale(_)));
}

#[test]
fn resize_and_rebuild_version_only_on_a_difference() {
    let at = t("2026-03-01 10:00:00");
    let same = Change::InstanceResize {
        id: "i-1".into(),
        flavor: Some("m1.small".into()),
        at,
    };
    assert_eq!(
        plan(&same, &active(instance("2026-03-01 09:00:00")), MIN),
        Plan::Unchanged
    );
    let other = Change::InstanceResize {
        id: "i-1".into(),
        flavor: Some("m1.large".into()),
        at,
    };
    let Plan::Replace { at: closed, next } =
        plan(&other, &active(instance("2026-03-01 09:00:00")), MIN)
    else {
        panic!("replace")
    };
    assert_eq!(
        (closed, next.start, next.flavor.as_deref()),
        (at, at, Some("m1.large"))
    );
    let same_image = Change::InstanceRebuild {
        id: "i-1".into(),
        os: Os {
            os_type: Some("other".into()),
            distro: Some("ubuntu".into()),
            version: Some("22.04".into()),
        },
        at,
    };
    assert_eq!(
        plan(&same_image, &active(instance("2026-03-01 09:00:00")), MIN),
        Plan::Unchanged
    );
    let new_image = Change::InstanceRebuild {
        id: "i-1".into(),
        os: Os {
            os_type: None,
            distro: Some("debian".into()),
            version: Some("12".into()),
        },
        at,
    };
    assert!(matches!(
        plan(&new_image, &active(instance("2026-03-01 09:00:00")), MIN),
        Plan::Replace { .. }
    ));
}

#[test]
fn attach_and_detach_update_in_place_within_the_threshold_or_with_attachments() {
    let attach = |at: &str, ids: &[&str]| Change::VolumeAttach {
        id: "v-1".into(),
        attachments: ids.iter().map(|s| (*s).to_owned()).collect(),
        at: t(at),
    };
    let detach = |at: &str, ids: &[&str]| Change::VolumeDetach {
        id: "v-1".into(),
        attachments: ids.iter().map(|s| (*s).to_owned()).collect(),
        at: t(at),
    };
    let fresh = active(volume("2026-03-01 09:00:00", &[]));
    // Within 60 s of the start: in place.
    assert!(matches!(
        plan(&attach("2026-03-01 09:00:59", &["i-1"]), &fresh, MIN),
        Plan::Update(_)
    ));
    // At 60 s and beyond, without attachments before: a new version.
    assert!(matches!(
        plan(&attach("2026-03-01 09:01:00", &["i-1"]), &fresh, MIN),
        Plan::Replace { .. }
    ));
    // Already attached: in place, whenever.
    let attached = active(volume("2026-03-01 09:00:00", &["i-1"]));
    let Plan::Update(v) = plan(
        &attach("2026-03-01 12:00:00", &["i-1", "i-2"]),
        &attached,
        MIN,
    ) else {
        panic!("update")
    };
    assert_eq!(
        (v.attached_to.len(), v.last_event),
        (2, t("2026-03-01 12:00:00"))
    );
    // A detach that leaves attachments: in place; the last one: a new version.
    let two = active(volume("2026-03-01 09:00:00", &["i-1", "i-2"]));
    assert!(matches!(
        plan(&detach("2026-03-01 12:00:00", &["i-2"]), &two, MIN),
        Plan::Update(_)
    ));
    assert!(matches!(
        plan(&detach("2026-03-01 12:00:00", &[]), &two, MIN),
        Plan::Replace { .. }
    ));
    assert!(matches!(
        plan(&detach("2026-03-01 09:00:30", &[]), &two, MIN),
        Plan::Update(_)
    ));
}

#[test]
fn a_volume_deleted_within_the_threshold_drops_its_short_lived_version() {
    let delete = |at: &str| Change::VolumeDelete {
        id: "v-1".into(),
        at: t(at),
    };
    let one = active(volume("2026-03-01 09:00:00", &[]));
    assert_eq!(
        plan(&delete("2026-03-01 09:00:10"), &one, MIN),
        Plan::Close {
            at: t("2026-03-01 09:00:10")
        }
    );
    let several = State {
        several: true,
        ..one
    };
    assert_eq!(
        plan(&delete("2026-03-01 09:00:10"), &several, MIN),
        Plan::DropActive
    );
    assert!(matches!(
        plan(&delete("2026-03-01 09:01:00"), &several, MIN),
        Plan::Close { .. }
    ));
}

#[test]
fn missing_entities_park_deleted_ones_and_the_past_are_refused() {
    let resize = |at: &str| Change::VolumeResize {
        id: "v-1".into(),
        size: Some(20),
        at: t(at),
    };
    assert_eq!(
        plan(&resize("2026-03-01 10:00:00"), &State::default(), MIN),
        Plan::Park
    );
    let mut closed = volume("2026-03-01 09:00:00", &[]);
    closed.end = Some(t("2026-03-01 09:30:00"));
    let deleted = State {
        latest_closed: Some(closed),
        ..State::default()
    };
    assert!(matches!(
        plan(&resize("2026-03-01 10:00:00"), &deleted, MIN),
        Plan::Refuse(_)
    ));
    let live = active(volume("2026-03-01 09:00:00", &[]));
    assert!(matches!(
        plan(&resize("2026-03-01 08:00:00"), &live, MIN),
        Plan::Refuse(_)
    ));
    let wrong = Change::InstanceDelete {
        id: "v-1".into(),
        at: t("2026-03-01 10:00:00"),
    };
    assert!(matches!(plan(&wrong, &live, MIN), Plan::Refuse(_)));
    let rename = Change::VolumeRename {
        id: "v-1".into(),
        name: Some("data".into()),
    };
    assert!(
        matches!(plan(&rename, &live, MIN), Plan::Update(v) if v.name.as_deref() == Some("data"))
    );
}

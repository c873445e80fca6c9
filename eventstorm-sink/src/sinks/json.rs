//! Events as JSON (MongoDB relaxed extended JSON).

use bson::Bson;
use eventstorm_core::RawEvent;

/// The event as a JSON value in MongoDB's relaxed extended JSON: plain numbers
/// and strings stay plain; ObjectIds, dates and binary become `{"$oid": ..}`,
/// `{"$date": ..}`, `{"$binary": ..}`, so nothing is lost.
pub fn to_json(event: &RawEvent) -> serde_json::Value {
    match bson::Document::try_from(event.view().document()) {
        Ok(doc) => Bson::Document(doc).into_relaxed_extjson(),
        // A document that passed envelope validation but holds a malformed
        // nested value: say so rather than drop it.
        Err(e) => serde_json::json!({
            "type": event.event_type(),
            "_error": format!("undecodable body: {e}"),
        }),
    }
}

/// Appends the event as one line of JSON to `out`.
pub(crate) fn write_json_line(out: &mut Vec<u8>, event: &RawEvent) {
    let value = to_json(event);
    // Writing a `serde_json::Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &value);
    out.push(b'\n');
}

//! Events: `PutEvents` entries checked and turned into events as EventBridge shapes them,
//! the `Scheduled Event` of a scheduled rule, and the deliveries a matched rule makes.
//!
//! An event: `{"version": "0", "id", "detail-type", "source", "account", "time" (RFC 3339,
//! UTC, `Z`), "region", "resources": [], "detail": {}}`.
//!
//! A `PutEvents` entry needs `Source`, `DetailType` and `Detail` (a JSON object); a missing
//! or bad one is an error of that entry only (`InvalidArgument` / `MalformedDetail`, with
//! AWS's messages), reported in `Entries` with the others' `EventId`s.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::{
    delivery::Delivery,
    input::Context,
    rules::Rule,
    schedule::{parse_rfc3339, rfc3339},
};

/// The most entries one `PutEvents` may carry.
pub const MAX_ENTRIES: usize = 10;

/// An entry's error, as `PutEvents` reports it in `Entries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    /// `ErrorCode`.
    pub code: &'static str,
    /// `ErrorMessage`.
    pub message: String,
}

impl EntryError {
    fn invalid(field: &str) -> EntryError {
        EntryError {
            code: "InvalidArgument",
            message: format!(
                "Parameter {field} is not valid. Reason: {field} is a required argument."
            ),
        }
    }
}

/// A fresh event id (a random UUID, version 4).
pub fn new_id() -> String {
    let hi = fastrand::u64(..);
    let lo = fastrand::u64(..);
    let b = ((u128::from(hi) << 64) | u128::from(lo)) & !(0xF000u128 << 64) & !(0xC << 60);
    let b = b | (0x4000u128 << 64) | (0x8u128 << 60);
    let hex = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The bus an entry's `EventBusName` names (a name or an ARN; `default` when absent).
pub fn bus_name(entry: &Value) -> String {
    match entry["EventBusName"].as_str().map(str::trim) {
        None | Some("") => "default".to_string(),
        Some(name) => match name.rsplit_once(":event-bus/") {
            Some((_, n)) => n.to_string(),
            None => name.to_string(),
        },
    }
}

/// The event of one `PutEvents` entry, or the entry's error. `now` is the time of the call
/// (seconds since the epoch), used when the entry has no `Time`.
pub fn from_entry(
    entry: &Value,
    region: &str,
    account: &str,
    now: i64,
) -> Result<Value, EntryError> {
    let text = |k: &str| entry[k].as_str().filter(|s| !s.trim().is_empty());
    let source = text("Source").ok_or_else(|| EntryError::invalid("Source"))?;
    let detail_type = text("DetailType").ok_or_else(|| EntryError::invalid("DetailType"))?;
    let detail = text("Detail").ok_or_else(|| EntryError::invalid("Detail"))?;
    let detail: Value = serde_json::from_str(detail)
        .ok()
        .filter(Value::is_object)
        .ok_or(EntryError {
            code: "MalformedDetail",
            message: "Detail is malformed.".to_string(),
        })?;
    let time = match &entry["Time"] {
        Value::Number(n) => n.as_f64().map_or(now, |t| t.floor() as i64),
        Value::String(s) => parse_rfc3339(s)
            .or_else(|| s.parse::<f64>().ok().map(|t| t.floor() as i64))
            .unwrap_or(now),
        _ => now,
    };
    let resources: Vec<Value> = entry["Resources"]
        .as_array()
        .map(|r| r.iter().filter(|v| v.is_string()).cloned().collect())
        .unwrap_or_default();
    Ok(json!({
        "version": "0",
        "id": new_id(),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": rfc3339(time),
        "region": region,
        "resources": resources,
        "detail": detail,
    }))
}

/// The event a scheduled rule sends.
pub fn scheduled(rule_arn: &str, region: &str, account: &str, now: i64) -> Value {
    json!({
        "version": "0",
        "id": new_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": rfc3339(now),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    })
}

/// One delivery per target of `rule`, each with the input the target asks for.
pub fn deliveries(rule: &Rule, event: &Arc<Value>, ingestion_time: &str) -> Vec<Delivery> {
    let cx = Context {
        rule_arn: &rule.arn,
        rule_name: &rule.name,
        ingestion_time,
    };
    rule.targets
        .iter()
        .map(|t| Delivery {
            target: t.clone(),
            rule_arn: rule.arn.clone(),
            event: event.clone(),
            body: t.input.render(event, &cx),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(new_id(), id);
    }

    #[test]
    fn entries() {
        let e = from_entry(
            &json!({"Source": "shop", "DetailType": "Order", "Detail": "{\"a\":1}", "Time": 1714564800, "Resources": ["r"]}),
            "eu-west-1",
            "000000000000",
            0,
        )
        .unwrap();
        assert_eq!(e["time"], "2024-05-01T12:00:00Z");
        assert_eq!(e["detail"], json!({"a": 1}));
        assert_eq!(e["region"], "eu-west-1");
        assert_eq!(e["resources"], json!(["r"]));
        assert_eq!(e["version"], "0");
        let err = |entry: Value| from_entry(&entry, "r", "a", 0).unwrap_err();
        assert_eq!(
            err(json!({"DetailType": "x", "Detail": "{}"})).message,
            "Parameter Source is not valid. Reason: Source is a required argument."
        );
        assert_eq!(
            err(json!({"Source": "x", "Detail": "{}"})).code,
            "InvalidArgument"
        );
        assert_eq!(
            err(json!({"Source": "x", "DetailType": "y", "Detail": "[1]"})).code,
            "MalformedDetail"
        );
        assert_eq!(
            err(json!({"Source": "x", "DetailType": "y", "Detail": "{"})).message,
            "Detail is malformed."
        );
        assert_eq!(bus_name(&json!({})), "default");
        assert_eq!(
            bus_name(
                &json!({"EventBusName": "arn:aws:events:us-east-1:000000000000:event-bus/orders"})
            ),
            "orders"
        );
    }
}

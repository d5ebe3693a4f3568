//! Stream records in AWS's shape: which event a change is, the images a view type keeps,
//! `SizeBytes` by DynamoDB's item-size rules.

use serde_json::{json, Map, Value};

/// An item (or key) as DynamoDB JSON: attribute name to AttributeValue.
pub type Item = Map<String, Value>;

/// What a stream keeps of each change (`StreamViewType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewType {
    /// Only the key attributes.
    KeysOnly,
    /// The item after the change.
    NewImage,
    /// The item before the change.
    OldImage,
    /// Both.
    NewAndOldImages,
}

impl ViewType {
    /// Parses AWS's name.
    pub fn parse(s: &str) -> Option<ViewType> {
        Some(match s {
            "KEYS_ONLY" => ViewType::KeysOnly,
            "NEW_IMAGE" => ViewType::NewImage,
            "OLD_IMAGE" => ViewType::OldImage,
            "NEW_AND_OLD_IMAGES" => ViewType::NewAndOldImages,
            _ => return None,
        })
    }

    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ViewType::KeysOnly => "KEYS_ONLY",
            ViewType::NewImage => "NEW_IMAGE",
            ViewType::OldImage => "OLD_IMAGE",
            ViewType::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }

    fn keeps_new(self) -> bool {
        matches!(self, ViewType::NewImage | ViewType::NewAndOldImages)
    }

    fn keeps_old(self) -> bool {
        matches!(self, ViewType::OldImage | ViewType::NewAndOldImages)
    }
}

/// The key attributes of `item`, by the table's key attribute names (hash first).
pub fn key_of(item: &Item, key_names: &[String]) -> Option<Item> {
    key_names
        .iter()
        .map(|name| item.get(name).map(|v| (name.clone(), v.clone())))
        .collect()
}

/// One change, before it becomes a record: the item before and after the write.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The item's key.
    pub keys: Item,
    /// The item before the write (None: it did not exist).
    pub old: Option<Item>,
    /// The item after the write (None: it does not exist now).
    pub new: Option<Item>,
}

impl Change {
    /// `INSERT`, `MODIFY` or `REMOVE`; None when the write changed nothing.
    pub fn event_name(&self) -> Option<&'static str> {
        match (&self.old, &self.new) {
            (None, Some(_)) => Some("INSERT"),
            (Some(_), None) => Some("REMOVE"),
            (Some(a), Some(b)) if !same_item(a, b) => Some("MODIFY"),
            _ => None,
        }
    }
}

/// Items are equal whatever the order of attributes, numbers compared by value text.
fn same_item(a: &Item, b: &Item) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| same_value(v, w)))
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => same_item(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_value(v, w))
        }
        _ => a == b,
    }
}

/// The fields of a record that do not depend on its place in the stream.
#[derive(Debug, Clone)]
pub struct Record {
    /// INSERT, MODIFY or REMOVE.
    pub event_name: &'static str,
    /// The region of the table.
    pub region: String,
    /// The `dynamodb` part without `SequenceNumber`, with `SizeBytes`.
    pub size_bytes: u64,
    /// Keys and the images the view type keeps.
    change: Change,
    view: ViewType,
    /// Seconds since the epoch.
    created: u64,
}

impl Record {
    /// A record of `change` (which must change something) for a stream with `view`.
    pub fn new(change: Change, view: ViewType, region: &str, created: u64) -> Option<Record> {
        let event_name = change.event_name()?;
        let mut size = item_size(&change.keys);
        if view.keeps_new() {
            size += change.new.as_ref().map_or(0, item_size);
        }
        if view.keeps_old() {
            size += change.old.as_ref().map_or(0, item_size);
        }
        Some(Record {
            event_name,
            region: region.to_string(),
            size_bytes: size,
            change,
            view,
            created,
        })
    }

    /// The record as GetRecords returns it, with its sequence number.
    pub fn to_json(&self, sequence_number: &str) -> Value {
        let mut dynamodb = Map::new();
        dynamodb.insert("ApproximateCreationDateTime".into(), json!(self.created));
        dynamodb.insert("Keys".into(), Value::Object(self.change.keys.clone()));
        if self.view.keeps_new() {
            if let Some(new) = &self.change.new {
                dynamodb.insert("NewImage".into(), Value::Object(new.clone()));
            }
        }
        if self.view.keeps_old() {
            if let Some(old) = &self.change.old {
                dynamodb.insert("OldImage".into(), Value::Object(old.clone()));
            }
        }
        dynamodb.insert("SequenceNumber".into(), json!(sequence_number));
        dynamodb.insert("SizeBytes".into(), json!(self.size_bytes));
        dynamodb.insert("StreamViewType".into(), json!(self.view.as_str()));
        json!({
            "eventID": event_id(),
            "eventName": self.event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": dynamodb,
        })
    }
}

/// A random 32-hex-digit event id, as AWS's.
fn event_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// An item's size by DynamoDB's rules: attribute names plus values.
pub fn item_size(item: &Item) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

/// The size of one AttributeValue.
fn value_size(value: &Value) -> u64 {
    let Some((kind, v)) = value.as_object().and_then(|m| m.iter().next()) else {
        return 0;
    };
    match (kind.as_str(), v) {
        ("S", Value::String(s)) => s.len() as u64,
        ("N", Value::String(n)) => number_size(n),
        ("B", Value::String(b)) => base64_len(b),
        ("BOOL" | "NULL", _) => 1,
        ("SS", Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.len() as u64)
            .sum(),
        ("NS", Value::Array(a)) => a.iter().filter_map(Value::as_str).map(number_size).sum(),
        ("BS", Value::Array(a)) => a.iter().filter_map(Value::as_str).map(base64_len).sum(),
        ("L", Value::Array(a)) => 3 + a.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        ("M", Value::Object(m)) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() as u64 + value_size(v))
                .sum::<u64>()
        }
        _ => 0,
    }
}

/// A number takes about one byte per two significant digits, plus one.
fn number_size(n: &str) -> u64 {
    let digits = n.bytes().filter(u8::is_ascii_digit).count() as u64;
    digits.div_ceil(2) + 1
}

fn base64_len(b: &str) -> u64 {
    (b.trim_end_matches('=').len() as u64 * 3) / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(v: Value) -> Item {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn events_follow_the_images() {
        let k = item(json!({"pk": {"S": "a"}}));
        let a = item(json!({"pk": {"S": "a"}, "n": {"N": "1"}}));
        let b = item(json!({"n": {"N": "1"}, "pk": {"S": "a"}}));
        let c = item(json!({"pk": {"S": "a"}, "n": {"N": "2"}}));
        let change = |old: Option<&Item>, new: Option<&Item>| Change {
            keys: k.clone(),
            old: old.cloned(),
            new: new.cloned(),
        };
        assert_eq!(change(None, Some(&a)).event_name(), Some("INSERT"));
        assert_eq!(change(Some(&a), Some(&c)).event_name(), Some("MODIFY"));
        assert_eq!(change(Some(&a), None).event_name(), Some("REMOVE"));
        assert_eq!(
            change(Some(&a), Some(&b)).event_name(),
            None,
            "same item, other order"
        );
        assert_eq!(change(None, None).event_name(), None);
    }

    #[test]
    fn view_types_keep_their_images() {
        let keys = item(json!({"pk": {"S": "a"}}));
        let old = item(json!({"pk": {"S": "a"}, "n": {"N": "1"}}));
        let new = item(json!({"pk": {"S": "a"}, "n": {"N": "2"}}));
        let change = Change {
            keys,
            old: Some(old),
            new: Some(new),
        };
        for (view, has_new, has_old) in [
            (ViewType::KeysOnly, false, false),
            (ViewType::NewImage, true, false),
            (ViewType::OldImage, false, true),
            (ViewType::NewAndOldImages, true, true),
        ] {
            let r = Record::new(change.clone(), view, "eu-west-1", 1_700_000_000).unwrap();
            let j = r.to_json("000000000000000000042");
            assert_eq!(j["eventName"], "MODIFY");
            assert_eq!(j["eventVersion"], "1.1");
            assert_eq!(j["awsRegion"], "eu-west-1");
            let d = &j["dynamodb"];
            assert_eq!(d["Keys"], json!({"pk": {"S": "a"}}));
            assert_eq!(d.get("NewImage").is_some(), has_new, "{view:?}");
            assert_eq!(d.get("OldImage").is_some(), has_old, "{view:?}");
            assert_eq!(d["SequenceNumber"], "000000000000000000042");
            assert_eq!(d["StreamViewType"], view.as_str());
            assert!(d["SizeBytes"].as_u64().unwrap() > 0);
            assert_eq!(ViewType::parse(view.as_str()), Some(view));
        }
    }

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        assert_eq!(item_size(&item(json!({"pk": {"S": "abc"}}))), 5);
        assert_eq!(item_size(&item(json!({"n": {"N": "12345"}}))), 1 + 4);
        assert_eq!(item_size(&item(json!({"b": {"BOOL": true}}))), 2);
        assert_eq!(
            item_size(&item(json!({"m": {"M": {"x": {"S": "yy"}}}}))),
            1 + 3 + 1 + 1 + 2
        );
        assert_eq!(item_size(&item(json!({"bin": {"B": "AAAA"}}))), 3 + 3);
    }

    #[test]
    fn keys_are_taken_by_name() {
        let it = item(json!({"sk": {"N": "1"}, "pk": {"S": "a"}, "x": {"S": "y"}}));
        let names = vec!["pk".to_string(), "sk".to_string()];
        let k = key_of(&it, &names).unwrap();
        assert_eq!(
            Value::Object(k),
            json!({"pk": {"S": "a"}, "sk": {"N": "1"}})
        );
        assert!(key_of(&item(json!({"pk": {"S": "a"}})), &names).is_none());
    }
}

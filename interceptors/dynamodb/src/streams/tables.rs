//! Tables and their StreamSpecification: what CreateTable and UpdateTable ask for (taken out
//! of the request, since the backend has no streams or must not keep its own), and the
//! stream fields DescribeTable and friends show, as AWS shows them.

use serde_json::{json, Map, Value};

use super::{record::ViewType, store::TableStream};

/// What a StreamSpecification asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamChange {
    /// Enable a stream with this view type.
    Enable(ViewType),
    /// Disable the stream.
    Disable,
}

/// Takes `StreamSpecification` out of a CreateTable/UpdateTable body. `Ok(None)` when there is
/// none; `Err` carries the `ValidationException` message for a bad one.
pub fn take_specification(body: &mut Map<String, Value>) -> Result<Option<StreamChange>, String> {
    let Some(spec) = body.remove("StreamSpecification") else {
        return Ok(None);
    };
    let enabled = spec.get("StreamEnabled").and_then(Value::as_bool).ok_or_else(|| {
        "1 validation error detected: Value null at 'streamSpecification.streamEnabled' failed to \
         satisfy constraint: Member must not be null"
            .to_string()
    })?;
    if !enabled {
        return Ok(Some(StreamChange::Disable));
    }
    let view = spec
        .get("StreamViewType")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            "StreamSpecification: StreamViewType is required when StreamEnabled is true".to_string()
        })?;
    ViewType::parse(view)
        .map(|v| Some(StreamChange::Enable(v)))
        .ok_or_else(|| {
            format!(
            "1 validation error detected: Value '{view}' at 'streamSpecification.streamViewType' \
             failed to satisfy constraint: Member must satisfy enum value set: \
             [NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]"
        )
        })
}

/// True when an UpdateTable body asks for nothing but (the removed) stream change.
/// `AttributeDefinitions` alone changes nothing either (tools send it along).
pub fn changes_only_the_stream(body: &Map<String, Value>) -> bool {
    body.keys()
        .all(|k| k == "TableName" || k == "AttributeDefinitions")
}

/// Shows the table's stream in a `TableDescription` (or DescribeTable's `Table`): the
/// specification while enabled, the latest stream's ARN and label once there was one.
pub fn show(description: &mut Value, stream: Option<&TableStream>) {
    let Some(d) = description.as_object_mut() else {
        return;
    };
    d.remove("StreamSpecification");
    d.remove("LatestStreamArn");
    d.remove("LatestStreamLabel");
    let Some(stream) = stream else {
        return;
    };
    if let Some(view) = stream.enabled {
        d.insert(
            "StreamSpecification".into(),
            json!({ "StreamEnabled": true, "StreamViewType": view.as_str() }),
        );
    }
    if let Some((arn, label)) = &stream.latest {
        d.insert("LatestStreamLabel".into(), json!(label));
        d.insert("LatestStreamArn".into(), json!(arn));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn specifications_are_taken_out_and_checked() {
        let mut b = body(
            json!({"TableName": "t", "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"}}),
        );
        assert_eq!(
            take_specification(&mut b),
            Ok(Some(StreamChange::Enable(ViewType::NewImage)))
        );
        assert!(changes_only_the_stream(&b));
        let mut b = body(
            json!({"TableName": "t", "StreamSpecification": {"StreamEnabled": false}, "BillingMode": "PAY_PER_REQUEST"}),
        );
        assert_eq!(take_specification(&mut b), Ok(Some(StreamChange::Disable)));
        assert!(!changes_only_the_stream(&b));
        let mut b = body(json!({"StreamSpecification": {"StreamEnabled": true}}));
        assert!(take_specification(&mut b).is_err());
        let mut b =
            body(json!({"StreamSpecification": {"StreamEnabled": true, "StreamViewType": "ALL"}}));
        assert!(take_specification(&mut b)
            .unwrap_err()
            .contains("KEYS_ONLY"));
        assert_eq!(take_specification(&mut body(json!({}))), Ok(None));
    }

    #[test]
    fn descriptions_show_the_stream() {
        let mut d = json!({"TableName": "t", "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"}});
        let s = TableStream {
            latest: Some(("arn:x".into(), "label".into())),
            enabled: None,
            key_names: vec!["pk".into()],
        };
        show(&mut d, Some(&s));
        assert_eq!(
            d,
            json!({"TableName": "t", "LatestStreamLabel": "label", "LatestStreamArn": "arn:x"})
        );
        let s = TableStream {
            enabled: Some(ViewType::NewImage),
            ..s
        };
        show(&mut d, Some(&s));
        assert_eq!(d["StreamSpecification"]["StreamViewType"], "NEW_IMAGE");
    }
}

//! Which items a write request touches: `(table, item or key)` pairs from PutItem,
//! UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems and the PartiQL writes
//! (ExecuteStatement, BatchExecuteStatement, ExecuteTransaction).
//!
//! For PutItem-like requests the whole item is given; [`Target::key`] narrows it to the key
//! once the table's key schema is known. PartiQL UPDATE/DELETE give the `attr = value`
//! equalities of their WHERE clause, which include the key when the statement names one item.

use serde_json::{Map, Value};

use super::{
    partiql::{self, Statement},
    record::{key_of, Item},
};

/// The actions that write items.
pub const WRITE_ACTIONS: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

/// One item a write names.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The table.
    pub table: String,
    /// Attributes that include the item's key (the item itself, its key, or equalities).
    pub attributes: Item,
}

impl Target {
    /// The item's key by the table's key attribute names; None when not all are named.
    pub fn key(&self, key_names: &[String]) -> Option<Item> {
        key_of(&self.attributes, key_names)
    }
}

/// The items `action` with request `body` writes. Statements that cannot be understood are
/// skipped, and logged at debug.
pub fn targets(action: &str, body: &Map<String, Value>) -> Vec<Target> {
    let mut out = Vec::new();
    let table = |v: &Map<String, Value>| {
        v.get("TableName")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let object = |v: Option<&Value>| v.and_then(Value::as_object).cloned();
    match action {
        "PutItem" => out.extend(table(body).zip(object(body.get("Item")))),
        "UpdateItem" | "DeleteItem" => out.extend(table(body).zip(object(body.get("Key")))),
        "BatchWriteItem" => {
            for (table, requests) in body
                .get("RequestItems")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                for r in requests.as_array().into_iter().flatten() {
                    let attrs = object(r.pointer("/PutRequest/Item"))
                        .or_else(|| object(r.pointer("/DeleteRequest/Key")));
                    out.extend(attrs.map(|a| (table.clone(), a)));
                }
            }
        }
        "TransactWriteItems" => {
            for item in body
                .get("TransactItems")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (op, field) = if let Some(p) = item.get("Put") {
                    (p, "Item")
                } else if let Some(u) = item.get("Update") {
                    (u, "Key")
                } else if let Some(d) = item.get("Delete") {
                    (d, "Key")
                } else {
                    continue;
                };
                if let Some(op) = op.as_object() {
                    out.extend(table(op).zip(object(op.get(field))));
                }
            }
        }
        "ExecuteStatement" => out.extend(statement(body)),
        "BatchExecuteStatement" => {
            for s in body
                .get("Statements")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.extend(s.as_object().and_then(statement));
            }
        }
        "ExecuteTransaction" => {
            for s in body
                .get("TransactStatements")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.extend(s.as_object().and_then(statement));
            }
        }
        _ => {}
    }
    out.into_iter()
        .map(|(table, attributes)| Target { table, attributes })
        .collect()
}

/// One PartiQL statement (`Statement` and `Parameters`), when it writes.
fn statement(body: &Map<String, Value>) -> Option<(String, Item)> {
    let text = body.get("Statement")?.as_str()?;
    let params: Vec<Value> = body
        .get("Parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match partiql::parse(text, &params) {
        Ok(Statement::Insert { table, item }) => Some((table, item)),
        Ok(Statement::Update { table, equalities } | Statement::Delete { table, equalities }) => {
            Some((table, equalities))
        }
        Ok(Statement::Select { .. }) => None,
        Err(e) => {
            tracing::debug!("dynamodb-streams: PartiQL statement not understood ({e}): {text}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn tables(t: &[Target]) -> Vec<&str> {
        t.iter().map(|t| t.table.as_str()).collect()
    }

    #[test]
    fn every_write_kind_names_its_items() {
        let t = targets(
            "PutItem",
            &body(json!({"TableName": "a", "Item": {"pk": {"S": "1"}, "x": {"N": "2"}}})),
        );
        assert_eq!(
            t[0].key(&["pk".into()]).unwrap(),
            body(json!({"pk": {"S": "1"}}))
        );
        let t = targets(
            "DeleteItem",
            &body(json!({"TableName": "a", "Key": {"pk": {"S": "1"}}})),
        );
        assert_eq!(tables(&t), ["a"]);
        let t = targets(
            "BatchWriteItem",
            &body(json!({"RequestItems": {
            "a": [{"PutRequest": {"Item": {"pk": {"S": "1"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "2"}}}}],
            "b": [{"PutRequest": {"Item": {"id": {"S": "3"}}}}]}})),
        );
        assert_eq!(tables(&t), ["a", "a", "b"]);
        let t = targets(
            "TransactWriteItems",
            &body(json!({"TransactItems": [
            {"Put": {"TableName": "a", "Item": {"pk": {"S": "1"}}}},
            {"Update": {"TableName": "a", "Key": {"pk": {"S": "2"}}, "UpdateExpression": "SET x = :x"}},
            {"Delete": {"TableName": "b", "Key": {"id": {"S": "3"}}}},
            {"ConditionCheck": {"TableName": "c", "Key": {"id": {"S": "4"}}}}]})),
        );
        assert_eq!(tables(&t), ["a", "a", "b"]);
        assert!(targets("GetItem", &body(json!({"TableName": "a", "Key": {}}))).is_empty());
    }

    #[test]
    fn partiql_writes_name_their_items() {
        let t = targets(
            "ExecuteStatement",
            &body(json!({
            "Statement": "INSERT INTO \"tbl\" VALUE {'pk': ?, 'n': 1}", "Parameters": [{"S": "k"}]})),
        );
        assert_eq!(
            t[0].key(&["pk".into()]).unwrap(),
            body(json!({"pk": {"S": "k"}}))
        );
        let t = targets(
            "BatchExecuteStatement",
            &body(json!({"Statements": [
            {"Statement": "UPDATE tbl SET n = 2 WHERE pk = 'k'"},
            {"Statement": "SELECT * FROM tbl WHERE pk = 'k'"},
            {"Statement": "DELETE FROM \"tbl\" WHERE pk = ?", "Parameters": [{"S": "j"}]}]})),
        );
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[1].key(&["pk".into()]).unwrap(),
            body(json!({"pk": {"S": "j"}}))
        );
        let t = targets(
            "ExecuteTransaction",
            &body(json!({"TransactStatements": [
            {"Statement": "DELETE FROM tbl WHERE pk = 'z'"}]})),
        );
        assert_eq!(tables(&t), ["tbl"]);
    }
}

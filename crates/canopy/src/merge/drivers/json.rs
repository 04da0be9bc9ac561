//! The `json` driver: JSON documents merged structurally.

use serde_json::{Map, Value};

use super::{Driver, MergeContext};
use crate::merge::{trivial, Conflict, MergeResult, Trivial};

/// JSON values merged structurally: objects key by key, recursively (a key added, removed or
/// changed on one side only follows that side); any other value by the `binary` rule (two
/// different changes conflict). The output is [`canonical_json`]. Content that is not JSON is a
/// conflict, but only when the merge has to look inside it (the shared rules come first).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonDriver;

impl Driver for JsonDriver {
    fn merge(
        &self,
        _ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let (base, ours, theirs) = match trivial(base, ours, theirs)? {
            Trivial::Resolved(v) => return Ok(v.map(<[u8]>::to_vec)),
            Trivial::Diverged { base, ours, theirs } => (base, ours, theirs),
        };
        let parse = |side: &str, bytes: &[u8]| -> MergeResult<Value> {
            serde_json::from_slice(bytes)
                .map_err(|e| Conflict::new(format!("json: {side} is not valid JSON: {e}")))
        };
        let base = base.map(|b| parse("base", b)).transpose()?;
        let ours = parse("ours", ours)?;
        let theirs = parse("theirs", theirs)?;
        let merged = merge_json_values(base.as_ref(), &ours, &theirs)?;
        Ok(Some(canonical_json(&merged)))
    }
}

/// Merges two JSON values against an optional base: objects key by key (recursively), anything
/// else as an indivisible value. Conflicts name the JSON pointer of every place that conflicts.
///
/// ```
/// use serde_json::json;
/// use canopy::merge::drivers::merge_json_values;
///
/// let base = json!({"name": "a", "tags": {"x": 1}});
/// let ours = json!({"name": "b", "tags": {"x": 1}});
/// let theirs = json!({"name": "a", "tags": {"x": 1, "y": 2}});
/// let merged = merge_json_values(Some(&base), &ours, &theirs).unwrap();
/// assert_eq!(merged, json!({"name": "b", "tags": {"x": 1, "y": 2}}));
/// ```
pub fn merge_json_values(base: Option<&Value>, ours: &Value, theirs: &Value) -> MergeResult<Value> {
    let mut conflicts = Vec::new();
    let mut pointer = String::new();
    let merged = merge_at(base, ours, theirs, &mut pointer, &mut conflicts);
    if conflicts.is_empty() {
        Ok(merged)
    } else {
        Err(Conflict::new(format!("json: {}", conflicts.join("; "))))
    }
}

fn merge_at(
    base: Option<&Value>,
    ours: &Value,
    theirs: &Value,
    pointer: &mut String,
    conflicts: &mut Vec<String>,
) -> Value {
    let place = |p: &str| {
        if p.is_empty() {
            "/".to_string()
        } else {
            p.to_string()
        }
    };
    if let Some(settled) = one_side_unchanged(base, ours, theirs) {
        return settled.clone();
    }
    let (Value::Object(o), Value::Object(t)) = (ours, theirs) else {
        conflicts.push(format!("both sides changed {}", place(pointer)));
        return ours.clone();
    };
    let empty = Map::new();
    let b = match base {
        Some(Value::Object(b)) => b,
        _ => &empty,
    };
    let mut keys: Vec<&String> = o.keys().chain(t.keys()).chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut merged = Map::new();
    for key in keys {
        let len = pointer.len();
        pointer.push('/');
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
        match trivial(b.get(key), o.get(key), t.get(key)) {
            Ok(Trivial::Resolved(Some(v))) => {
                merged.insert(key.clone(), v.clone());
            }
            Ok(Trivial::Resolved(None)) => {}
            Ok(Trivial::Diverged { base, ours, theirs }) => {
                let v = merge_at(base, ours, theirs, pointer, conflicts);
                merged.insert(key.clone(), v);
            }
            Err(c) => conflicts.push(format!("{} at {}", c.reason, pointer)),
        }
        pointer.truncate(len);
    }
    Value::Object(merged)
}

/// The shared rules for two present values: agreement, or one side that kept the base.
fn one_side_unchanged<'a>(base: Option<&Value>, ours: &'a Value, theirs: &'a Value) -> Option<&'a Value> {
    if ours == theirs || base == Some(theirs) {
        Some(ours)
    } else if base == Some(ours) {
        Some(theirs)
    } else {
        None
    }
}

/// The canonical form the `json` driver writes: object keys sorted (recursively), two-space
/// indentation as `serde_json`'s pretty printer writes it, and a final newline. Equal values
/// always give equal bytes.
///
/// ```
/// use canopy::merge::drivers::canonical_json;
///
/// let v: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":[true,null]}"#).unwrap();
/// assert_eq!(canonical_json(&v), b"{\n  \"a\": [\n    true,\n    null\n  ],\n  \"b\": 1\n}\n");
/// ```
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&sorted(value)).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The value with every object's keys inserted in sorted order, so the output is sorted whether
/// or not `serde_json` preserves insertion order in this build.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// A last-writer-wins register whose values carry their own stamp: JSON objects with a
/// `written_at_ms` number and a `replica` string (as [`crate::data::Register`] writes them).
/// When both sides changed the value, the larger `(written_at_ms, replica)` wins, then the
/// larger bytes, so every replica picks the same side whatever the order of merges. Content
/// without a stamp is a conflict.
#[derive(Debug, Clone, Copy, Default)]
pub struct RegisterDriver;

/// The stamp of a register value.
fn register_stamp(side: &str, bytes: &[u8]) -> MergeResult<(i64, String)> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Conflict::new(format!("register: {side} is not JSON: {e}")))?;
    let at = value.get("written_at_ms").and_then(Value::as_i64);
    let by = value.get("replica").and_then(Value::as_str);
    match (at, by) {
        (Some(at), Some(by)) => Ok((at, by.to_string())),
        _ => Err(Conflict::new(format!(
            "register: {side} has no written_at_ms and replica stamp"
        ))),
    }
}

impl Driver for RegisterDriver {
    fn merge(
        &self,
        _ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let (ours, theirs) = match trivial(base, ours, theirs)? {
            Trivial::Resolved(v) => return Ok(v.map(<[u8]>::to_vec)),
            Trivial::Diverged { ours, theirs, .. } => (ours, theirs),
        };
        let our_key = (register_stamp("ours", ours)?, ours);
        let their_key = (register_stamp("theirs", theirs)?, theirs);
        Ok(Some(if our_key >= their_key { ours } else { theirs }.to_vec()))
    }
}

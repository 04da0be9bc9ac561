//! The served OpenAPI document: a well-formed OpenAPI 3.1 document that describes every
//! route, whose references all resolve, and whose schemas the live answers satisfy.

mod common;

use std::collections::BTreeSet;

use serde_json::{json, Value};

/// Follows a local `$ref` (`#/components/schemas/X`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("non-local $ref {reference}"));
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("dangling $ref {reference}"))
}

/// Every `$ref` anywhere in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().unwrap().to_string());
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// A small JSON Schema validator for the keywords the document uses.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        validate(doc, resolve(doc, r), value, at, errors);
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{at}: expected {types:?}, got {value}"));
            return;
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            errors.push(format!("{at}: expected {c}, got {value}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(value) {
            errors.push(format!("{at}: {value} not in {e:?}"));
        }
    }
    if let (Some(p), Some(s)) = (schema.get("pattern").and_then(Value::as_str), value.as_str()) {
        if !fancy_regex::Regex::new(p).unwrap().is_match(s).unwrap() {
            errors.push(format!("{at}: {value} does not match {p}"));
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(doc, s, value, at, errors);
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let passing = one
            .iter()
            .filter(|s| {
                let mut e = Vec::new();
                validate(doc, s, value, at, &mut e);
                e.is_empty()
            })
            .count();
        if passing != 1 {
            errors.push(format!("{at}: {value} matches {passing} of oneOf"));
        }
    }
    if let Some(obj) = value.as_object() {
        if let Some(req) = schema.get("required").and_then(Value::as_array) {
            for r in req {
                if !obj.contains_key(r.as_str().unwrap()) {
                    errors.push(format!("{at}: missing required '{r}'"));
                }
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(props) = props {
            for (k, v) in obj {
                match props.get(k) {
                    Some(s) => validate(doc, s, v, &format!("{at}.{k}"), errors),
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        errors.push(format!("{at}: unexpected property '{k}'"))
                    }
                    None => {}
                }
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            validate(doc, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

fn response_schema<'a>(doc: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not documented");
    let mut resp = &op["responses"][status.to_string()];
    if let Some(r) = resp.get("$ref").and_then(Value::as_str) {
        resp = resolve(doc, r);
    }
    assert!(resp.is_object(), "{method} {path} has no {status} response");
    &resp["content"]["application/json"]["schema"]
}

fn check(doc: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let schema = response_schema(doc, path, method, status);
    let mut errors = Vec::new();
    validate(doc, schema, body, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {errors:#?}\n{body:#}"
    );
}

fn check_request(doc: &Value, schema_name: &str, body: &Value) {
    let mut errors = Vec::new();
    validate(
        doc,
        &doc["components"]["schemas"][schema_name],
        body,
        "$",
        &mut errors,
    );
    assert!(errors.is_empty(), "{schema_name}: {errors:#?}");
}

#[tokio::test]
async fn the_document_is_well_formed_and_complete() {
    let s = common::start().await;
    let (status, doc) = s.get_json("openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected = [
        ("/healthz", vec!["get"]),
        ("/api/v1/openapi.json", vec!["get"]),
        ("/api/v1/branches", vec!["get", "post"]),
        ("/api/v1/branches/{branch}", vec!["get", "delete"]),
        (
            "/api/v1/branches/{branch}/values/{path}",
            vec!["get", "put", "delete"],
        ),
        ("/api/v1/branches/{branch}/tree", vec!["get"]),
        ("/api/v1/branches/{branch}/tree/{path}", vec!["get"]),
        ("/api/v1/branches/{branch}/commits", vec!["post"]),
        ("/api/v1/branches/{branch}/merge", vec!["post"]),
        ("/api/v1/branches/{branch}/merge/preview", vec!["get"]),
        ("/api/v1/branches/{branch}/log", vec!["get"]),
        ("/api/v1/branches/{branch}/counters/{path}", vec!["get", "post"]),
        ("/api/v1/branches/{branch}/queues/{path}", vec!["get", "post"]),
        ("/api/v1/branches/{branch}/pop/{path}", vec!["post"]),
        ("/api/v1/branches/{branch}/logs/{path}", vec!["get", "post"]),
        (
            "/api/v1/branches/{branch}/ropes/{path}",
            vec!["get", "put", "post"],
        ),
        ("/api/v1/branches/{branch}/watch", vec!["get"]),
        ("/api/v1/commits/{rev}", vec!["get"]),
        ("/api/v1/diff", vec!["get"]),
    ];
    assert_eq!(paths, expected.iter().map(|(p, _)| *p).collect::<BTreeSet<_>>());
    let mut operation_ids = BTreeSet::new();
    for (path, methods) in &expected {
        let item = &doc["paths"][path];
        let mut params: Vec<Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for m in methods {
            let op = &item[m];
            assert!(op.is_object(), "{m} {path} missing");
            assert!(
                operation_ids.insert(op["operationId"].as_str().unwrap().to_string()),
                "duplicate operationId"
            );
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            params.extend(
                op.get("parameters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        // Every {template} of the path is declared as a required path parameter.
        let declared: Vec<Value> = params
            .iter()
            .map(|p| match p.get("$ref").and_then(Value::as_str) {
                Some(r) => resolve(&doc, r).clone(),
                None => p.clone(),
            })
            .collect();
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(['{', '}']);
            assert!(
                declared
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                "{path}: path parameter {name} is not declared"
            );
        }
        for p in &declared {
            assert!(["path", "query", "header", "cookie"].contains(&p["in"].as_str().unwrap()));
            assert!(
                p["schema"].is_object(),
                "{path}: parameter {} has no schema",
                p["name"]
            );
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50);
    for r in &all {
        resolve(&doc, r);
    }
    // The document matches what the code serves, and documents every path of the JSON API the
    // router serves, no more.
    assert_eq!(doc, canopy_server::openapi::document());
    let served: BTreeSet<&str> = canopy_server::served_paths().into_iter().collect();
    assert_eq!(paths, served);
    // Each documented operation is routed (a method the path does not serve is a 405), and
    // each method a path serves is documented.
    for (path, methods) in &expected {
        let url = path
            .replace("{branch}", "main")
            .replace("{path}", "a/b")
            .replace("{rev}", "main");
        for m in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            let r = s
                .client
                .request(m.parse().unwrap(), format!("{}{url}", s.url))
                .send()
                .await
                .unwrap();
            let documented = methods.contains(&m.to_ascii_lowercase().as_str());
            assert_eq!(r.status() != 405, documented, "{m} {path}: {}", r.status());
            if documented && r.status() == 404 {
                let body: Value = r.json().await.unwrap_or_default();
                assert_ne!(body["error"]["code"], "no_such_route", "{m} {path}");
            }
        }
    }
    // Each error status lists the codes it carries.
    let e404 = resolve(&doc, "#/components/schemas/Error404");
    assert!(e404.to_string().contains("no_such_rev"), "{e404}");
}

#[tokio::test]
async fn live_answers_match_the_document() {
    let s = common::start().await;
    let (_, doc) = s.get_json("openapi.json").await;
    let v = "/api/v1/branches/{branch}/values/{path}";

    let r = s.client.get(format!("{}/healthz", s.url)).send().await.unwrap();
    check(&doc, "/healthz", "get", 200, &r.json().await.unwrap());

    let r = s.put("main", "a/b", "1").await;
    check(&doc, v, "put", 200, &r.json().await.unwrap());
    let r = s.put("main", "a/c", "2").await;
    let c2: Value = r.json().await.unwrap();
    let r = s
        .client
        .get(s.api("branches/main/values/a/b"))
        .send()
        .await
        .unwrap();
    let headers = &doc["paths"][v]["get"]["responses"]["200"]["headers"];
    for h in ["ETag", "X-Canopy-Commit"] {
        assert!(headers[h].is_object());
        assert!(r.headers().contains_key(h.to_ascii_lowercase().as_str()), "{h}");
    }
    let r = s
        .client
        .delete(s.api("branches/main/values/a/c"))
        .send()
        .await
        .unwrap();
    check(&doc, v, "delete", 200, &r.json().await.unwrap());

    let (st, body) = s.get_json("branches").await;
    check(&doc, "/api/v1/branches", "get", st, &body);
    let req = json!({"name": "topic", "from": "main"});
    check_request(&doc, "CreateBranch", &req);
    let (st, body) = s.post_json("branches", &req).await;
    check(&doc, "/api/v1/branches", "post", st, &body);
    let (st, body) = s.get_json("branches/topic").await;
    check(&doc, "/api/v1/branches/{branch}", "get", st, &body);

    let (st, body) = s.get_json("branches/main/tree").await;
    check(&doc, "/api/v1/branches/{branch}/tree", "get", st, &body);

    let counter = "/api/v1/branches/{branch}/counters/{path}";
    let req = json!({"add": 5, "message": "five"});
    check_request(&doc, "CounterAdd", &req);
    let (st, body) = s.post_json("branches/main/counters/stats/hits", &req).await;
    assert_eq!((st, body["value"].as_i64()), (200, Some(5)), "{body}");
    check(&doc, counter, "post", st, &body);
    let (st, body) = s.get_json("branches/main/counters/stats/hits").await;
    assert_eq!(body["value"], 5);
    check(&doc, counter, "get", st, &body);
    s.put("main", "words", "ten").await;
    let (st, body) = s
        .post_json("branches/main/counters/words", &json!({"add": 1}))
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (409, Some("wrong_type")),
        "{body}"
    );
    check(&doc, counter, "post", st, &body);
    let (st, body) = s
        .post_json("branches/main/counters/x", &json!({"add": "one"}))
        .await;
    check(&doc, counter, "post", st, &body);
    assert_eq!(st, 400);
    let (st, body) = s.get_json("branches/main/tree/a?recursive=true").await;
    check(&doc, "/api/v1/branches/{branch}/tree/{path}", "get", st, &body);

    let req = json!({"message": "m", "author": "A <a@b>", "parent": c2["commit"], "changes": [
        {"path": "x", "value": "1"}, {"path": "y", "value_base64": "AA=="}, {"path": "a/b", "delete": true}]});
    check_request(&doc, "CommitRequest", &req);
    let (st, body) = s.post_json("branches/main/commits", &req).await;
    check(&doc, "/api/v1/branches/{branch}/commits", "post", st, &body);

    s.set("topic", "t", "1").await;
    s.set("topic", "x", "theirs").await;
    let (st, body) = s.get_json("branches/main/merge/preview?from=topic").await;
    assert_eq!(body["outcome"], "conflicts", "{body}");
    check(&doc, "/api/v1/branches/{branch}/merge/preview", "get", st, &body);
    let req = json!({"from": "topic", "resolutions": [{"path": "x", "take": "theirs"}]});
    check_request(&doc, "MergeRequest", &req);
    let (st, body) = s.post_json("branches/main/merge", &req).await;
    check(&doc, "/api/v1/branches/{branch}/merge", "post", st, &body);
    s.set("topic", "t", "2").await;
    let (st, body) = s.get_json("branches/main/merge/preview?from=topic").await;
    check(&doc, "/api/v1/branches/{branch}/merge/preview", "get", st, &body);
    let req = json!({"from": "topic", "message": "merge", "no_ff": true});
    check_request(&doc, "MergeRequest", &req);
    let (st, body) = s.post_json("branches/main/merge", &req).await;
    check(&doc, "/api/v1/branches/{branch}/merge", "post", st, &body);

    let (st, body) = s.get_json("branches/main/log").await;
    check(&doc, "/api/v1/branches/{branch}/log", "get", st, &body);
    let (st, body) = s.get_json("commits/main").await;
    check(&doc, "/api/v1/commits/{rev}", "get", st, &body);
    let (st, body) = s.get_json("diff?from=main~2&to=main").await;
    check(&doc, "/api/v1/diff", "get", st, &body);
    let (st, body) = s.get_json("diff?from=main~2&to=main&patch=true").await;
    assert!(body["changes"][0]["patch"].is_string(), "{body}");
    check(&doc, "/api/v1/diff", "get", st, &body);
    let r = s.client.delete(s.api("branches/topic")).send().await.unwrap();
    check(
        &doc,
        "/api/v1/branches/{branch}",
        "delete",
        200,
        &r.json().await.unwrap(),
    );

    // Errors, with the documented statuses.
    let (st, body) = s.get_json("branches/nope/log").await;
    check(&doc, "/api/v1/branches/{branch}/log", "get", st, &body);
    let (st, body) = s
        .raw("GET /api/v1/branches/main/values/a/%2e%2e HTTP/1.1", b"")
        .await;
    check(&doc, v, "get", st, &serde_json::from_str(&body).unwrap());
    let (st, body) = s.post_json("branches", &json!({"name": "main"})).await;
    check(&doc, "/api/v1/branches", "post", st, &body);

    // Watch events carry the documented data.
    let r = s.client.get(s.api("branches/main/watch")).send().await.unwrap();
    let mut events = common::SseReader::new(r);
    events.next(std::time::Duration::from_secs(10)).await;
    s.set("main", "w", "1").await;
    let e = events.next(std::time::Duration::from_secs(10)).await;
    let mut errors = Vec::new();
    validate(
        &doc,
        &doc["components"]["schemas"]["ChangeEvent"],
        &e.data,
        "$",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn an_openapi_3_1_parser_accepts_the_document() {
    let s = common::start().await;
    let text = s
        .client
        .get(s.api("openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let spec = oas3::from_json(&text).expect("a valid OpenAPI 3.1 document");
    spec.validate_version().expect("a supported 3.1 version");
    let raw: Value = serde_json::from_str(&text).unwrap();
    let mut count = 0;
    for (path, method, op) in spec.operations() {
        count += 1;
        let what = format!("{method} {path}");
        // Every reference resolves: parameters, request body, responses and their schemas.
        assert_eq!(
            op.parameters(&spec).unwrap().len(),
            op.parameters.len(),
            "{what}: parameters"
        );
        op.request_body(&spec)
            .unwrap_or_else(|e| panic!("{what}: request body: {e}"));
        let declared = op.responses.as_ref().map_or(0, |r| r.len());
        let responses = op.responses(&spec);
        assert_eq!(responses.len(), declared, "{what}: responses");
        for (status, response) in &responses {
            for (media, content) in &response.content {
                if let Some(schema) = &content.schema {
                    schema
                        .resolve(&spec)
                        .unwrap_or_else(|e| panic!("{what} {status} {media}: {e}"));
                }
            }
        }
    }
    let documented: usize = raw["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
                .count()
        })
        .sum();
    assert_eq!(count, documented);
    assert_eq!(count, 28);
    let components = spec.components.as_ref().unwrap();
    for (name, schema) in &components.schemas {
        schema
            .resolve(&spec)
            .unwrap_or_else(|e| panic!("schema {name}: {e}"));
    }
}

#[tokio::test]
async fn healthz_answers_503_when_writes_cannot_proceed() {
    let s = common::start().await;
    let (_, doc) = s.get_json("openapi.json").await;
    let git_dir = s.repo.layout().unwrap().git_dir.clone();
    let health = || async {
        let r = s.client.get(format!("{}/healthz", s.url)).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    s.put("main", "a", "1").await;
    let (status, body) = health().await;
    assert_eq!((status, &body["status"]), (200, &json!("ok")), "{body}");

    // A lock that no writer can take or remove: writes would fail until someone steps in.
    let lock = git_dir.join("refs/heads/main.lock");
    std::fs::create_dir(&lock).unwrap();
    let (status, body) = health().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "branch_locked", "{body}");
    check(&doc, "/healthz", "get", 503, &body);
    let refused = s.put("main", "a", "2").await;
    assert_eq!(refused.status().as_u16(), 503);
    // Neither answer shows where the server keeps its store.
    let refused: Value = refused.json().await.unwrap();
    let root = git_dir.canonicalize().unwrap();
    for (what, body) in [("healthz", &body), ("put", &refused)] {
        let text = body.to_string();
        assert!(
            !text.contains(&*git_dir.to_string_lossy()) && !text.contains(&*root.to_string_lossy()),
            "{what}: {text}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains("main"),
            "{what}: {text}"
        );
    }
    std::fs::remove_dir(&lock).unwrap();

    // A lock left long ago by a writer that is gone is recovered, not reported.
    std::fs::write(&lock, b"").unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&lock).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    drop(f);
    let (status, body) = health().await;
    assert_eq!(status, 200, "{body}");
    assert!(!lock.exists());
    assert_eq!(s.put("main", "a", "3").await.status().as_u16(), 200);
    // The probe leaves nothing behind.
    let pack_dir = git_dir.join("objects/pack");
    let left: Vec<_> = std::fs::read_dir(pack_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tmp_"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

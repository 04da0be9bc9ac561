//! The OpenAPI 3.1 document of the REST API, written by hand next to the handlers it
//! describes. Its schemas are JSON Schema 2020-12, so a client (and this crate's tests) can
//! validate live answers against them.

use axum::Json;
use serde_json::{json, Value};

/// `GET /api/v1/openapi.json`.
pub async fn serve_document() -> Json<Value> {
    Json(document())
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn param(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// The standard error answers, by status.
fn errors(statuses: &[u16]) -> serde_json::Map<String, Value> {
    statuses
        .iter()
        .map(|s| {
            (
                s.to_string(),
                json!({ "$ref": format!("#/components/responses/E{s}") }),
            )
        })
        .collect()
}

fn responses(ok: &[(u16, Value)], error_statuses: &[u16]) -> Value {
    let mut map = errors(error_statuses);
    for (status, response) in ok {
        map.insert(status.to_string(), response.clone());
    }
    Value::Object(map)
}

fn json_body(schema_name: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema(schema_name) } } })
}

fn with_structure_paths(mut paths: Value) -> Value {
    if let (Some(all), Value::Object(more)) = (paths.as_object_mut(), structure_paths()) {
        all.extend(more);
    }
    paths
}

fn with_structure_schemas(mut components: Value) -> Value {
    if let Some(all) = components["schemas"].as_object_mut() {
        for more in [structure_schemas(), merge_schemas()] {
            if let Value::Object(more) = more {
                all.extend(more);
            }
        }
    }
    components
}

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Canopy",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Values at paths on branches of a Git repository; every write is a commit.",
            "description": "Branch names that hold '/' are percent-encoded in their URL segment (feature%2Fx). \
                A PATH parameter may hold '/' (a/b/c); its steps are never empty, '.', '..', '.git' or NUL. \
                A REV is what `canopy` accepts: a branch or tag name, a full or abbreviated commit id, \
                with ~N and ^N suffixes. Errors are {\"error\": {\"code\", \"message\"}}.",
            "license": { "name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0" }
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }, {}],
        "tags": [
            { "name": "branches" }, { "name": "values" }, { "name": "history" }, { "name": "watch" }, { "name": "structures" }, { "name": "meta" }
        ],
        "paths": with_structure_paths(paths()),
        "components": with_structure_schemas(components()),
    })
}

/// The schemas of the structure operations (`/counters`, …).
fn structure_schemas() -> Value {
    json!({
        "CounterValue": { "type": "object", "required": ["value"],
            "properties": { "value": { "type": "integer" } } },
        "CounterAdd": { "type": "object", "required": ["add"], "additionalProperties": false,
            "properties": {
                "add": { "type": "integer", "description": "The amount to add; negative subtracts" },
                "message": { "type": "string" }, "author": { "type": "string" } } },
        "CounterAdded": { "type": "object", "required": ["value", "commit"],
            "properties": { "value": { "type": "integer" }, "commit": schema("Hash") } },
        "ItemRequest": { "type": "object", "required": ["item"], "additionalProperties": false,
            "properties": { "item": { "description": "Any JSON value" },
                "message": { "type": "string" }, "author": { "type": "string" } } },
        "PopRequest": { "type": "object", "additionalProperties": false,
            "properties": { "message": { "type": "string" }, "author": { "type": "string" } } },
        "QueueItem": { "type": "object", "required": ["key", "value"],
            "properties": { "key": { "type": "string", "description": "The item's place in the queue" },
                "value": { "description": "The item" } } },
        "QueueKey": { "type": "object", "required": ["key"], "properties": { "key": { "type": "string" } } },
        "Queue": { "type": "object", "required": ["items", "double_deliveries"],
            "properties": {
                "items": { "type": "array", "items": schema("QueueItem") },
                "double_deliveries": { "type": "array", "items": { "type": "object", "required": ["key", "pops"],
                    "properties": { "key": { "type": "string" },
                        "pops": { "type": "array", "items": { "type": "object", "required": ["replica", "time"],
                            "properties": { "replica": { "type": "string" }, "time": { "type": "string" } } } } } } } } },
        "LogEntry": { "type": "object", "required": ["cursor", "time", "replica", "value"],
            "properties": { "cursor": { "type": "string" }, "time": { "type": "string" },
                "replica": { "type": "string" }, "value": { "description": "The entry" } } },
        "LogPage": { "type": "object", "required": ["entries", "next"],
            "properties": { "entries": { "type": "array", "items": schema("LogEntry") },
                "next": { "type": ["string", "null"], "description": "Pass as before= for the next page" } } },
        "LogCursor": { "type": "object", "required": ["cursor"], "properties": { "cursor": { "type": "string" } } },
        "RopeCreated": { "type": "object", "required": ["length", "chunks"],
            "properties": { "length": { "type": "integer" }, "chunks": { "type": "integer" } } },
        "SpliceRequest": { "type": "object", "required": ["offset"], "additionalProperties": false,
            "properties": { "offset": { "type": "integer", "minimum": 0 }, "delete": { "type": "integer", "minimum": 0 },
                "insert": { "type": "string" }, "message": { "type": "string" }, "author": { "type": "string" } } },
        "Spliced": { "type": "object", "required": ["commit", "length", "chunks_written", "chunks_removed"],
            "properties": { "commit": { "oneOf": [schema("Hash"), { "type": "null" }] }, "length": { "type": "integer" },
                "chunks_written": { "type": "integer" }, "chunks_removed": { "type": "integer" } } },
    })
}

/// The schemas of merge previews and resolutions.
fn merge_schemas() -> Value {
    json!({
            "Resolution": { "type": "object", "required": ["path"], "additionalProperties": false,
                "description": "Exactly one of value, value_base64, delete: true or take",
                "properties": {
                    "path": { "type": "string" },
                    "value": { "type": "string", "description": "The path's value as text" },
                    "value_base64": { "type": "string", "contentEncoding": "base64" },
                    "delete": { "type": "boolean", "description": "Nothing at the path" },
                    "take": { "enum": ["base", "ours", "theirs"], "description": "That side's entry as it is" } } },
            "ConflictSide": { "oneOf": [{ "type": "null" }, { "type": "object", "required": ["kind", "hash"],
                "properties": {
                    "kind": { "enum": ["value", "tree", "gitlink"] },
                    "hash": { "oneOf": [schema("Hash"), { "type": "null" }] },
                    "mode": { "type": "string" },
                    "size": { "type": "integer", "minimum": 0 },
                    "value": { "type": "string", "description": "A UTF-8 value of at most 1 MiB" },
                    "value_base64": { "type": "string", "contentEncoding": "base64", "description": "Any other value of at most 1 MiB" } } }] },
            "MergePreview": { "type": "object", "required": ["ours", "theirs", "outcome", "changes", "conflicts"],
                "properties": {
                    "ours": { "oneOf": [schema("Hash"), { "type": "null" }], "description": "The branch head" },
                    "theirs": schema("Hash"),
                    "outcome": { "enum": ["up_to_date", "fast_forward", "clean", "conflicts"] },
                    "changes": { "type": "array", "items": schema("PathChange"),
                        "description": "What the merge changes on the branch (conflicting paths as ours)" },
                    "conflicts": { "type": "array", "items": { "type": "object",
                        "required": ["path", "reason", "base", "ours", "theirs"],
                        "properties": { "path": { "type": "string" }, "reason": { "type": "string" },
                            "base": schema("ConflictSide"), "ours": schema("ConflictSide"), "theirs": schema("ConflictSide") } } } } }
    })
}

/// The paths of the structure operations.
fn structure_paths() -> Value {
    let bp = || json!([param("branch"), param("path")]);
    json!({
        "/api/v1/branches/{branch}/queues/{path}": {
            "parameters": bp(),
            "get": {
                "operationId": "listQueue", "tags": ["structures"],
                "summary": "A queue's items in order, and the items replicas delivered twice",
                "responses": responses(&[(200, json_response("The queue", schema("Queue")))], &[400, 401, 403, 404, 503])
            },
            "post": {
                "operationId": "pushQueue", "tags": ["structures"], "summary": "Append an item, in one commit",
                "requestBody": json_body("ItemRequest"),
                "responses": responses(&[(200, json_response("The item's key", schema("QueueKey")))], &[400, 401, 403, 404, 409, 413, 415, 503])
            }
        },
        "/api/v1/branches/{branch}/pop/{path}": {
            "parameters": bp(),
            "post": {
                "operationId": "popQueue", "tags": ["structures"],
                "summary": "Take the first item of a queue, in one commit; each item goes to exactly one caller (404 queue_empty)",
                "requestBody": { "required": false, "content": { "application/json": { "schema": schema("PopRequest") } } },
                "responses": responses(&[(200, json_response("The item taken", schema("QueueItem")))], &[400, 401, 403, 404, 409, 413, 415, 503])
            }
        },
        "/api/v1/branches/{branch}/logs/{path}": {
            "parameters": bp(),
            "get": {
                "operationId": "readLog", "tags": ["structures"], "summary": "A page of a log, newest first",
                "parameters": [
                    { "name": "limit", "in": "query", "required": false, "description": "At most this many (default 100, at most 10000)",
                      "schema": { "type": "integer", "minimum": 0 } },
                    { "name": "before", "in": "query", "required": false, "description": "Only entries older than this cursor",
                      "schema": { "type": "string" } }
                ],
                "responses": responses(&[(200, json_response("Entries", schema("LogPage")))], &[400, 401, 403, 404, 503])
            },
            "post": {
                "operationId": "appendLog", "tags": ["structures"], "summary": "Append an entry, in one commit",
                "requestBody": json_body("ItemRequest"),
                "responses": responses(&[(200, json_response("The entry's cursor", schema("LogCursor")))], &[400, 401, 403, 404, 409, 413, 415, 503])
            }
        },
        "/api/v1/branches/{branch}/ropes/{path}": {
            "parameters": bp(),
            "get": {
                "operationId": "readRope", "tags": ["structures"], "summary": "A rope's bytes, or a range of them",
                "parameters": [
                    { "name": "offset", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0 } },
                    { "name": "len", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0 } }
                ],
                "responses": responses(&[(200, json!({ "description": "The bytes",
                    "content": { "application/octet-stream": { "schema": { "type": "string", "contentMediaType": "application/octet-stream" } } } }))],
                    &[400, 401, 403, 404, 409, 503])
            },
            "put": {
                "operationId": "createRope", "tags": ["structures"], "summary": "Create a rope from the request body's bytes (409 if one exists)",
                "requestBody": { "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "contentMediaType": "application/octet-stream" } } } },
                "responses": responses(&[(200, json_response("The new rope", schema("RopeCreated")))], &[400, 401, 403, 404, 409, 413, 503])
            },
            "post": {
                "operationId": "spliceRope", "tags": ["structures"],
                "summary": "Replace `delete` bytes at `offset` by `insert`, in one commit; edits in different places merge",
                "requestBody": json_body("SpliceRequest"),
                "responses": responses(&[(200, json_response("What the edit did", schema("Spliced")))], &[400, 401, 403, 404, 409, 413, 415, 503])
            }
        },
    })
}

fn paths() -> Value {
    let read_errors: &[u16] = &[400, 401, 403, 404, 503];
    let write_errors: &[u16] = &[400, 401, 403, 404, 409, 412, 413, 503];
    let commit_result = json_response(
        "The commit made (the head, when nothing changed)",
        schema("CommitResult"),
    );
    json!({
        "/healthz": {
            "get": {
                "operationId": "health", "tags": ["meta"],
                "summary": "Whether writes can proceed: objects and references writable, disk not full, the default branch not locked for good (a stale lock is recovered on the way)",
                "security": [],
                "responses": {
                    "200": json_response("The server is up and a write could proceed", schema("Health")),
                    "503": json_response("Writes cannot proceed; `error.code` is disk_full, read_only, objects_not_writable, refs_not_writable or branch_locked", schema("Unhealthy"))
                }
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi", "tags": ["meta"], "summary": "This document",
                "security": [],
                "responses": { "200": json_response("The OpenAPI 3.1 document", json!({ "type": "object" })) }
            }
        },
        "/api/v1/branches": {
            "get": {
                "operationId": "listBranches", "tags": ["branches"],
                "summary": "The branches the caller may read, with their heads",
                "responses": responses(&[(200, json_response("Branches, sorted by name",
                    json!({ "type": "array", "items": schema("Branch") })))], &[401, 503])
            },
            "post": {
                "operationId": "createBranch", "tags": ["branches"],
                "summary": "Create a branch at a revision (default: the head of the default branch)",
                "requestBody": json_body("BranchCreate"),
                "responses": responses(&[(201, json_response("The new branch", schema("Branch")))],
                    &[400, 401, 403, 409, 413, 415, 503])
            }
        },
        "/api/v1/branches/{branch}": {
            "parameters": [param("branch")],
            "get": {
                "operationId": "getBranch", "tags": ["branches"], "summary": "A branch and its head",
                "responses": responses(&[(200, json_response("The branch", schema("Branch")))], read_errors)
            },
            "delete": {
                "operationId": "deleteBranch", "tags": ["branches"],
                "summary": "Delete a branch (not the default one)",
                "responses": responses(&[(200, json_response("The deleted branch and its last head", schema("Branch")))],
                    &[400, 401, 403, 404, 409, 412, 503])
            }
        },
        "/api/v1/branches/{branch}/values/{path}": {
            "parameters": [param("branch"), param("path")],
            "get": {
                "operationId": "getValue", "tags": ["values"], "summary": "The raw bytes of a value",
                "parameters": [param("at"), {
                    "name": "If-None-Match", "in": "header", "required": false,
                    "description": "The value's ETag: 304 if it is unchanged", "schema": { "type": "string" }
                }],
                "responses": responses(&[
                    (200, json!({
                        "description": "The value",
                        "headers": {
                            "ETag": { "description": "The value's hash, quoted", "schema": { "type": "string" } },
                            "X-Canopy-Commit": { "description": "The commit read", "schema": schema("Hash") }
                        },
                        "content": { "application/octet-stream": { "schema": { "type": "string", "contentMediaType": "application/octet-stream" } } }
                    })),
                    (304, json!({ "description": "Unchanged since the ETag given in If-None-Match" })),
                ], &[400, 401, 403, 404, 409, 503])
            },
            "put": {
                "operationId": "putValue", "tags": ["values"], "summary": "Set a value (one commit)",
                "parameters": [param("message"), param("author"), param("ifMatch"), {
                    "name": "If-None-Match", "in": "header", "required": false,
                    "description": "'*': write only if nothing is at PATH (412 otherwise)", "schema": { "const": "*" }
                }],
                "requestBody": { "required": true, "content": { "application/octet-stream": {
                    "schema": { "type": "string", "contentMediaType": "application/octet-stream" } } } },
                "responses": responses(&[(200, commit_result.clone())], write_errors)
            },
            "delete": {
                "operationId": "deleteValue", "tags": ["values"],
                "summary": "Remove a value or a whole directory (one commit)",
                "parameters": [param("message"), param("author"), param("ifMatch")],
                "responses": responses(&[(200, commit_result.clone())], &[400, 401, 403, 404, 409, 412, 503])
            }
        },
        "/api/v1/branches/{branch}/tree": {
            "parameters": [param("branch")],
            "get": {
                "operationId": "listRoot", "tags": ["values"], "summary": "The root directory's entries",
                "parameters": [param("at"), param("recursive")],
                "responses": responses(&[(200, json_response("Entries", schema("TreeListing")))], read_errors)
            }
        },
        "/api/v1/branches/{branch}/tree/{path}": {
            "parameters": [param("branch"), param("path")],
            "get": {
                "operationId": "listTree", "tags": ["values"],
                "summary": "A directory's entries (children, or with recursive=true every value below)",
                "parameters": [param("at"), param("recursive")],
                "responses": responses(&[(200, json_response("Entries", schema("TreeListing")))],
                    &[400, 401, 403, 404, 409, 503])
            }
        },
        "/api/v1/branches/{branch}/commits": {
            "parameters": [param("branch")],
            "post": {
                "operationId": "commit", "tags": ["values"],
                "summary": "Several changes as one commit; with 'parent', merged onto a moved head by the drivers",
                "requestBody": json_body("CommitRequest"),
                "responses": responses(&[(200, json_response("The commit made", schema("CommitResult")))],
                    &[400, 401, 403, 404, 409, 413, 415, 503])
            }
        },
        "/api/v1/branches/{branch}/merge": {
            "parameters": [param("branch")],
            "post": {
                "operationId": "merge", "tags": ["history"],
                "summary": "Merge a branch or commit into this branch with the per-path drivers; \
                    with 'resolutions' (one per conflicting path, none for others), commit the merge with them",
                "parameters": [param("ifMatch")],
                "requestBody": json_body("MergeRequest"),
                "responses": responses(&[(200, json_response("What the merge did", schema("MergeResult")))],
                    &[400, 401, 403, 404, 409, 412, 413, 415, 503])
            }
        },
        "/api/v1/branches/{branch}/merge/preview": {
            "parameters": [param("branch")],
            "get": {
                "operationId": "previewMerge", "tags": ["history"],
                "summary": "What merging a branch or commit into this branch would do, writing nothing: \
                    the outcome, the changes to the branch, and each conflict with its base, ours and theirs",
                "parameters": [{ "name": "from", "in": "query", "required": true, "schema": { "type": "string" },
                    "description": "The REV to merge in" }],
                "responses": responses(&[(200, json_response("The merge's preview", schema("MergePreview")))], read_errors)
            }
        },
        "/api/v1/branches/{branch}/log": {
            "parameters": [param("branch")],
            "get": {
                "operationId": "log", "tags": ["history"], "summary": "History, newest first",
                "parameters": [
                    { "name": "limit", "in": "query", "required": false, "description": "At most this many (default 100, at most 10000)",
                      "schema": { "type": "integer", "minimum": 0 } },
                    { "name": "path", "in": "query", "required": false, "description": "Only commits that changed this path",
                      "schema": { "type": "string" } }
                ],
                "responses": responses(&[(200, json_response("Commits", json!({ "type": "array", "items": schema("Commit") })))],
                    read_errors)
            }
        },
        "/api/v1/branches/{branch}/watch": {
            "parameters": [param("branch")],
            "get": {
                "operationId": "watch", "tags": ["watch"],
                "summary": "Server-sent events: one 'change' event per commit, id = commit hash",
                "description": "Events: 'ready' first ({branch, head}; its id is the head unless resuming), then \
                    'change' per commit (data: a WatchEvent), 'deleted' if the branch goes away. \
                    Reconnect with Last-Event-ID to get exactly the commits missed; if that commit left the \
                    branch's history, one 'change' with reset=true carries the whole diff.",
                "parameters": [
                    { "name": "path", "in": "query", "required": false, "description": "Only commits that change something below this path",
                      "schema": { "type": "string" } },
                    { "name": "Last-Event-ID", "in": "header", "required": false, "description": "The last commit received",
                      "schema": schema("Hash") }
                ],
                "responses": responses(&[(200, json!({
                    "description": "An event stream",
                    "content": { "text/event-stream": {
                        "schema": { "type": "string", "description": "Events whose data is a WatchEvent (JSON)" },
                        "itemSchema": schema("WatchEvent")
                    } }
                }))], read_errors)
            }
        },
        "/api/v1/branches/{branch}/counters/{path}": {
            "parameters": [param("branch"), param("path")],
            "get": {
                "operationId": "getCounter", "tags": ["structures"],
                "summary": "A counter's value (0 when absent)",
                "responses": responses(&[(200, json_response("The value", schema("CounterValue")))],
                    &[400, 401, 403, 404, 409, 503])
            },
            "post": {
                "operationId": "addToCounter", "tags": ["structures"],
                "summary": "Add to a counter in one commit; concurrent additions anywhere all count when merged",
                "requestBody": json_body("CounterAdd"),
                "responses": responses(&[(200, json_response("The value in the new commit", schema("CounterAdded")))],
                    &[400, 401, 403, 404, 409, 413, 415, 503])
            }
        },
        "/api/v1/commits/{rev}": {
            "get": {
                "operationId": "getCommit", "tags": ["history"], "summary": "A commit and the paths it changed (against its first parent)",
                "parameters": [{ "name": "rev", "in": "path", "required": true, "description": "A REV", "schema": { "type": "string" } }],
                "responses": responses(&[(200, json_response("The commit", schema("CommitWithChanges")))], &[400, 401, 403, 503])
            }
        },
        "/api/v1/diff": {
            "get": {
                "operationId": "diff", "tags": ["history"], "summary": "The value paths that differ between two revisions",
                "parameters": [
                    { "name": "from", "in": "query", "required": true, "schema": { "type": "string" }, "description": "A REV" },
                    { "name": "to", "in": "query", "required": true, "schema": { "type": "string" }, "description": "A REV" },
                    { "name": "path", "in": "query", "required": false, "schema": { "type": "string" }, "description": "Only below this path" },
                    { "name": "patch", "in": "query", "required": false, "schema": { "type": "boolean" },
                      "description": "Add each change's unified line diff ('patch') and whether it is binary" }
                ],
                "responses": responses(&[(200, json_response("The changes, in path order", schema("Diff")))], &[400, 401, 403, 503])
            }
        }
    })
}

fn components() -> Value {
    json!({
        "securitySchemes": {
            "bearer": { "type": "http", "scheme": "bearer",
                "description": "A token from `canopy token create`. Not needed on a loopback server with no token defined." }
        },
        "parameters": {
            "branch": { "name": "branch", "in": "path", "required": true,
                "description": "A branch name; '/' in it percent-encoded (feature%2Fx)", "schema": { "type": "string" } },
            "path": { "name": "path", "in": "path", "required": true,
                "description": "A path; may hold '/' (a/b/c)", "schema": { "type": "string" } },
            "at": { "name": "at", "in": "query", "required": false,
                "description": "Read at this REV instead of the branch head", "schema": { "type": "string" } },
            "recursive": { "name": "recursive", "in": "query", "required": false,
                "description": "List every value below instead of the direct children", "schema": { "type": "boolean" } },
            "message": { "name": "message", "in": "query", "required": false,
                "description": "The commit message", "schema": { "type": "string" } },
            "author": { "name": "author", "in": "query", "required": false,
                "description": "The author, 'Name <email>'", "schema": { "type": "string" } },
            "ifMatch": { "name": "If-Match", "in": "header", "required": false,
                "description": "\"<commit>\": write only if the branch head is this commit (412 otherwise, nothing written)",
                "schema": { "type": "string" } }
        },
        "responses": {
            "E400": json_response("Bad request: a bad path, REV, branch name, JSON body or parameter", schema("Error")),
            "E401": json_response("No token, or a wrong one", schema("Error")),
            "E403": json_response("The token may not read or write this branch", schema("Error")),
            "E404": json_response("No such branch, path or route", schema("Error")),
            "E409": json_response("A merge conflict (with the paths), or a state that forbids the request", schema("Error")),
            "E412": json_response("If-Match or If-None-Match failed: the branch moved; nothing was written", schema("Error")),
            "E413": json_response("The request body is over the server's limit", schema("Error")),
            "E415": json_response("A JSON body not sent as Content-Type: application/json", schema("Error")),
            "E503": json_response("Too many requests or watches at once, or too much contention; retry", schema("Error"))
        },
        "schemas": {
            "Hash": { "type": "string", "pattern": "^([0-9a-f]{40}|[0-9a-f]{64})$", "description": "An object id (hex)" },
            "Error": {
                "type": "object", "required": ["error"],
                "properties": {
                    "error": { "type": "object", "required": ["code", "message"],
                        "properties": { "code": { "type": "string" }, "message": { "type": "string" } } },
                    "conflicts": { "type": "array", "items": schema("Conflict") }
                }
            },
            "Conflict": { "type": "object", "required": ["path", "reason"],
                "properties": { "path": { "type": "string" }, "reason": { "type": "string" } } },
            "Health": { "type": "object", "required": ["status"], "properties": { "status": { "const": "ok" } } },
            "Unhealthy": { "type": "object", "required": ["status", "error"],
                "properties": { "status": { "const": "unavailable" },
                    "error": { "type": "object", "required": ["code", "message"],
                        "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } } },
            "Branch": { "type": "object", "required": ["name", "head"],
                "properties": { "name": { "type": "string" }, "head": { "oneOf": [schema("Hash"), { "type": "null" }] } } },
            "BranchCreate": { "type": "object", "required": ["name"], "additionalProperties": false,
                "properties": { "name": { "type": "string" }, "from": { "type": "string", "description": "A REV" } } },
            "CommitResult": { "type": "object", "required": ["commit"],
                "properties": { "commit": schema("Hash"),
                    "merged": { "type": "boolean", "description": "Whether the changes were merged onto a head that had moved past 'parent'" } } },
            "TreeEntry": { "type": "object", "required": ["name", "path", "kind", "hash", "mode"],
                "properties": {
                    "name": { "type": "string" }, "path": { "type": "string" },
                    "kind": { "enum": ["value", "tree", "gitlink"] },
                    "hash": { "oneOf": [schema("Hash"), { "type": "null" }] },
                    "mode": { "type": "string" } } },
            "TreeListing": { "type": "object", "required": ["commit", "path", "entries"],
                "properties": {
                    "commit": { "oneOf": [schema("Hash"), { "type": "null" }] },
                    "path": { "type": "string" },
                    "entries": { "type": "array", "items": schema("TreeEntry") } } },
            "Change": { "type": "object", "required": ["path"], "additionalProperties": false,
                "description": "Exactly one of value, value_base64 or delete: true",
                "properties": {
                    "path": { "type": "string" },
                    "value": { "type": "string", "description": "The new value as text" },
                    "value_base64": { "type": "string", "contentEncoding": "base64" },
                    "delete": { "type": "boolean" } } },
            "CommitRequest": { "type": "object", "required": ["message", "changes"], "additionalProperties": false,
                "properties": {
                    "message": { "type": "string" },
                    "author": { "type": "string", "description": "'Name <email>'" },
                    "parent": { "type": "string", "description": "The commit (a REV) the changes were made against" },
                    "changes": { "type": "array", "items": schema("Change") } } },
            "MergeRequest": { "type": "object", "required": ["from"], "additionalProperties": false,
                "properties": {
                    "from": { "type": "string", "description": "A REV" },
                    "message": { "type": "string" }, "author": { "type": "string" },
                    "no_ff": { "type": "boolean" },
                    "resolutions": { "type": "array", "items": schema("Resolution"),
                        "description": "One per conflicting path (409 if one is missing, or names a path without conflict)" } } },
            "MergeResult": { "type": "object", "required": ["commit", "outcome"],
                "properties": { "commit": schema("Hash"), "outcome": { "enum": ["up_to_date", "fast_forward", "merged"] } } },
            "Signature": { "type": "object", "required": ["name", "email", "time", "offset_minutes"],
                "properties": { "name": { "type": "string" }, "email": { "type": "string" },
                    "time": { "type": "integer", "description": "Unix time" }, "offset_minutes": { "type": "integer" } } },
            "Commit": { "type": "object", "required": ["id", "tree", "parents", "author", "committer", "message", "summary"],
                "properties": {
                    "id": schema("Hash"), "tree": schema("Hash"),
                    "parents": { "type": "array", "items": schema("Hash") },
                    "author": schema("Signature"), "committer": schema("Signature"),
                    "message": { "type": "string" }, "summary": { "type": "string" } } },
            "Side": { "type": "object", "required": ["hash", "mode"],
                "properties": { "hash": schema("Hash"), "mode": { "type": "string" } } },
            "PathChange": { "type": "object", "required": ["path", "kind", "status", "old", "new"],
                "properties": {
                    "path": { "type": "string" },
                    "kind": { "enum": ["added", "removed", "changed"] },
                    "status": { "enum": ["A", "D", "M", "T"] },
                    "old": { "oneOf": [schema("Side"), { "type": "null" }] },
                    "new": { "oneOf": [schema("Side"), { "type": "null" }] },
                    "binary": { "type": "boolean", "description": "With patch=true: a side is not text" },
                    "patch": { "type": ["string", "null"],
                        "description": "With patch=true: the unified line diff (@@ hunks); null for binary values, over 1 MiB, or submodules" } } },
            "CommitWithChanges": { "allOf": [schema("Commit"), { "type": "object", "required": ["changes"],
                "properties": { "changes": { "type": "array", "items": schema("PathChange") } } }] },
            "Diff": { "type": "object", "required": ["from", "to", "changes"],
                "properties": { "from": schema("Hash"), "to": schema("Hash"),
                    "changes": { "type": "array", "items": schema("PathChange") } } },
            "WatchEvent": { "allOf": [schema("Commit"), { "type": "object", "required": ["branch", "changes"],
                "properties": {
                    "branch": { "type": "string" },
                    "changes": { "type": "array", "items": schema("PathChange") },
                    "reset": { "type": "boolean", "description": "The changes run from 'from' to this commit, not from its parent" },
                    "from": { "oneOf": [schema("Hash"), { "type": "null" }] } } }] }
        }
    })
}

//! The OpenAPI 3.1 document of the JSON REST API, generated: every operation from the
//! `#[utoipa::path]` annotation on its handler, every schema from the `canopy-wire` type the
//! handler sends or takes, every string parameter from the grammar the server checks
//! (`canopy_wire::grammar`). Nothing here restates a shape; this module only lists the
//! operations and adds what a derive cannot know: the bearer scheme, and for each error status
//! the codes it carries.
//!
//! Left out, being no JSON API: the web UI (`/`, `/ui/…`) and the Git smart-HTTP endpoints
//! (`/git/…`, which speak Git's protocol to `git` and `canopy`).

use axum::Json;
use serde_json::{json, Value};
use utoipa::OpenApi;

use canopy_wire::grammar;

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Canopy",
        description = "Values at paths on branches of a Git repository; every write is a commit. \
            Branch names that hold '/' are percent-encoded in their URL segment (feature%2Fx); a PATH \
            parameter may hold '/' (a/b/c). Errors are {\"error\": {\"code\", \"message\"}}; each \
            error status lists the codes it carries.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0")
    ),
    paths(
        crate::healthz,
        serve_document,
        api::branches::list,
        api::branches::create,
        api::branches::show,
        api::branches::delete,
        api::values::get_value,
        api::values::put_value,
        api::values::delete_value,
        api::values::tree_root,
        api::values::tree,
        api::commits::commit,
        api::merges::merge,
        api::merges::preview,
        api::history::log,
        api::history::show_commit,
        api::history::diff,
        api::structures::get_counter,
        api::structures::add_counter,
        api::structures::list_queue,
        api::structures::push_queue,
        api::structures::pop_queue,
        api::structures::read_log,
        api::structures::append_log,
        api::structures::read_rope,
        api::structures::create_rope,
        api::structures::splice_rope,
        crate::watch::watch,
    ),
    components(schemas(
        grammar::Hash,
        grammar::BranchName,
        grammar::Rev,
        grammar::PathName,
        grammar::PathOrRoot,
        grammar::Identity,
        grammar::Base64,
        grammar::LogCursor,
        grammar::IfMatch,
        grammar::CreateOnly,
        grammar::Limit,
        canopy_wire::api::WatchReady,
        canopy_wire::api::ChangeEvent,
        canopy_wire::api::WatchDeleted,
    )),
    tags(
        (name = "branches"), (name = "values"), (name = "history"),
        (name = "structures"), (name = "watch"), (name = "meta")
    )
)]
struct Document;

/// The error codes each error status carries, and what the status means.
pub const ERROR_CODES: &[(u16, &str, &[&str])] = &[
    (
        400,
        "Bad request: a bad path, REV, branch name, identity, JSON body, parameter or header",
        &[
            "bad_path",
            "bad_rev",
            "bad_branch_name",
            "bad_identity",
            "bad_date",
            "bad_value",
            "bad_json",
            "bad_body",
            "bad_query",
            "bad_precondition",
            "out_of_range",
        ],
    ),
    (401, "No token, or a wrong one", &["unauthorized"]),
    (
        403,
        "The token may not read or write this branch, or the request came from another site",
        &["forbidden", "bad_host", "cross_origin"],
    ),
    (
        404,
        "No such branch, path, commit, queue item or route",
        &[
            "no_such_branch",
            "no_such_path",
            "no_such_rev",
            "no_such_route",
            "queue_empty",
        ],
    ),
    (
        409,
        "A merge conflict (with the paths), or a state that forbids the request",
        &[
            "conflict",
            "wrong_type",
            "branch_exists",
            "name_conflict",
            "exists",
            "not_a_value",
            "not_a_directory",
            "default_branch",
            "parent_not_in_history",
            "not_in_conflict",
            "no_commit_yet",
            "out_of_range",
        ],
    ),
    (
        412,
        "If-Match or If-None-Match failed: the branch moved, or the path holds a value; nothing was written",
        &["precondition_failed"],
    ),
    (413, "The request body is over the server's limit", &["too_large"]),
    (
        415,
        "A JSON body not sent as Content-Type: application/json",
        &["unsupported_media_type"],
    ),
    (
        422,
        "A body that keeps to the document but asks for something contradictory: two resolutions for one path",
        &["resolved_twice"],
    ),
    (
        503,
        "Too many requests or watches at once, or too much contention; retry (Retry-After)",
        &["busy", "contention", "locked", "too_many_watches"],
    ),
];

/// `GET /api/v1/openapi.json`.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "openapi", tag = "meta",
    summary = "This document", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn serve_document() -> Json<Value> {
    Json(document())
}

/// The whole document.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(Document::openapi()).unwrap_or_default();
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    doc["jsonSchemaDialect"] = json!("https://json-schema.org/draft/2020-12/schema");
    doc["security"] = json!([{ "bearer": [] }, {}]);
    doc["components"]["securitySchemes"] = json!({
        "bearer": { "type": "http", "scheme": "bearer",
            "description": "A token from `canopy token create`. Not needed on a loopback server with no token defined." }
    });
    let mut responses = serde_json::Map::new();
    for (status, description, codes) in ERROR_CODES {
        let name = format!("Error{status}");
        doc["components"]["schemas"][&name] = json!({
            "allOf": [
                { "$ref": "#/components/schemas/ErrorBody" },
                { "type": "object", "properties": { "error": { "type": "object",
                    "properties": { "code": { "type": "string", "enum": codes } } } } }
            ]
        });
        responses.insert(
            format!("E{status}"),
            json!({ "description": description,
                "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}") } } } }),
        );
    }
    doc["components"]["responses"] = Value::Object(responses);
    // Each error answer of an operation refers to its status's response.
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            for op in item.as_object_mut().into_iter().flat_map(|m| m.values_mut()) {
                // An absent header or query parameter is simply not sent: no `null` alternative.
                for p in op
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    let schema = &mut p["schema"];
                    if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
                        let kept: Vec<Value> = alternatives
                            .iter()
                            .filter(|a| a.get("type") != Some(&json!("null")))
                            .cloned()
                            .collect();
                        if kept.len() == 1 {
                            *schema = kept[0].clone();
                        }
                    }
                    if let Some(Value::Array(types)) = schema.get_mut("type") {
                        types.retain(|t| t != "null");
                        if types.len() == 1 {
                            schema["type"] = types[0].clone();
                        }
                    }
                }
                let Some(answers) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                    continue;
                };
                for (status, answer) in answers.iter_mut() {
                    let is_error = answer.pointer("/content/application~1json/schema/$ref")
                        == Some(&json!("#/components/schemas/ErrorBody"));
                    if is_error {
                        *answer = json!({ "$ref": format!("#/components/responses/E{status}") });
                    }
                }
            }
        }
    }
    doc
}

//! The REST endpoints under `/api/v1`, grouped by what they act on: branches, values and
//! trees, commits, merges, history and diffs. Shared here: request extractors that turn
//! every malformed input into a 400 with the standard error body, branch and revision
//! resolution with access checks, and the JSON forms of commits and changes.

pub(crate) mod branches;
pub(crate) mod commits;
pub(crate) mod history;
pub(crate) mod merges;
pub(crate) mod structures;
pub(crate) mod values;

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use canopy::object::{ObjectId, Signature};
use canopy::{Branch, Repo};
use serde::de::DeserializeOwned;

use crate::auth::{Access, Challenge, Identity};
use crate::error::ApiError;
use crate::limits::Body;
use crate::AppState;

pub(crate) use history::changes as history_changes;

/// The REST routes, each path as the OpenAPI document writes it (`{path}` for a PATH, which
/// may hold '/'), with its handlers. The router and the check of the document against it
/// ([`crate::served_paths`]) both read this one table.
fn table() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/api/v1/branches", get(branches::list).post(branches::create)),
        (
            "/api/v1/branches/{branch}",
            get(branches::show).delete(branches::delete),
        ),
        (
            "/api/v1/branches/{branch}/values/{path}",
            get(values::get_value)
                .put(values::put_value)
                .delete(values::delete_value),
        ),
        ("/api/v1/branches/{branch}/tree", get(values::tree_root)),
        ("/api/v1/branches/{branch}/tree/{path}", get(values::tree)),
        ("/api/v1/branches/{branch}/commits", post(commits::commit)),
        ("/api/v1/branches/{branch}/merge", post(merges::merge)),
        ("/api/v1/branches/{branch}/merge/preview", get(merges::preview)),
        ("/api/v1/branches/{branch}/log", get(history::log)),
        (
            "/api/v1/branches/{branch}/counters/{path}",
            get(structures::get_counter).post(structures::add_counter),
        ),
        (
            "/api/v1/branches/{branch}/queues/{path}",
            get(structures::list_queue).post(structures::push_queue),
        ),
        (
            "/api/v1/branches/{branch}/pop/{path}",
            post(structures::pop_queue),
        ),
        (
            "/api/v1/branches/{branch}/logs/{path}",
            get(structures::read_log).post(structures::append_log),
        ),
        (
            "/api/v1/branches/{branch}/ropes/{path}",
            get(structures::read_rope)
                .put(structures::create_rope)
                .post(structures::splice_rope),
        ),
        ("/api/v1/commits/{rev}", get(history::show_commit)),
        ("/api/v1/diff", get(history::diff)),
    ]
}

pub(crate) fn routes() -> Router<AppState> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(&path.replace("{path}", "{*path}"), methods)
        })
}

/// The query parameters of every operation the OpenAPI document describes, by (path as the
/// document writes it, lowercase method).
fn declared_queries() -> &'static HashMap<(String, String), Vec<String>> {
    static DECLARED: OnceLock<HashMap<(String, String), Vec<String>>> = OnceLock::new();
    DECLARED.get_or_init(|| {
        let doc = crate::openapi::document();
        let mut declared = HashMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let names = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                    .collect();
                declared.insert((path.clone(), method.clone()), names);
            }
        }
        declared
    })
}

/// Refuses a query parameter that the operation does not declare (400 `bad_query`), so that
/// `?limt=5` is an error instead of being ignored; the same for every operation the document
/// describes, whether it takes parameters or none. Runs after routing (it needs the route).
pub(crate) async fn known_query(request: Request, next: Next) -> Response {
    use axum::response::IntoResponse;
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().replace("{*path}", "{path}"));
    let (Some(route), Some(_)) = (route, request.uri().query()) else {
        return next.run(request).await;
    };
    let method = match request.method().as_str() {
        "HEAD" => "get".to_string(),
        m => m.to_ascii_lowercase(),
    };
    if let Some(allowed) = declared_queries().get(&(route, method)) {
        let given = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(request.uri())
            .map(|q| q.0)
            .unwrap_or_default();
        if let Some((name, _)) = given.iter().find(|(name, _)| !allowed.contains(name)) {
            let known = if allowed.is_empty() {
                "it takes none".to_string()
            } else {
                format!("it takes {}", allowed.join(", "))
            };
            return ApiError::bad_request(
                "bad_query",
                format!("unknown query parameter '{name}' for this operation: {known}"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// The paths of [`routes`], as the document writes them.
pub(crate) fn paths() -> Vec<&'static str> {
    table().into_iter().map(|(path, _)| path).collect()
}

/// Unknown routes.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no_such_route", "no such endpoint; see /api/v1/openapi.json")
}

/// Path parameters; a malformed one (bad percent-encoding) is a 400.
pub struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(Params(t)),
            Err(e) => Err(ApiError::bad_request("bad_path", e.body_text())),
        }
    }
}

/// Query parameters; a malformed one is a 400 naming it.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(t)) => Ok(Query(t)),
            Err(e) => Err(ApiError::bad_request("bad_query", e.body_text())),
        }
    }
}

/// A JSON body, sent as `application/json` (else 415: a form or `text/plain` post is what a web
/// page on another site can send without asking), within the body limit; a malformed one is a
/// 400 naming the field at fault (`changes[0].path: missing field`).
pub struct Json<T>(pub T);

impl<T> FromRequest<AppState> for Json<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        require_json(req.headers())?;
        let Body(bytes) = Body::from_request(req, state).await?;
        json_object(&bytes).map(Json)
    }
}

/// Parses a JSON object body into `T`; a malformed one is a 400 naming the field at fault.
pub(crate) fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is an object; serde would also take a struct from an array.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::bad_request(
            "bad_json",
            "invalid JSON body: expected a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        let message = if at.is_empty() || at == "." {
            format!("invalid JSON body: {inner}")
        } else {
            format!("invalid JSON body at '{at}': {inner}")
        };
        ApiError::bad_request("bad_json", message)
    })
}

/// Refuses a body whose content type is not JSON (`application/json`, or any `…+json`).
pub(crate) fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let media = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("application/json") => Ok(()),
        Some(m) if m.starts_with("application/") && m.ends_with("+json") => Ok(()),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "send the JSON body as Content-Type: application/json (got {})",
                other.unwrap_or("none")
            ),
        )),
    }
}

/// The caller, authenticated for the REST API (401 with a Bearer challenge otherwise). As an
/// extractor it runs before the body is read, so an unauthenticated upload is refused at once.
pub struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state
            .auth()
            .authenticate(&parts.headers, Challenge::Bearer)
            .map(Caller)
    }
}

/// The caller, authenticated and holding write rights on the branch the URL names, checked from
/// the request's head: a caller who may not write is refused before a byte of the body is read
/// (so a slow or huge upload cannot hold a request slot it has no right to).
pub struct Writer(pub Identity);

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(who) = Caller::from_request_parts(parts, state).await?;
        let Params(params) =
            Params::<std::collections::HashMap<String, String>>::from_request_parts(parts, state).await?;
        if let Some(branch) = params.get("branch") {
            who.require(branch, Access::Write)?;
        }
        Ok(Writer(who))
    }
}

/// Branch `name` for a caller with `access` on it: 403 without the right (checked first, so
/// that names the caller may not read are not revealed), 400 for a bad name, 404 when it does
/// not exist — except the branch `HEAD` names, which may be unborn (an empty store's `main`).
pub(crate) fn open_branch(
    repo: &Repo,
    who: &Identity,
    name: &str,
    access: Access,
) -> Result<Branch, ApiError> {
    who.require(name, access)?;
    let branch = branch_named(repo, name)?;
    if branch.head()?.is_none() {
        let is_default = repo.head_branch().map(|b| b.name() == name).unwrap_or(false);
        if !is_default {
            return Err(ApiError::not_found(
                "no_such_branch",
                format!("branch '{name}' does not exist"),
            ));
        }
    }
    Ok(branch)
}

/// The branch `name`, refused (400 `bad_branch_name`) unless the store could hold it: a name
/// as [`canopy_wire::grammar::is_branch_name`] accepts it, short enough to be a file name.
pub(crate) fn branch_named(repo: &Repo, name: &str) -> Result<Branch, ApiError> {
    if name.len() > canopy_wire::grammar::MAX_BRANCH_BYTES {
        return Err(ApiError::bad_request(
            "bad_branch_name",
            format!(
                "branch name '{}…' is longer than {} bytes",
                name.chars().take(40).collect::<String>(),
                canopy_wire::grammar::MAX_BRANCH_BYTES
            ),
        ));
    }
    Ok(repo.branch(name)?)
}

/// Resolves a revision for a caller who must be able to read it: a caller restricted to some
/// branches may only see commits in their histories.
pub(crate) fn resolve_rev(repo: &Repo, who: &Identity, rev: &str) -> Result<ObjectId, ApiError> {
    if who.reads_everything() {
        return resolve(repo, rev);
    }
    // A restricted token learns nothing about what it may not read: whether the revision
    // exists, or what kind of object it names, gets the same answer as a forbidden commit.
    let refused = || {
        ApiError::forbidden(format!(
            "token '{}' may not read '{rev}': it is in no branch the token may read",
            who.name()
        ))
    };
    let id = repo.resolve(rev).map_err(|_| refused())?;
    // `feature/x~2`: a readable branch named as the base, with only parent steps after it.
    let base = rev.split(['~', '^']).next().unwrap_or(rev);
    if let Ok(branch) = repo.branch(base) {
        if who.can(base, Access::Read) && branch.head()?.is_some_and(|h| repo.resolve(base).ok() == Some(h)) {
            return Ok(id);
        }
    }
    for (name, head) in repo.branches()? {
        if who.can(&name, Access::Read) && repo.is_ancestor(id, head).unwrap_or(false) {
            return Ok(id);
        }
    }
    Err(refused())
}

/// Resolves a revision: 400 `bad_rev` when it is malformed, 404 `no_such_rev` when it is well
/// formed (see [`canopy_wire::grammar::is_well_formed_rev`]) but names no commit.
fn resolve(repo: &Repo, rev: &str) -> Result<ObjectId, ApiError> {
    use canopy::store::Error as StoreError;
    match repo.resolve(rev) {
        Ok(id) => Ok(id),
        Err(e @ (StoreError::InvalidRev { .. } | StoreError::NotACommit(_)))
            if canopy_wire::grammar::is_well_formed_rev(rev) =>
        {
            Err(ApiError::not_found("no_such_rev", e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// A path that can hold a value (not the root), as a change or a resolution names it.
pub(crate) fn value_path(s: &str) -> Result<canopy::Path, String> {
    let path = canopy::Path::parse(s).map_err(|e| e.to_string())?;
    if path.is_root() {
        return Err("the root is not a value".into());
    }
    Ok(path)
}

/// Parses a full commit id given by a client.
pub(crate) fn parse_id(repo: &Repo, s: &str, what: &str) -> Result<ObjectId, ApiError> {
    ObjectId::from_hex(s.as_bytes())
        .filter(|id| id.hash_kind() == repo.hash_kind())
        .ok_or_else(|| ApiError::bad_request("bad_rev", format!("{what}: '{s}' is not a full commit id")))
}

/// A page size (`?limit=`): 100 when not given, at most [`canopy_wire::grammar::MAX_PAGE`].
pub(crate) fn page_size(limit: Option<usize>) -> Result<usize, ApiError> {
    let max = canopy_wire::grammar::MAX_PAGE;
    match limit {
        None => Ok(100),
        Some(n) if n <= max => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "bad_query",
            format!("limit {n} is over {max}; page with the last entry instead"),
        )),
    }
}

/// An identity given as `Name <email>`, dated now.
pub(crate) fn parse_author(repo: &Repo, s: &str) -> Result<Signature, ApiError> {
    let now = repo.default_signature().time;
    Signature::parse_name_email(s, now, 0).ok_or_else(|| {
        ApiError::bad_request(
            "bad_identity",
            format!("invalid author '{s}': expected 'Name <email>'"),
        )
    })
}

/// `201 Created` or `200 OK` with a JSON body.
pub(crate) fn ok_json(status: StatusCode, body: impl serde::Serialize) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(body)).into_response()
}

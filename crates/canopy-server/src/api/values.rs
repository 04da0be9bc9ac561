//! Values and trees: `GET|PUT|DELETE /branches/{b}/values/{PATH}`, `GET /branches/{b}/tree`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use canopy::backend::{Expected, RefLog};
use canopy::object::{ObjectId, ObjectKind};
use canopy::store::{Change, CommitOptions, View};
use canopy::tree::{Entry, Tree};
use canopy::{Branch, Path, Repo};
use canopy_wire::api::{ErrorBody, TreeEntry, Written};
#[allow(unused_imports)] // named by the OpenAPI annotations
use canopy_wire::grammar::{BranchName, CreateOnly, Hash, IfMatch, PathName, Rev};
use serde::Deserialize;

use super::{ok_json, open_branch, parse_author, parse_id, resolve_rev, Caller, Params, Query, Writer};
use crate::auth::{Access, Identity};
use crate::error::{blocking, ApiError};
use crate::limits::ValueBody;
use crate::AppState;

#[derive(Deserialize)]
pub(crate) struct BranchPath {
    branch: String,
    path: String,
}

#[derive(Deserialize)]
pub(crate) struct BranchOnly {
    branch: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct At {
    at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WriteQuery {
    message: Option<String>,
    author: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TreeQuery {
    at: Option<String>,
    #[serde(default)]
    recursive: bool,
}

/// The view a read asks for: the branch head, or `?at=REV`.
fn read_view(repo: &Repo, who: &Identity, branch: &str, at: Option<&str>) -> Result<View, ApiError> {
    let branch = open_branch(repo, who, branch, Access::Read)?;
    Ok(match at {
        Some(rev) => repo.view_at(resolve_rev(repo, who, rev)?)?,
        None => branch.view()?,
    })
}

fn value_path(path: &str) -> Result<Path, ApiError> {
    let path = Path::parse(path)?;
    if path.is_root() {
        return Err(ApiError::bad_request(
            "bad_path",
            "the root is a directory, not a value",
        ));
    }
    Ok(path)
}

#[utoipa::path(get, path = "/api/v1/branches/{branch}/values/{path}", operation_id = "getValue", tag = "values",
    summary = "The raw bytes of a value",
    params(("branch" = BranchName, Path), ("path" = PathName, Path),
        ("at" = Option<Rev>, Query, description = "Read at this REV instead of the branch head"),
        ("If-None-Match" = Option<String>, Header, description = "The value's ETag: 304 if it is unchanged")),
    responses((status = 200, description = "The value", content_type = "application/octet-stream", body = String,
            headers(("ETag" = String, description = "The value's hash, quoted"),
                ("X-Canopy-Commit" = Hash, description = "The commit read"))),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn get_value(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchPath>,
    Query(q): Query<At>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let (commit, id, body) = blocking(move || {
        let path = value_path(&p.path)?;
        let view = read_view(&repo, &who, &p.branch, q.at.as_deref())?;
        let id = match view.find(&path)? {
            Some(Entry::Value { id, .. }) => id,
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_a_value",
                    format!("'{path}' is a directory; list it with the tree endpoint"),
                ))
            }
            None => {
                return Err(ApiError::not_found(
                    "no_such_path",
                    format!("no value at '{path}'"),
                ))
            }
        };
        let not_modified = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| unquote(t) == id.to_hex()));
        let body = if not_modified {
            None
        } else {
            Some(value_body(repo.clone(), id)?)
        };
        Ok((view.commit(), id, body))
    })
    .await?;
    let mut response = match body {
        Some((length, body)) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                ),
                (header::CONTENT_LENGTH, HeaderValue::from(length)),
            ],
            body,
        )
            .into_response(),
        None => StatusCode::NOT_MODIFIED.into_response(),
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{id}\"")) {
        h.insert(header::ETAG, v);
    }
    if let Some(c) = commit.and_then(|c| HeaderValue::from_str(&c.to_hex()).ok()) {
        h.insert("x-canopy-commit", c);
    }
    Ok(response)
}

/// A value's length and bytes as a response body: whole when small, else streamed from the
/// store in pieces by a blocking thread, so that memory does not grow with the value. Damage
/// found while streaming (the bytes do not hash to the id) ends the body early, and the client
/// sees a short read rather than wrong bytes.
fn value_body(repo: canopy::Repo, id: canopy::ObjectId) -> Result<(u64, axum::body::Body), ApiError> {
    let stream = repo
        .objects()
        .read_stream(&id)?
        .ok_or(canopy::backend::Error::MissingObject { id })?;
    let size = stream.size;
    if size <= crate::limits::SPOOL_BYTES as u64 {
        let mut bytes = Vec::with_capacity(size as usize);
        std::io::Read::read_to_end(&mut { stream.reader }, &mut bytes)
            .map_err(|e| ApiError::internal(format!("reading {id}: {e}")))?;
        return Ok((size, axum::body::Body::from(bytes)));
    }
    drop(stream);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<axum::body::Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut stream = match repo.objects().read_stream(&id) {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        loop {
            let mut piece = vec![0u8; 256 << 10];
            match std::io::Read::read(&mut stream.reader, &mut piece) {
                Ok(0) => return,
                Ok(n) => {
                    piece.truncate(n);
                    if tx.blocking_send(Ok(piece.into())).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!("streaming {id}: {e}");
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok((size, axum::body::Body::from_stream(body)))
}

#[utoipa::path(put, path = "/api/v1/branches/{branch}/values/{path}", operation_id = "putValue", tag = "values",
    summary = "Set a value (one commit)",
    params(("branch" = BranchName, Path), ("path" = PathName, Path),
        ("message" = Option<String>, Query, description = "The commit message"),
        ("author" = Option<canopy_wire::grammar::Identity>, Query, description = "The author"),
        ("If-Match" = Option<IfMatch>, Header), ("If-None-Match" = Option<CreateOnly>, Header)),
    request_body(content = Option<String>, content_type = "application/octet-stream", description = "The value's bytes (none: an empty value)"),
    responses((status = 200, description = "The commit made (the head, when nothing changed)", body = Written),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn put_value(
    State(state): State<AppState>,
    Writer(who): Writer,
    Params(p): Params<BranchPath>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
    value: ValueBody,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let name = p.branch.clone();
    // Not queued behind the server's other writes: the library chains concurrent commits
    // to one branch and publishes them together.
    let commit = blocking(move || {
        let path = value_path(&p.path)?;
        let branch = open_branch(&repo, &who, &p.branch, Access::Write)?;
        let opts = commit_options(&repo, &q, || format!("set {path}"))?;
        // Both headers' syntax before either is weighed: a malformed one is a 400 even
        // when the other would fail as a precondition.
        let create_only = create_only(&headers)?;
        let if_match = if_match(&repo, &headers)?;
        let change = match value {
            ValueBody::Bytes(bytes) => Change::Set(path.clone(), bytes),
            // A large value is stored as it is read from the spool file, never held whole.
            ValueBody::File(mut file, size) => {
                Change::SetStored(path.clone(), repo.write_value(size, &mut file)?)
            }
        };
        match (if_match, create_only) {
            (Some(expected), _) => commit_if_head(&branch, expected, vec![change], &opts),
            (None, true) => {
                let tx = branch
                    .transaction_on_head()
                    .expect(path.clone(), None)
                    .push(change);
                tx.commit_checked(&opts)?
                    .map_err(|_| ApiError::precondition_failed(format!("'{path}' already holds a value")))
            }
            (None, false) => Ok(branch.transaction_on_head().push(change).commit(&opts)?),
        }
    })
    .await?;
    state.notify(&name);
    Ok(ok_json(
        StatusCode::OK,
        Written {
            commit: commit.to_hex(),
        },
    ))
}

#[utoipa::path(delete, path = "/api/v1/branches/{branch}/values/{path}", operation_id = "deleteValue", tag = "values",
    summary = "Remove a value or a whole directory (one commit)",
    params(("branch" = BranchName, Path), ("path" = PathName, Path),
        ("message" = Option<String>, Query, description = "The commit message"),
        ("author" = Option<canopy_wire::grammar::Identity>, Query, description = "The author"),
        ("If-Match" = Option<IfMatch>, Header)),
    responses((status = 200, description = "The commit made", body = Written),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn delete_value(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchPath>,
    Query(q): Query<WriteQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let name = p.branch.clone();
    // Not queued behind the server's other writes: the library chains concurrent commits
    // to one branch and publishes them together.
    let commit = blocking(move || {
        let path = value_path(&p.path)?;
        let branch = open_branch(&repo, &who, &p.branch, Access::Write)?;
        let opts = commit_options(&repo, &q, || format!("remove {path}"))?;
        let if_match = if_match(&repo, &headers)?;
        let change = Change::Remove(path.clone());
        match if_match {
            Some(expected) => {
                // The head first: a commit the store does not hold cannot be read, and is not
                // the head either.
                let head = branch.head()?;
                if head != Some(expected) {
                    return Err(ApiError::precondition_failed(format!(
                        "branch '{}' is at {}, not {expected}",
                        branch.name(),
                        head.map_or_else(|| "no commit".to_string(), |h| h.to_hex())
                    )));
                }
                if !repo.view_at(expected)?.contains(&path)? {
                    return Err(ApiError::not_found(
                        "no_such_path",
                        format!("nothing at '{path}'"),
                    ));
                }
                commit_if_head(&branch, expected, vec![change], &opts)
            }
            None => {
                if !branch.contains(&path)? {
                    return Err(ApiError::not_found(
                        "no_such_path",
                        format!("nothing at '{path}'"),
                    ));
                }
                Ok(branch.transaction_on_head().push(change).commit(&opts)?)
            }
        }
    })
    .await?;
    state.notify(&name);
    Ok(ok_json(
        StatusCode::OK,
        Written {
            commit: commit.to_hex(),
        },
    ))
}

#[utoipa::path(get, path = "/api/v1/branches/{branch}/tree", operation_id = "listRoot", tag = "values",
    summary = "The root directory's entries",
    params(("branch" = BranchName, Path),
        ("at" = Option<Rev>, Query, description = "List at this REV instead of the branch head"),
        ("recursive" = Option<bool>, Query, description = "List every value below instead of the direct children")),
    responses((status = 200, description = "Entries", body = canopy_wire::api::Tree),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn tree_root(
    state: State<AppState>,
    who: Caller,
    Params(p): Params<BranchOnly>,
    q: Query<TreeQuery>,
) -> Result<Response, ApiError> {
    list_tree(state, who, p.branch, String::new(), q).await
}

#[utoipa::path(get, path = "/api/v1/branches/{branch}/tree/{path}", operation_id = "listTree", tag = "values",
    summary = "A directory's entries (children, or with recursive=true every value below)",
    params(("branch" = BranchName, Path), ("path" = PathName, Path),
        ("at" = Option<Rev>, Query, description = "List at this REV instead of the branch head"),
        ("recursive" = Option<bool>, Query, description = "List every value below instead of the direct children")),
    responses((status = 200, description = "Entries", body = canopy_wire::api::Tree),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn tree(
    state: State<AppState>,
    who: Caller,
    Params(p): Params<BranchPath>,
    q: Query<TreeQuery>,
) -> Result<Response, ApiError> {
    list_tree(state, who, p.branch, p.path, q).await
}

async fn list_tree(
    State(state): State<AppState>,
    Caller(who): Caller,
    branch: String,
    path: String,
    Query(q): Query<TreeQuery>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let body = blocking(move || {
        let path = Path::parse(&path)?;
        let view = read_view(&repo, &who, &branch, q.at.as_deref())?;
        let store = repo.objects();
        let mut entries = Vec::new();
        match view.find(&path)? {
            None if path.is_root() => {}
            None => {
                return Err(ApiError::not_found(
                    "no_such_path",
                    format!("nothing at '{path}'"),
                ))
            }
            Some(Entry::Tree(_)) if q.recursive => {
                let mut found = Vec::new();
                view.tree().walk(store, &path, &mut |p, e| {
                    found.push((p.clone(), e.clone()));
                    Ok(())
                })?;
                for (p, e) in found {
                    entries.push(TreeEntry::new(p.to_string(), last_step(&p), &e));
                }
            }
            Some(Entry::Tree(tree)) => {
                for (name, e) in tree.entries(store)?.iter() {
                    let full = path.join(name)?;
                    entries.push(TreeEntry::new(
                        full.to_string(),
                        String::from_utf8_lossy(name).into_owned(),
                        e,
                    ));
                }
            }
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_a_directory",
                    format!("'{path}' is a value, not a directory"),
                ))
            }
        }
        Ok(canopy_wire::api::Tree {
            commit: view.commit().map(|c| c.to_hex()),
            path: path.to_string(),
            entries,
        })
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

fn last_step(path: &Path) -> String {
    path.last_step()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_default()
}

/// The message (`?message=`, else a default) and author (`?author=Name <email>`) of a write.
fn commit_options(
    repo: &Repo,
    q: &WriteQuery,
    default: impl FnOnce() -> String,
) -> Result<CommitOptions, ApiError> {
    let mut opts = CommitOptions::message(q.message.clone().unwrap_or_else(default));
    if let Some(author) = &q.author {
        opts.author = Some(parse_author(repo, author)?);
    }
    Ok(opts)
}

/// `If-Match: "<commit>"`: the head the write must replace.
pub(crate) fn if_match(repo: &Repo, headers: &HeaderMap) -> Result<Option<ObjectId>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::bad_request("bad_precondition", "If-Match is not ASCII"))?;
    let tag = unquote(value);
    match ObjectId::from_hex(tag.as_bytes()) {
        // A well-formed id of the other hash kind names no commit here: the head is not it.
        Some(id) if id.hash_kind() != repo.hash_kind() => Err(ApiError::precondition_failed(format!(
            "If-Match: {tag} is not a commit of this store, whose ids are {} hex digits",
            repo.hash_kind().hex_len()
        ))),
        _ => Ok(Some(parse_id(repo, tag, "If-Match")?)),
    }
}

/// `If-None-Match: *` on a write: only create the value. Anything else there is a 400.
fn create_only(headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers.get(header::IF_NONE_MATCH) {
        None => Ok(false),
        Some(v) if v.as_bytes().trim_ascii() == b"*" => Ok(true),
        Some(_) => Err(ApiError::bad_request(
            "bad_precondition",
            "a write takes only If-None-Match: * (create only)",
        )),
    }
}

fn unquote(tag: &str) -> &str {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag)
}

/// Applies `changes` on top of `expected` and moves the branch there only if its head still
/// is `expected` (compare-and-swap, no retry, no merge): 412 if the branch has moved.
pub(crate) fn commit_if_head(
    branch: &Branch,
    expected: ObjectId,
    changes: Vec<Change>,
    opts: &CommitOptions,
) -> Result<ObjectId, ApiError> {
    let repo = branch.repo();
    let store = repo.objects();
    let moved = |head: Option<ObjectId>| {
        ApiError::precondition_failed(format!(
            "branch '{}' is at {}, not {expected}",
            branch.name(),
            head.map_or_else(|| "no commit".to_string(), |h| h.to_hex())
        ))
    };
    let head = branch.head()?;
    if head != Some(expected) {
        return Err(moved(head));
    }
    let old_tree = repo.commit_info(expected)?.commit.tree;
    let mut tree = Tree::from_id(old_tree);
    for change in changes {
        tree = match change {
            Change::Set(path, value) => {
                let id = store.write(ObjectKind::Blob, &value)?;
                tree.with(store, &path, Some(Entry::value(id)))?
            }
            Change::SetStored(path, id) => tree.with(store, &path, Some(Entry::value(id)))?,
            Change::Remove(path) => tree.with(store, &path, None)?,
            Change::SetTree(path, t) => tree.with(store, &path, Some(Entry::Tree(t)))?,
            Change::Expect(..) => tree,
        };
    }
    let tree_id = tree.write(store)?;
    if tree_id == old_tree {
        return Ok(expected);
    }
    let commit = repo.write_commit(tree_id, vec![expected], opts)?;
    store.flush()?;
    let log = RefLog {
        who: opts.author.clone().unwrap_or_else(|| repo.default_signature()),
        message: format!("commit: {}", opts.message.lines().next().unwrap_or("")),
    };
    if !repo
        .refs()
        .update(branch.ref_name(), Expected::Value(expected), Some(commit), &log)?
    {
        return Err(moved(branch.head()?));
    }
    Ok(commit)
}

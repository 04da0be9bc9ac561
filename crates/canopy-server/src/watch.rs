//! Live watches: `GET /api/v1/branches/{b}/watch[?path=P]` as server-sent events.
//!
//! Each commit that reaches the branch becomes one `change` event whose id is the commit hash
//! and whose data lists the paths it changed (below `path`, when given; commits that change
//! nothing there send no event). Events come in history order: when the branch moves by
//! several commits at once, its first-parent chain is walked from the last commit sent.
//! A client that reconnects with `Last-Event-ID: <commit>` gets exactly the commits after that
//! one. If that commit is no longer in the branch's first-parent history (the branch was
//! reset), or too far back, one `change` event with `"reset": true` carries the whole diff from
//! it to the head instead, so that nothing is missed either way.
//!
//! The first event is `ready`, with the head as its id unless the client resumed. A deleted
//! branch sends `deleted`. Comments keep idle connections alive. The caller's token is checked
//! again at every move: once it is revoked (or loses the right to read the branch) the stream
//! sends an `error` event and ends.
//!
//! Noticing a move: writes through this server wake the watchers at once ([`Hub::notify`]);
//! writes by other processes (`canopy`, `git push`) are noticed by the library's
//! [`canopy::store::Watch`] (file notifications, else polling), one per watched branch
//! whatever the number of watchers. Each stream then walks the history itself from the last
//! commit it sent, so a coalesced wake-up never loses a commit.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use canopy::store::{CommitInfo, WatchOptions};
use canopy::{Branch, ObjectId, Path, Repo};
use canopy_wire::api::{ChangeEvent, ErrorBody, ErrorDetail, WatchDeleted, WatchReady};
use canopy_wire::grammar::{BranchName, Hash, PathOrRoot};
use serde::Deserialize;
use tokio::sync::watch as channel;

use crate::api::{open_branch, Caller, Params, Query};
use crate::auth::{Access, Auth, Challenge};
use crate::error::{blocking, ApiError};
use crate::AppState;

/// The most commits sent one by one on a catch-up; further back, one `reset` event.
const MAX_WALK: usize = 10_000;

/// Wake-ups per watched branch.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    repo: Repo,
    interval: Duration,
    channels: Mutex<HashMap<String, channel::Sender<u64>>>,
}

impl Hub {
    pub(crate) fn new(repo: Repo, interval: Duration) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                repo,
                interval,
                channels: Mutex::default(),
            }),
        }
    }

    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, channel::Sender<u64>>> {
        self.inner.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the watchers of `branch` (they re-read its head).
    pub fn notify(&self, branch: &str) {
        if let Some(tx) = self.channels().get(branch) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// A wake-up receiver for `branch`; starts its poller if it is the first.
    fn subscribe(&self, branch: &str) -> channel::Receiver<u64> {
        let mut channels = self.channels();
        if let Some(tx) = channels.get(branch) {
            return tx.subscribe();
        }
        let (tx, rx) = channel::channel(0);
        channels.insert(branch.to_string(), tx.clone());
        let hub = self.clone();
        let name = branch.to_string();
        let started = std::thread::Builder::new()
            .name(format!("canopy-watch {branch}"))
            .spawn(move || hub.follow(name, tx));
        if let Err(e) = started {
            // The stream still works from this server's own writes (notify), just not others'.
            tracing::warn!(branch, "cannot start a watch thread: {e}");
        }
        rx
    }

    /// Follows `name` with the library's [`canopy::Branch::watch_with`] (file notifications,
    /// polling as a fallback) while anyone watches it, and wakes the watchers at each move.
    /// Runs on a thread of its own (not the blocking pool, which serves requests) and ends once
    /// nobody watches.
    fn follow(self, name: String, tx: channel::Sender<u64>) {
        let opts = WatchOptions {
            poll_interval: self.inner.interval,
            notify: true,
        };
        let mut watch = match self
            .inner
            .repo
            .branch(&name)
            .and_then(|b| b.watch_with(&Path::root(), &opts))
        {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(branch = name, "cannot watch: {e}; polling");
                None
            }
        };
        let mut last = None;
        loop {
            {
                let mut channels = self.channels();
                if tx.receiver_count() == 0 {
                    if channels.get(&name).is_some_and(|t| t.same_channel(&tx)) {
                        channels.remove(&name);
                    }
                    return;
                }
            }
            let moved = match &mut watch {
                Some(w) => matches!(w.next_timeout(Duration::from_millis(500)), Ok(Some(_))),
                None => {
                    std::thread::sleep(self.inner.interval);
                    let head = self
                        .inner
                        .repo
                        .branch(&name)
                        .and_then(|b| b.head())
                        .ok()
                        .flatten();
                    std::mem::replace(&mut last, head) != head
                }
            };
            if moved {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct BranchOnly {
    branch: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchQuery {
    path: Option<String>,
}

struct Stream {
    repo: Repo,
    branch: Branch,
    prefix: Path,
    last: Option<ObjectId>,
    pending: VecDeque<Event>,
    wake: channel::Receiver<u64>,
    check_now: bool,
    /// Set once the caller lost the right to read the branch: the stream ends.
    ended: bool,
    /// The policy and the caller's credentials, checked again at every move, so that a revoked
    /// token stops receiving events.
    auth: Auth,
    credentials: HeaderMap,
    _slot: Slot,
}

/// A watch stream's place among [`crate::Limits::max_watch_connections`]. When the last open
/// stream ends, the memory the streams freed is handed back to the system: the allocator keeps
/// freed memory for reuse otherwise, and a burst of streams would leave the server at its peak.
struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    slots: Arc<tokio::sync::Semaphore>,
    max: usize,
}

/// Streams catching up at once (each on a blocking thread).
static CATCH_UPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(8);

/// How long the runtime keeps an idle blocking thread (tokio's default): memory those threads
/// freed is handed back once they are gone too.
const IDLE_THREADS_LINGER: Duration = Duration::from_secs(11);

impl Drop for Slot {
    fn drop(&mut self) {
        // The permit is returned just after this: this is the last stream if it is the only
        // one taken.
        if self.slots.available_permits() + 1 == self.max {
            give_back_freed_memory();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async {
                    tokio::time::sleep(IDLE_THREADS_LINGER).await;
                    give_back_freed_memory();
                });
            }
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn give_back_freed_memory() {
    // SAFETY: malloc_trim only returns free pages of glibc's heaps to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_freed_memory() {}

/// `GET /api/v1/branches/{branch}/watch`.
#[utoipa::path(get, path = "/api/v1/branches/{branch}/watch", operation_id = "watch", tag = "watch",
    summary = "Server-sent events: one 'change' event per commit, id = commit hash",
    description = "Events: 'ready' first (a WatchReady; its id is the head unless resuming), then 'change' per commit (data: a ChangeEvent), 'deleted' (a WatchDeleted) if the branch goes away, 'error' (an ErrorBody) when the token loses its right. Reconnect with Last-Event-ID to get exactly the commits missed; if that commit left the branch's history, one 'change' with reset=true carries the whole diff.",
    params(("branch" = BranchName, Path),
        ("path" = Option<PathOrRoot>, Query, description = "Only commits that change something below this path"),
        ("Last-Event-ID" = Option<Hash>, Header, description = "The last commit received")),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn watch(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchOnly>,
    Query(q): Query<WatchQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let slot = state.watch_slots().clone().try_acquire_owned().map_err(|_| {
        ApiError::unavailable(
            "too_many_watches",
            format!(
                "{} watch streams are open already; retry later",
                state.limits().max_watch_connections
            ),
        )
    })?;
    let repo = state.repo().clone();
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(v) => {
            let v = v.to_str().unwrap_or("").trim();
            let id = ObjectId::from_hex(v.as_bytes())
                .filter(|id| id.hash_kind() == repo.hash_kind())
                .ok_or_else(|| {
                    ApiError::bad_request("bad_rev", format!("Last-Event-ID '{v}' is not a commit id"))
                })?;
            Some(id)
        }
    };
    let mut credentials = HeaderMap::new();
    if let Some(v) = headers.get(axum::http::header::AUTHORIZATION) {
        credentials.insert(axum::http::header::AUTHORIZATION, v.clone());
    }
    // Subscribe before reading the head, so that no move falls between the two.
    let wake = state.hub().subscribe(&p.branch);
    let name = p.branch.clone();
    let (branch, prefix, head) = blocking({
        let repo = repo.clone();
        move || {
            let branch = open_branch(&repo, &who, &name, Access::Read)?;
            let prefix = Path::parse(q.path.as_deref().unwrap_or(""))?;
            let head = branch.head()?;
            Ok((branch, prefix, head))
        }
    })
    .await?;
    let mut ready = Event::default().event("ready").data(to_json(&WatchReady {
        branch: branch.name().to_string(),
        head: head.map(|h| h.to_hex()),
    }));
    if resume.is_none() {
        if let Some(h) = head {
            ready = ready.id(h.to_hex());
        }
    }
    let stream = Stream {
        repo,
        branch,
        prefix,
        last: if resume.is_some() { resume } else { head },
        pending: VecDeque::from([ready]),
        wake,
        check_now: resume.is_some(),
        ended: false,
        auth: state.auth().clone(),
        credentials,
        _slot: Slot {
            _permit: slot,
            slots: state.watch_slots().clone(),
            max: state.limits().max_watch_connections,
        },
    };
    let events = futures_util::stream::unfold(stream, |mut s| async move {
        loop {
            if let Some(event) = s.pending.pop_front() {
                return Some((Ok::<Event, Infallible>(event), s));
            }
            if s.ended || (!s.check_now && s.wake.changed().await.is_err()) {
                return None;
            }
            s.check_now = false;
            let allowed = s
                .auth
                .authenticate(&s.credentials, Challenge::Bearer)
                .and_then(|who| who.require(s.branch.name(), Access::Read));
            if let Err(e) = allowed {
                s.pending
                    .push_back(Event::default().event("error").data(error_data(e)));
                s.ended = true;
                continue;
            }
            let (repo, branch, prefix, last) = (s.repo.clone(), s.branch.clone(), s.prefix.clone(), s.last);
            // A commit wakes every stream at once: a few catch up at a time, so that a
            // broadcast does not start a thread per stream.
            let _turn = CATCH_UPS.acquire().await;
            match blocking(move || catch_up(&repo, &branch, last, &prefix)).await {
                Ok((events, head)) => {
                    s.pending.extend(events);
                    s.last = head;
                }
                Err(e) => {
                    s.pending
                        .push_back(Event::default().event("error").data(error_data(e)));
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}

/// The events that take a client from `last` to the branch's head, and that head.
fn catch_up(
    repo: &Repo,
    branch: &Branch,
    last: Option<ObjectId>,
    prefix: &Path,
) -> Result<(Vec<Event>, Option<ObjectId>), ApiError> {
    let head = branch.head()?;
    if head == last {
        return Ok((Vec::new(), last));
    }
    let Some(head) = head else {
        let data = to_json(&WatchDeleted {
            branch: branch.name().to_string(),
        });
        return Ok((vec![Event::default().event("deleted").data(data)], None));
    };
    // The first-parent chain from the head back to `last` (or to the root).
    let mut chain: Vec<CommitInfo> = Vec::new();
    let mut cursor = Some(head);
    let mut found = false;
    while let Some(id) = cursor {
        if Some(id) == last {
            found = true;
            break;
        }
        if chain.len() >= MAX_WALK {
            break;
        }
        let info = repo.commit_info(id)?;
        cursor = info.commit.parents.first().copied();
        chain.push(info);
    }
    if last.is_none() && cursor.is_none() {
        found = true;
    }
    let mut events = Vec::new();
    if found {
        for info in chain.iter().rev() {
            let parent = info.commit.parents.first().copied();
            let changes = crate::api::history_changes(repo, parent, info.id, prefix)?;
            if !prefix.is_root() && changes.is_empty() {
                continue;
            }
            let data = to_json(&ChangeEvent {
                branch: branch.name().to_string(),
                commit: info.into(),
                changes,
                reset: false,
                from: None,
            });
            events.push(Event::default().event("change").id(info.id.to_hex()).data(data));
        }
    } else {
        // `last` is not behind the head on its first-parent chain: send the whole difference.
        let from = last.filter(|id| repo.commit_info(*id).is_ok());
        let data = to_json(&ChangeEvent {
            branch: branch.name().to_string(),
            commit: (&repo.commit_info(head)?).into(),
            changes: crate::api::history_changes(repo, from, head, prefix)?,
            reset: true,
            from: last.map(|l| l.to_hex()),
        });
        events.push(Event::default().event("change").id(head.to_hex()).data(data));
    }
    Ok((events, Some(head)))
}

/// An event's data.
fn to_json<T: serde::Serialize>(data: &T) -> String {
    serde_json::to_string(data).unwrap_or_default()
}

/// The data of an `error` event: an [`ErrorBody`].
fn error_data(e: ApiError) -> String {
    to_json(&ErrorBody {
        error: ErrorDetail {
            code: e.code.to_string(),
            message: e.message,
        },
        conflicts: Vec::new(),
    })
}

//! Live watches: the server-sent events of `GET /branches/{b}/watch` as a blocking iterator.

use std::io::{BufRead, BufReader, Read};

use crate::error::{Error, Result};

/// Options of [`Client::watch`](crate::Client::watch).
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Only commits that change something at or below this path.
    pub path: Option<String>,
    /// Resume after this commit (`Last-Event-ID`): the stream starts with exactly the commits
    /// made since, without gaps. Take it from [`Watch::last_event_id`] of the stream that ended.
    pub last_event_id: Option<String>,
}

/// A commit that reached the watched branch.
pub use canopy_wire::api::ChangeEvent;

/// One event of a [`Watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The first event: the stream is live; `head` is the branch head now.
    Ready { branch: String, head: Option<String> },
    /// One commit, in history order; its id is the event id.
    Change(Box<ChangeEvent>),
    /// The branch was deleted.
    Deleted { branch: String },
}

/// A live watch on a branch: an iterator of events that blocks until the next one comes.
/// It ends (`None`) when the server closes the stream; an `error` event from the server (the
/// token was revoked, say) comes as an `Err` and the stream ends after it.
///
/// Reconnect after a broken connection with [`WatchOptions::last_event_id`] set to
/// [`Watch::last_event_id`] to get exactly the commits missed.
pub struct Watch {
    reader: BufReader<Box<dyn Read + Send>>,
    url: String,
    last_event_id: Option<String>,
    done: bool,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("url", &self.url)
            .field("last_event_id", &self.last_event_id)
            .finish()
    }
}

impl Watch {
    pub(crate) fn new(reader: Box<dyn Read + Send>, url: String, resume: Option<String>) -> Watch {
        Watch {
            reader: BufReader::new(reader),
            url,
            last_event_id: resume,
            done: false,
        }
    }

    /// The id of the last event received (a commit hash): where a new watch should resume.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    fn invalid(&self, message: String) -> Error {
        Error::InvalidResponse {
            url: self.url.clone(),
            message,
        }
    }

    /// Reads one raw event: (event name, id, data). `None` at the end of the stream.
    fn read_event(&mut self) -> Result<Option<(String, Option<String>, String)>> {
        let mut name = String::new();
        let mut id = None;
        let mut data: Option<String> = None;
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.reader.read_line(&mut line).map_err(|e| Error::Transport {
                url: self.url.clone(),
                message: e.to_string(),
            })?;
            if n == 0 {
                return Ok(None);
            }
            let l = line.trim_end_matches(['\n', '\r']);
            if l.is_empty() {
                if data.is_none() && name.is_empty() {
                    continue; // nothing but comments so far
                }
                let name = if name.is_empty() {
                    "message".to_string()
                } else {
                    name
                };
                return Ok(Some((name, id, data.unwrap_or_default())));
            }
            if l.starts_with(':') {
                continue; // keep-alive comment
            }
            let (field, value) = match l.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (l, ""),
            };
            match field {
                "event" => name = value.to_string(),
                "id" => id = Some(value.to_string()),
                "data" => match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_string()),
                },
                _ => {}
            }
        }
    }

    fn next_event(&mut self) -> Result<Option<WatchEvent>> {
        loop {
            let Some((name, id, data)) = self.read_event()? else {
                return Ok(None);
            };
            if let Some(id) = id.filter(|i| !i.is_empty()) {
                self.last_event_id = Some(id);
            }
            let json = |s: &Self| {
                serde_json::from_str::<serde_json::Value>(&data)
                    .map_err(|e| s.invalid(format!("{name} event: {e}")))
            };
            match name.as_str() {
                "ready" => {
                    let r: canopy_wire::api::WatchReady = serde_json::from_value(json(self)?)
                        .map_err(|e| self.invalid(format!("ready event: {e}")))?;
                    return Ok(Some(WatchEvent::Ready {
                        branch: r.branch,
                        head: r.head,
                    }));
                }
                "change" => {
                    let c: ChangeEvent = serde_json::from_value(json(self)?)
                        .map_err(|e| self.invalid(format!("change event: {e}")))?;
                    return Ok(Some(WatchEvent::Change(Box::new(c))));
                }
                "deleted" => {
                    let v = json(self)?;
                    let branch = v["branch"].as_str().unwrap_or_default().to_string();
                    return Ok(Some(WatchEvent::Deleted { branch }));
                }
                "error" => {
                    let v = json(self)?;
                    let code = v["error"]["code"].as_str().unwrap_or("internal");
                    let status = match code {
                        "unauthorized" => 401,
                        "forbidden" => 403,
                        _ => 500,
                    };
                    let body = serde_json::to_vec(&v).unwrap_or_default();
                    return Err(Error::from_answer(status, &body));
                }
                _ => continue, // an event kind this client does not know: skip it
            }
        }
    }
}

impl Iterator for Watch {
    type Item = Result<WatchEvent>;

    fn next(&mut self) -> Option<Result<WatchEvent>> {
        if self.done {
            return None;
        }
        match self.next_event() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

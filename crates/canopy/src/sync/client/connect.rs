//! Git's protocol over a connection (`ssh`, `git://`), behind the two-call [`Transport`].
//!
//! Over a connection the server speaks first: the v0 advertisement of references, or the v2
//! capability advertisement when the client asked for version 2 (`GIT_PROTOCOL=version=2` over
//! ssh, the `version=2` extra parameter of `git://`). Each [`Transport`] call opens a connection
//! of its own, which fits the protocol: v2 commands are independent of each other (every fetch
//! round resends its wants and common haves, as over HTTP) and a push is one request.
//!
//! - `info_refs`: read the advertisement up to its flush, then end the conversation cleanly
//!   (a flush, which both v0 services and the v2 command loop take as "nothing more", then
//!   end of input).
//! - `post`: read and drop the advertisement, write the request from a thread (so that a server
//!   writing progress while it reads cannot deadlock with us), close our side, and hand back the
//!   response up to end of input. At the end the program's exit status is checked: a failure
//!   becomes an error carrying what it printed on stderr.
//!
//! A connection that ends before its advertisement (ssh refused, repository not found, daemon
//! not exporting it) is an [`Error::Transport`] naming the URL, with the server's words.

use std::io::{self, Read, Write};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Service, Transport};
use crate::sync::{Error, Result};

/// Largest advertisement accepted (refs of a very large repository fit).
const MAX_ADVERTISEMENT: usize = 256 << 20;
/// Bytes of a program's stderr kept for error messages (the end is kept).
const MAX_STDERR: usize = 64 << 10;
/// How long a finished conversation's program may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(10);

/// One open conversation with a server.
pub(crate) struct Conn {
    pub reader: Box<dyn Read + Send>,
    /// Dropping it ends our side (closes a pipe, shuts down a socket's write half).
    pub writer: Box<dyn Write + Send>,
    /// The program carrying the conversation (`ssh`), if any.
    pub process: Option<Process>,
}

/// Something that opens conversations with one remote repository.
pub(crate) trait Connector: Send {
    fn url(&self) -> &str;
    fn connect(&mut self, service: Service, v2: bool) -> Result<Conn>;
    /// The server answered a request for v2 in v0: whether another way of asking is worth a
    /// try (it is then used for every later connection).
    fn ask_v2_otherwise(&mut self) -> bool {
        false
    }
}

/// A child program with its stderr collected in the background.
pub(crate) struct Process {
    child: Child,
    what: String,
    stderr: Arc<Mutex<Vec<u8>>>,
    collector: Option<JoinHandle<()>>,
    finished: bool,
}

impl Process {
    /// Takes over `child`, collecting its piped stderr; `what` names it in messages.
    pub fn new(mut child: Child, what: String) -> Process {
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let collector = child.stderr.take().map(|mut pipe| {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = sink.lock() {
                        s.extend_from_slice(&buf[..n]);
                        if s.len() > MAX_STDERR {
                            let cut = s.len() - MAX_STDERR;
                            s.drain(..cut);
                        }
                    }
                }
            })
        });
        Process {
            child,
            what,
            stderr,
            collector,
            finished: false,
        }
    }

    /// What the program printed on stderr, on one line (lines joined by `; `).
    fn stderr_text(&mut self) -> String {
        if let Some(c) = self.collector.take() {
            let _ = c.join();
        }
        let bytes = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Waits for the program to exit (killing it after a grace period); a failure becomes a
    /// message with its stderr.
    fn finish(&mut self) -> std::result::Result<(), String> {
        self.finished = true;
        let deadline = Instant::now() + EXIT_GRACE;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!("{} did not exit; killed", self.what));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => return Err(format!("waiting for {}: {e}", self.what)),
            }
        };
        let text = self.stderr_text();
        if status.success() {
            return Ok(());
        }
        let how = match status.code() {
            Some(c) => format!("{} exited with code {c}", self.what),
            None => format!("{} was killed by a signal", self.what),
        };
        Err(if text.is_empty() {
            how
        } else {
            format!("{how}: {text}")
        })
    }

    /// Kills the program at once (the conversation went wrong on our side).
    fn abort(&mut self) -> String {
        self.finished = true;
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr_text()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if !self.finished {
            // The reader was dropped early (e.g. after the fetch response's flush): the server
            // sees the end of its input and exits by itself; never leave a zombie or a hang.
            let _ = self.finish();
        }
    }
}

const V0_ONLY: &str = "the server answered in protocol v0, not v2";

/// A [`Transport`] opening one connection per call.
pub struct ConnectTransport {
    connector: Box<dyn Connector>,
}

impl ConnectTransport {
    pub(crate) fn new(connector: Box<dyn Connector>) -> ConnectTransport {
        ConnectTransport { connector }
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Transport {
            url: self.connector.url().to_string(),
            message: message.into(),
        }
    }

    /// The error for a conversation that ended too early: the program's own words first.
    fn hung_up(&self, conn: &mut Conn, what: &str) -> Error {
        if let Some(p) = conn.process.as_mut() {
            return match p.finish() {
                Err(m) => self.err(m),
                Ok(()) => {
                    let text = p.stderr_text();
                    if text.is_empty() {
                        self.err(what.to_string())
                    } else {
                        self.err(format!("{what}: {text}"))
                    }
                }
            };
        }
        self.err(what.to_string())
    }

    /// Reads the advertisement up to and including its flush.
    fn read_advertisement(&self, conn: &mut Conn, v2: bool) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let mut head = [0u8; 4];
            if let Err(e) = conn.reader.read_exact(&mut head) {
                let what = if e.kind() == io::ErrorKind::UnexpectedEof {
                    "the remote end hung up before its advertisement (no such repository, or no access?)"
                        .to_string()
                } else {
                    format!("reading the advertisement: {e}")
                };
                return Err(self.hung_up(conn, &what));
            }
            let len = std::str::from_utf8(&head)
                .ok()
                .and_then(|h| usize::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    self.err(format!(
                        "not a Git server (it sent {:?})",
                        String::from_utf8_lossy(&head)
                    ))
                })?;
            out.extend_from_slice(&head);
            if len == 0 {
                return Ok(out);
            }
            if len < 4 || out.len() + len > MAX_ADVERTISEMENT {
                return Err(self.err(format!("bad pkt-line length {len} in the advertisement")));
            }
            let start = out.len();
            out.resize(start + len - 4, 0);
            if let Err(e) = conn.reader.read_exact(&mut out[start..]) {
                return Err(self.hung_up(conn, &format!("reading the advertisement: {e}")));
            }
            let payload = &out[start..];
            if let Some(m) = payload.strip_prefix(b"ERR ") {
                let m = String::from_utf8_lossy(m).trim().to_string();
                if let Some(p) = conn.process.as_mut() {
                    let _ = p.finish();
                }
                return Err(Error::Remote(m));
            }
            if start == 4 && v2 && !payload.starts_with(b"version 2") {
                return Err(Error::Unsupported(V0_ONLY.into()));
            }
        }
    }
}

impl Transport for ConnectTransport {
    fn url(&self) -> &str {
        self.connector.url()
    }

    fn info_refs(&mut self, service: Service, v2: bool) -> Result<Vec<u8>> {
        let mut conn = self.connector.connect(service, v2)?;
        let ad = match self.read_advertisement(&mut conn, v2) {
            Err(Error::Unsupported(m)) if m == V0_ONLY => {
                drop(conn);
                if !self.connector.ask_v2_otherwise() {
                    return Err(
                        self.err("the server answered in protocol v0, not v2; Canopy fetches with v2 only")
                    );
                }
                conn = self.connector.connect(service, v2)?;
                self.read_advertisement(&mut conn, v2).map_err(|e| match e {
                    Error::Unsupported(m) if m == V0_ONLY => self.err(
                        "the server answered in protocol v0, not v2; Canopy fetches with v2 only \
                         (over ssh, the server's sshd must accept GIT_PROTOCOL: AcceptEnv GIT_PROTOCOL)",
                    ),
                    e => e,
                })?
            }
            r => r?,
        };
        // A flush ends both a v0 conversation (no wants, no commands) and the v2 command loop.
        let _ = conn.writer.write_all(b"0000");
        let _ = conn.writer.flush();
        drop(conn.writer);
        let mut rest = Vec::new();
        let _ = conn.reader.take(1 << 20).read_to_end(&mut rest);
        if let Some(mut p) = conn.process {
            p.finish().map_err(|m| self.err(m))?;
        }
        Ok(ad)
    }

    fn post(&mut self, service: Service, v2: bool, body: Vec<u8>) -> Result<Box<dyn Read + Send>> {
        let mut conn = self.connector.connect(service, v2)?;
        self.read_advertisement(&mut conn, v2)?;
        let mut writer = conn.writer;
        let feeder = std::thread::spawn(move || {
            let r = writer.write_all(&body).and_then(|()| writer.flush());
            drop(writer);
            r
        });
        Ok(Box::new(Response {
            url: self.connector.url().to_string(),
            reader: conn.reader,
            feeder: Some(feeder),
            process: conn.process,
            done: false,
        }))
    }
}

/// The server's response, up to the end of the conversation.
struct Response {
    url: String,
    reader: Box<dyn Read + Send>,
    feeder: Option<JoinHandle<io::Result<()>>>,
    process: Option<Process>,
    done: bool,
}

impl Response {
    fn fail(&self, message: String) -> io::Error {
        io::Error::other(Error::Transport {
            url: self.url.clone(),
            message,
        })
    }

    /// At the end of the response: the request must have been written whole and the program
    /// must have succeeded.
    fn finish(&mut self) -> io::Result<()> {
        self.done = true;
        let fed = self.feeder.take().map(|f| f.join());
        if let Some(p) = self.process.as_mut() {
            p.finish().map_err(|m| self.fail(m))?;
        }
        match fed {
            Some(Ok(Err(e))) => Err(self.fail(format!("sending the request: {e}"))),
            Some(Err(_)) => Err(self.fail("sending the request failed".into())),
            _ => Ok(()),
        }
    }
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.reader.read(buf) {
            Ok(0) if !buf.is_empty() && !self.done => {
                self.finish()?;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                self.done = true;
                let text = self.process.as_mut().map(Process::abort).unwrap_or_default();
                if text.is_empty() {
                    Err(e)
                } else {
                    Err(self.fail(format!("{e}: {text}")))
                }
            }
        }
    }
}

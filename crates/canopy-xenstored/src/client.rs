//! A small blocking client of the wire protocol, for tests, the stress demo and scripts.
//! Watch events that arrive while waiting for a reply are kept for [`Client::next_event`].

use std::collections::VecDeque;
use std::io::{self, BufReader};
use std::os::unix::net::UnixStream;
use std::path::Path as FsPath;
use std::time::Duration;

use crate::wire::{self, op, Errno, Frame, Message};

/// A request failed: the connection, or the daemon's answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("daemon answered {0}")]
    Xs(Errno),
    #[error("daemon answered with an unknown error '{0}'")]
    Unknown(String),
}

impl Error {
    /// The errno the daemon answered, if that is what this is.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Xs(e) => Some(*e),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A connection to a daemon.
pub struct Client {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    next_req: u32,
    events: VecDeque<(String, String)>,
}

fn nul(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(p);
        out.push(0);
    }
    out
}

impl Client {
    pub fn connect(socket: impl AsRef<FsPath>) -> io::Result<Client> {
        let writer = UnixStream::connect(socket)?;
        let reader = BufReader::new(writer.try_clone()?);
        Ok(Client {
            writer,
            reader,
            next_req: 1,
            events: VecDeque::new(),
        })
    }

    /// Sends bytes as they are (for malformed input in tests).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        self.writer.write_all(bytes)
    }

    /// Reads the next message that is not a watch event (events are queued).
    pub fn read_reply(&mut self) -> io::Result<Message> {
        loop {
            match wire::read_frame(&mut self.reader)? {
                Frame::Message(m) if m.ty == op::WATCH_EVENT => self.queue_event(&m),
                Frame::Message(m) => return Ok(m),
                Frame::Oversize { len, .. } => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("daemon sent an oversize payload ({len} bytes)"),
                    ))
                }
                Frame::Closed => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "daemon closed the connection",
                    ))
                }
            }
        }
    }

    fn queue_event(&mut self, m: &Message) {
        let parts = m.strings();
        let text = |i: usize| {
            parts
                .get(i)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_default()
        };
        self.events.push_back((text(0), text(1)));
    }

    /// Sends a request and waits for its answer.
    pub fn request(&mut self, ty: u32, tx: u32, payload: Vec<u8>) -> Result<Vec<u8>> {
        let req_id = self.next_req;
        self.next_req = self.next_req.wrapping_add(1);
        Message::new(ty, req_id, tx, payload).write_to(&mut self.writer)?;
        let reply = self.read_reply()?;
        if reply.ty == op::ERROR {
            let name = String::from_utf8_lossy(reply.payload.strip_suffix(b"\0").unwrap_or(&reply.payload))
                .into_owned();
            return Err(Errno::from_name(&name).map_or(Error::Unknown(name), Error::Xs));
        }
        if reply.req_id != req_id || reply.ty != ty {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "answer to request {} type {} while waiting for {req_id}",
                    reply.req_id, reply.ty
                ),
            )));
        }
        Ok(reply.payload)
    }

    pub fn read(&mut self, tx: u32, path: &str) -> Result<Vec<u8>> {
        self.request(op::READ, tx, nul(&[path.as_bytes()]))
    }

    pub fn write(&mut self, tx: u32, path: &str, value: &[u8]) -> Result<()> {
        let mut payload = nul(&[path.as_bytes()]);
        payload.extend_from_slice(value);
        self.request(op::WRITE, tx, payload).map(|_| ())
    }

    pub fn mkdir(&mut self, tx: u32, path: &str) -> Result<()> {
        self.request(op::MKDIR, tx, nul(&[path.as_bytes()])).map(|_| ())
    }

    pub fn rm(&mut self, tx: u32, path: &str) -> Result<()> {
        self.request(op::RM, tx, nul(&[path.as_bytes()])).map(|_| ())
    }

    pub fn directory(&mut self, tx: u32, path: &str) -> Result<Vec<String>> {
        let payload = self.request(op::DIRECTORY, tx, nul(&[path.as_bytes()]))?;
        Ok(wire::split_strings(&payload)
            .into_iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect())
    }

    pub fn get_perms(&mut self, tx: u32, path: &str) -> Result<Vec<String>> {
        let payload = self.request(op::GET_PERMS, tx, nul(&[path.as_bytes()]))?;
        Ok(wire::split_strings(&payload)
            .into_iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect())
    }

    pub fn set_perms(&mut self, tx: u32, path: &str, perms: &[&str]) -> Result<()> {
        let mut parts = vec![path.as_bytes()];
        parts.extend(perms.iter().map(|p| p.as_bytes()));
        self.request(op::SET_PERMS, tx, nul(&parts)).map(|_| ())
    }

    pub fn watch(&mut self, path: &str, token: &str) -> Result<()> {
        self.request(op::WATCH, 0, nul(&[path.as_bytes(), token.as_bytes()]))
            .map(|_| ())
    }

    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<()> {
        self.request(op::UNWATCH, 0, nul(&[path.as_bytes(), token.as_bytes()]))
            .map(|_| ())
    }

    /// Starts a transaction; its id.
    pub fn transaction_start(&mut self) -> Result<u32> {
        let payload = self.request(op::TRANSACTION_START, 0, vec![0])?;
        let text = String::from_utf8_lossy(payload.strip_suffix(b"\0").unwrap_or(&payload)).into_owned();
        text.parse().map_err(|_| {
            Error::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("transaction id '{text}'"),
            ))
        })
    }

    /// Ends a transaction, committing it or not; `Err(Xs(Again))` means: start again.
    pub fn transaction_end(&mut self, tx: u32, commit: bool) -> Result<()> {
        let arg: &[u8] = if commit { b"T" } else { b"F" };
        self.request(op::TRANSACTION_END, tx, nul(&[arg])).map(|_| ())
    }

    /// From now on this connection acts as domain `domid`, unprivileged.
    pub fn restrict(&mut self, domid: u32) -> Result<()> {
        self.request(op::RESTRICT, 0, nul(&[domid.to_string().as_bytes()]))
            .map(|_| ())
    }

    /// The next watch event `(path, token)`, waiting up to `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<(String, String)>> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        self.reader.get_ref().set_read_timeout(Some(timeout))?;
        let got = wire::read_frame(&mut self.reader);
        self.reader.get_ref().set_read_timeout(None)?;
        match got {
            Ok(Frame::Message(m)) if m.ty == op::WATCH_EVENT => {
                self.queue_event(&m);
                Ok(self.events.pop_front())
            }
            Ok(Frame::Message(m)) => Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected message type {} while waiting for an event", m.ty),
            ))),
            Ok(_) => Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ))),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

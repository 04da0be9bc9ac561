//! `git://` remotes: `git daemon` over TCP (`man git-daemon`, `man gitprotocol-pack`).
//!
//! The client connects to port 9418 (or the URL's) and sends one pkt-line naming the service
//! and the repository, `git-upload-pack /path\0host=HOST[:PORT]\0`, plus the extra parameter
//! `\0version=2\0` to ask for protocol v2; then the conversation is the same as over ssh. The
//! protocol has no authentication; daemons usually serve fetches only (`--enable=receive-pack`
//! turns pushes on). A daemon that does not serve the path closes the connection, or sends
//! `ERR …` with `--informative-errors`.

use std::io::Write;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::connect::{Conn, Connector};
use super::Service;
use crate::sync::{Error, Result};

/// How long to wait for the daemon to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A repository served by `git daemon`.
pub(crate) struct DaemonConnector {
    url: String,
    host: String,
    port: Option<u16>,
    path: String,
}

impl DaemonConnector {
    pub fn new(url: &str, host: String, port: Option<u16>, path: String) -> DaemonConnector {
        DaemonConnector {
            url: url.to_string(),
            host,
            port,
            path,
        }
    }

    fn err(&self, message: String) -> Error {
        Error::Transport {
            url: self.url.clone(),
            message,
        }
    }

    /// The first pkt-line of a conversation.
    fn request(&self, service: Service, v2: bool) -> Vec<u8> {
        let host = match self.port {
            Some(p) if self.host.contains(':') => format!("[{}]:{p}", self.host),
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        };
        let mut payload = format!("{} {}\0host={host}\0", service.name(), self.path).into_bytes();
        if v2 {
            payload.extend_from_slice(b"\0version=2\0");
        }
        let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
        out.extend_from_slice(&payload);
        out
    }
}

/// The write half of a socket: dropping it shuts the write direction down, so that the daemon
/// sees the end of our request.
struct WriteHalf(TcpStream);

impl Write for WriteHalf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Drop for WriteHalf {
    fn drop(&mut self) {
        let _ = self.0.shutdown(Shutdown::Write);
    }
}

impl Connector for DaemonConnector {
    fn url(&self) -> &str {
        &self.url
    }

    fn connect(&mut self, service: Service, v2: bool) -> Result<Conn> {
        let port = self.port.unwrap_or(9418);
        let addrs = (self.host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| self.err(format!("cannot resolve '{}': {e}", self.host)))?;
        let mut last = None;
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(mut stream) = stream else {
            let why = last.map_or_else(|| "no address".to_string(), |e| e.to_string());
            return Err(self.err(format!("cannot connect to {}:{port}: {why}", self.host)));
        };
        stream
            .write_all(&self.request(service, v2))
            .map_err(|e| self.err(format!("sending the request: {e}")))?;
        let reader = stream.try_clone().map_err(|e| self.err(format!("socket: {e}")))?;
        Ok(Conn {
            reader: Box::new(reader),
            writer: Box::new(WriteHalf(stream)),
            process: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_is_gits() {
        let d = DaemonConnector::new("git://h:9000/r", "h".into(), Some(9000), "/r".into());
        assert_eq!(
            d.request(Service::UploadPack, true),
            b"002egit-upload-pack /r\0host=h:9000\0\0version=2\0"
        );
        let d = DaemonConnector::new("git://h/r", "h".into(), None, "/r".into());
        assert_eq!(
            d.request(Service::ReceivePack, false),
            b"001fgit-receive-pack /r\0host=h\0"
        );
    }
}

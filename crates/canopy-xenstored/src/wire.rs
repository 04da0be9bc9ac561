//! The xenstore wire protocol (`xen/include/public/io/xs_wire.h`): a header of four
//! little-endian `u32` (type, request id, transaction id, payload length) and a payload of at
//! most [`PAYLOAD_MAX`] bytes, usually NUL-terminated strings.
//!
//! Reading never trusts the length: a payload over the limit is skipped without being stored,
//! and reported as [`Frame::Oversize`] so that the connection can answer `E2BIG` and go on.

use std::io::{self, Read, Write};

/// Largest payload a message may carry (`XENSTORE_PAYLOAD_MAX`).
pub const PAYLOAD_MAX: usize = 4096;
/// Longest absolute path (`XENSTORE_ABS_PATH_MAX`).
pub const ABS_PATH_MAX: usize = 3072;
/// Longest relative path (`XENSTORE_REL_PATH_MAX`).
pub const REL_PATH_MAX: usize = 2048;

/// Message types, numbered as in `enum xsd_sockmsg_type`.
pub mod op {
    pub const CONTROL: u32 = 0;
    pub const DIRECTORY: u32 = 1;
    pub const READ: u32 = 2;
    pub const GET_PERMS: u32 = 3;
    pub const WATCH: u32 = 4;
    pub const UNWATCH: u32 = 5;
    pub const TRANSACTION_START: u32 = 6;
    pub const TRANSACTION_END: u32 = 7;
    pub const INTRODUCE: u32 = 8;
    pub const RELEASE: u32 = 9;
    pub const GET_DOMAIN_PATH: u32 = 10;
    pub const WRITE: u32 = 11;
    pub const MKDIR: u32 = 12;
    pub const RM: u32 = 13;
    pub const SET_PERMS: u32 = 14;
    pub const WATCH_EVENT: u32 = 15;
    pub const ERROR: u32 = 16;
    pub const IS_DOMAIN_INTRODUCED: u32 = 17;
    pub const RESUME: u32 = 18;
    pub const SET_TARGET: u32 = 19;
    pub const RESET_WATCHES: u32 = 21;
    pub const DIRECTORY_PART: u32 = 22;
    /// Restricts a connection to a domain's rights for good (cxenstored's former
    /// `XS_RESTRICT`; `pyxs` still numbers it 128).
    pub const RESTRICT: u32 = 128;

    /// The name xenstored's logs use, for commit messages and traces.
    pub fn name(ty: u32) -> &'static str {
        match ty {
            CONTROL => "control",
            DIRECTORY => "directory",
            READ => "read",
            GET_PERMS => "get_perms",
            WATCH => "watch",
            UNWATCH => "unwatch",
            TRANSACTION_START => "transaction_start",
            TRANSACTION_END => "transaction_end",
            INTRODUCE => "introduce",
            RELEASE => "release",
            GET_DOMAIN_PATH => "get_domain_path",
            WRITE => "write",
            MKDIR => "mkdir",
            RM => "rm",
            SET_PERMS => "set_perms",
            WATCH_EVENT => "watch_event",
            ERROR => "error",
            IS_DOMAIN_INTRODUCED => "is_domain_introduced",
            RESUME => "resume",
            SET_TARGET => "set_target",
            RESET_WATCHES => "reset_watches",
            DIRECTORY_PART => "directory_part",
            RESTRICT => "restrict",
            _ => "unknown",
        }
    }
}

/// The errors a request can fail with; on the wire, an `XS_ERROR` message whose payload is the
/// name followed by NUL (`xsd_errors`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Errno {
    #[error("EINVAL")]
    Inval,
    #[error("EACCES")]
    Acces,
    #[error("EEXIST")]
    Exist,
    #[error("EISDIR")]
    IsDir,
    #[error("ENOENT")]
    NoEnt,
    #[error("ENOMEM")]
    NoMem,
    #[error("ENOSPC")]
    NoSpc,
    #[error("EIO")]
    Io,
    #[error("ENOTEMPTY")]
    NotEmpty,
    #[error("ENOSYS")]
    NoSys,
    #[error("EROFS")]
    RoFs,
    #[error("EBUSY")]
    Busy,
    #[error("EAGAIN")]
    Again,
    #[error("EISCONN")]
    IsConn,
    #[error("E2BIG")]
    TooBig,
    #[error("EPERM")]
    Perm,
}

impl Errno {
    /// The name as sent on the wire (`"ENOENT"`).
    pub fn name(self) -> String {
        self.to_string()
    }

    /// The errno a name stands for (what a client reads back).
    pub fn from_name(name: &str) -> Option<Errno> {
        use Errno::*;
        [
            Inval, Acces, Exist, IsDir, NoEnt, NoMem, NoSpc, Io, NotEmpty, NoSys, RoFs, Busy, Again, IsConn,
            TooBig, Perm,
        ]
        .into_iter()
        .find(|e| e.name() == name)
    }
}

/// One message, either direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub ty: u32,
    pub req_id: u32,
    pub tx_id: u32,
    pub payload: Vec<u8>,
}

/// What [`read_frame`] found.
#[derive(Debug)]
pub enum Frame {
    Message(Message),
    /// A header announcing more than [`PAYLOAD_MAX`] bytes; the payload was read and dropped.
    Oversize {
        ty: u32,
        req_id: u32,
        tx_id: u32,
        len: u32,
    },
    /// The peer closed the stream between messages.
    Closed,
}

impl Message {
    pub fn new(ty: u32, req_id: u32, tx_id: u32, payload: impl Into<Vec<u8>>) -> Message {
        Message {
            ty,
            req_id,
            tx_id,
            payload: payload.into(),
        }
    }

    /// An `XS_ERROR` answer to a request.
    pub fn error(req_id: u32, tx_id: u32, errno: Errno) -> Message {
        let mut payload = errno.name().into_bytes();
        payload.push(0);
        Message::new(op::ERROR, req_id, tx_id, payload)
    }

    /// The header and payload as one buffer (written in one call, so messages never interleave).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.payload.len());
        for field in [self.ty, self.req_id, self.tx_id, self.payload.len() as u32] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        out.extend_from_slice(&self.payload);
        out
    }

    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.encode())?;
        w.flush()
    }

    /// The payload's NUL-separated strings (a final NUL ends the last one, it does not start
    /// an empty one).
    pub fn strings(&self) -> Vec<&[u8]> {
        split_strings(&self.payload)
    }
}

/// Splits a payload at NULs; one trailing NUL terminates rather than separates.
pub fn split_strings(payload: &[u8]) -> Vec<&[u8]> {
    let body = payload.strip_suffix(b"\0").unwrap_or(payload);
    if body.is_empty() && payload.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == 0).collect()
}

/// Reads one message. `Err` is an I/O failure or a stream cut inside a message.
pub fn read_frame(r: &mut impl Read) -> io::Result<Frame> {
    let mut header = [0u8; 16];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(Frame::Closed),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("stream ended {got} bytes into a 16-byte header"),
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let field = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let (ty, req_id, tx_id, len) = (field(0), field(4), field(8), field(12));
    if len as usize > PAYLOAD_MAX {
        let skipped = io::copy(&mut r.take(u64::from(len)), &mut io::sink())?;
        if skipped < u64::from(len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("stream ended inside an oversize payload ({skipped} of {len} bytes)"),
            ));
        }
        return Ok(Frame::Oversize {
            ty,
            req_id,
            tx_id,
            len,
        });
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload)?;
    Ok(Frame::Message(Message {
        ty,
        req_id,
        tx_id,
        payload,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_survives_the_round_trip() {
        let m = Message::new(op::WRITE, 7, 3, b"/a\0value".to_vec());
        let bytes = m.encode();
        assert_eq!(&bytes[..4], &11u32.to_le_bytes());
        match read_frame(&mut &bytes[..]).unwrap() {
            Frame::Message(back) => assert_eq!(back, m),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_oversize_payload_is_skipped_and_the_next_message_read() {
        let mut bytes = Vec::new();
        for f in [op::WRITE, 1, 0, 5000] {
            bytes.extend_from_slice(&u32::to_le_bytes(f));
        }
        bytes.extend(std::iter::repeat_n(b'x', 5000));
        bytes.extend(Message::new(op::READ, 2, 0, b"/a\0".to_vec()).encode());
        let mut r = &bytes[..];
        assert!(matches!(
            read_frame(&mut r).unwrap(),
            Frame::Oversize { len: 5000, .. }
        ));
        assert!(matches!(read_frame(&mut r).unwrap(), Frame::Message(m) if m.req_id == 2));
        assert!(matches!(read_frame(&mut r).unwrap(), Frame::Closed));
    }

    #[test]
    fn a_cut_header_is_an_error_not_a_close() {
        assert!(read_frame(&mut &[1u8, 0, 0][..]).is_err());
    }

    #[test]
    fn strings_split_at_nul_with_one_terminator() {
        assert_eq!(split_strings(b"a\0b\0"), vec![&b"a"[..], &b"b"[..]]);
        assert_eq!(split_strings(b"a\0\0"), vec![&b"a"[..], &b""[..]]);
        assert!(split_strings(b"").is_empty());
        assert_eq!(Errno::from_name("EAGAIN"), Some(Errno::Again));
    }
}

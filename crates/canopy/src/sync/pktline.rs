//! pkt-line framing (`gitprotocol-common`) and side-band multiplexing (`gitprotocol-pack`).
//!
//! A pkt-line is four hex digits giving the total length (themselves included), then the
//! payload. Lengths 0000 (flush), 0001 (delimiter) and 0002 (response end) are special; 0003 is
//! invalid. Writers never produce more than [`MAX_PKT_LEN`] bytes per packet and readers refuse
//! longer ones before allocating, so a hostile peer cannot make us buffer more than 64 KiB per
//! packet. With `side-band-64k` the first payload byte of each packet is a band: 1 data,
//! 2 progress, 3 fatal error.

use std::io::{self, Read, Write};

use super::Error;

/// Largest packet, length prefix included (Git's `LARGE_PACKET_MAX`).
pub const MAX_PKT_LEN: usize = 65520;
/// Largest payload of one packet.
pub const MAX_PKT_PAYLOAD: usize = MAX_PKT_LEN - 4;
/// Largest data chunk of one `side-band-64k` packet (length + band byte take 5 bytes).
pub const MAX_BAND_DATA: usize = MAX_PKT_LEN - 5;
/// Largest data chunk of one plain `side-band` packet (packets of at most 1000 bytes).
pub const MAX_SMALL_BAND_DATA: usize = 1000 - 5;

/// One packet as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pkt<'a> {
    Data(&'a [u8]),
    Flush,
    Delim,
    ResponseEnd,
}

impl<'a> Pkt<'a> {
    /// The payload of a data packet without one trailing LF (text lines).
    pub fn line(&self) -> Option<&'a [u8]> {
        match self {
            Pkt::Data(d) => Some(d.strip_suffix(b"\n").unwrap_or(d)),
            _ => None,
        }
    }
}

/// Appends a data packet holding `payload` (at most [`MAX_PKT_PAYLOAD`] bytes).
pub fn write_data(out: &mut Vec<u8>, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PKT_PAYLOAD);
    out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
    out.extend_from_slice(payload);
}

/// Appends a text line packet: `text` plus a LF.
pub fn write_line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(format!("{:04x}", text.len() + 5).as_bytes());
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
}

pub fn write_flush(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0000");
}

pub fn write_delim(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0001");
}

/// Reads pkt-lines from a byte stream.
pub struct PktReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes consumed so far (for error messages).
    consumed: u64,
}

impl<R: Read> PktReader<R> {
    pub fn new(inner: R) -> PktReader<R> {
        PktReader {
            inner,
            buf: Vec::with_capacity(1024),
            consumed: 0,
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The underlying stream (for the bytes after the last packet, such as a pack).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next packet; `None` at a clean end of input (between packets).
    pub fn read(&mut self) -> Result<Option<Pkt<'_>>, Error> {
        let mut len_hex = [0u8; 4];
        let got = read_full(&mut self.inner, &mut len_hex).map_err(Error::Io)?;
        if got == 0 {
            return Ok(None);
        }
        if got < 4 {
            return Err(self.bad(format!("input ends inside a pkt-line length ({got} of 4 bytes)")));
        }
        let len = parse_len(&len_hex).ok_or_else(|| {
            self.bad(format!(
                "bad pkt-line length '{}'",
                crate::object::escape_bytes(&len_hex)
            ))
        })?;
        let at = self.consumed;
        self.consumed += 4;
        match len {
            0 => return Ok(Some(Pkt::Flush)),
            1 => return Ok(Some(Pkt::Delim)),
            2 => return Ok(Some(Pkt::ResponseEnd)),
            3 => return Err(self.bad(format!("invalid pkt-line length 0003 at byte {at}"))),
            _ => {}
        }
        if len > MAX_PKT_LEN {
            return Err(self.bad(format!(
                "pkt-line of {len} bytes at byte {at} exceeds the limit of {MAX_PKT_LEN}"
            )));
        }
        self.buf.resize(len - 4, 0);
        let got = read_full(&mut self.inner, &mut self.buf).map_err(Error::Io)?;
        if got < len - 4 {
            return Err(self.bad(format!(
                "input ends inside the pkt-line at byte {at} ({got} of {} payload bytes)",
                len - 4
            )));
        }
        self.consumed += (len - 4) as u64;
        Ok(Some(Pkt::Data(&self.buf)))
    }

    /// The next packet, where the end of input is an error.
    pub fn expect(&mut self) -> Result<Pkt<'_>, Error> {
        match self.read()? {
            Some(p) => Ok(p),
            None => Err(Error::Protocol(
                "unexpected end of input; expected a pkt-line".into(),
            )),
        }
    }

    /// Reads text lines up to the next flush (or delimiter, when `stop_at_delim`), returning
    /// them without their LF, and whether a delimiter ended them.
    pub fn read_lines_until_flush(&mut self, stop_at_delim: bool) -> Result<(Vec<Vec<u8>>, bool), Error> {
        let mut lines = Vec::new();
        loop {
            match self.expect()? {
                Pkt::Flush => return Ok((lines, false)),
                Pkt::Delim if stop_at_delim => return Ok((lines, true)),
                Pkt::Delim | Pkt::ResponseEnd => {
                    return Err(Error::Protocol(
                        "unexpected special packet in a list of lines".into(),
                    ))
                }
                p @ Pkt::Data(_) => {
                    if let Some(l) = p.line() {
                        lines.push(l.to_vec());
                    }
                }
            }
        }
    }

    fn bad(&self, reason: String) -> Error {
        Error::PktLine(reason)
    }
}

fn parse_len(hex: &[u8; 4]) -> Option<usize> {
    let mut v = 0usize;
    for &c in hex {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = v * 16 + usize::from(d);
    }
    Some(v)
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
pub(crate) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes data as side-band packets on band 1; [`progress`](Self::progress) and
/// [`error`](Self::error) write bands 2 and 3.
pub struct SidebandWriter<W: Write> {
    inner: W,
    max_chunk: usize,
}

impl<W: Write> SidebandWriter<W> {
    /// `large` selects `side-band-64k` packets, else the 1000-byte packets of `side-band`.
    pub fn new(inner: W, large: bool) -> SidebandWriter<W> {
        SidebandWriter {
            inner,
            max_chunk: if large { MAX_BAND_DATA } else { MAX_SMALL_BAND_DATA },
        }
    }

    pub fn band(&mut self, band: u8, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(self.max_chunk) {
            self.inner
                .write_all(format!("{:04x}", chunk.len() + 5).as_bytes())?;
            self.inner.write_all(&[band])?;
            self.inner.write_all(chunk)?;
        }
        Ok(())
    }

    pub fn progress(&mut self, message: &str) -> io::Result<()> {
        self.band(2, message.as_bytes())
    }

    pub fn error(&mut self, message: &str) -> io::Result<()> {
        self.band(3, message.as_bytes())
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for SidebandWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.max_chunk);
        self.band(1, &buf[..n])?;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.band(1, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the band-1 data of a side-band stream up to its flush packet; band 2 goes to the
/// progress callback, band 3 ends the stream with an error.
pub struct SidebandReader<'a, R: Read> {
    pkts: &'a mut PktReader<R>,
    pending: Vec<u8>,
    pos: usize,
    done: bool,
    progress: &'a mut dyn FnMut(&[u8]),
}

impl<'a, R: Read> SidebandReader<'a, R> {
    pub fn new(pkts: &'a mut PktReader<R>, progress: &'a mut dyn FnMut(&[u8])) -> SidebandReader<'a, R> {
        SidebandReader {
            pkts,
            pending: Vec::new(),
            pos: 0,
            done: false,
            progress,
        }
    }

    /// Whether the flush that ends the stream has been read.
    pub fn finished(&self) -> bool {
        self.done
    }

    fn fill(&mut self) -> io::Result<()> {
        while self.pos >= self.pending.len() && !self.done {
            let pkt = self.pkts.read().map_err(io::Error::other)?;
            match pkt {
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "side-band stream ends without a flush packet",
                    ))
                }
                Some(Pkt::Flush) => self.done = true,
                Some(Pkt::Data(d)) => {
                    let Some((&band, rest)) = d.split_first() else {
                        return Err(io::Error::other("empty side-band packet"));
                    };
                    match band {
                        1 => {
                            self.pending.clear();
                            self.pending.extend_from_slice(rest);
                            self.pos = 0;
                        }
                        2 => (self.progress)(rest),
                        3 => {
                            let msg = String::from_utf8_lossy(rest).trim_end().to_string();
                            return Err(io::Error::other(Error::Remote(msg)));
                        }
                        other => return Err(io::Error::other(format!("unknown side-band {other}"))),
                    }
                }
                Some(_) => return Err(io::Error::other("unexpected special packet in side-band data")),
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for SidebandReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fill()?;
        if self.pos >= self.pending.len() {
            return Ok(0);
        }
        let n = buf.len().min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> Result<Vec<String>, Error> {
        let mut r = PktReader::new(bytes);
        let mut out = Vec::new();
        while let Some(p) = r.read()? {
            out.push(match p {
                Pkt::Data(d) => String::from_utf8_lossy(d).into_owned(),
                Pkt::Flush => "<flush>".into(),
                Pkt::Delim => "<delim>".into(),
                Pkt::ResponseEnd => "<end>".into(),
            });
        }
        Ok(out)
    }

    #[test]
    fn round_trip_and_special_packets() {
        let mut out = Vec::new();
        write_line(&mut out, "hello");
        write_data(&mut out, b"");
        write_delim(&mut out);
        write_flush(&mut out);
        out.extend_from_slice(b"0002");
        assert_eq!(&out[..10], b"000ahello\n");
        assert_eq!(
            read_all(&out).unwrap(),
            ["hello\n", "", "<delim>", "<flush>", "<end>"]
        );
    }

    #[test]
    fn hostile_lengths_are_refused() {
        for (input, needle) in [
            (&b"00"[..], "inside a pkt-line length"),
            (b"zzzz", "bad pkt-line length"),
            (b"0003", "invalid"),
            (b"fff5xxxx", "exceeds the limit"),
            (b"ffff", "exceeds the limit"),
            (b"0010abc", "ends inside"),
        ] {
            let err = read_all(input).unwrap_err().to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
        // The largest legal packet is accepted.
        let mut big = Vec::new();
        write_data(&mut big, &vec![b'a'; MAX_PKT_PAYLOAD]);
        assert_eq!(read_all(&big).unwrap()[0].len(), MAX_PKT_PAYLOAD);
    }

    #[test]
    fn sideband_round_trip_with_progress_and_errors() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = SidebandWriter::new(Vec::new(), true);
        w.progress("counting\n").unwrap();
        w.write_all(&data).unwrap();
        let mut stream = w.into_inner();
        write_flush(&mut stream);
        let mut pkts = PktReader::new(&stream[..]);
        let mut seen = Vec::new();
        let mut progress = |m: &[u8]| seen.extend_from_slice(m);
        let mut r = SidebandReader::new(&mut pkts, &mut progress);
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert!(r.finished());
        assert_eq!(got, data);
        assert_eq!(seen, b"counting\n");

        let mut w = SidebandWriter::new(Vec::new(), false);
        w.write_all(b"abc").unwrap();
        w.error("boom").unwrap();
        let stream = w.into_inner();
        let mut pkts = PktReader::new(&stream[..]);
        let mut ignore = |_: &[u8]| {};
        let mut r = SidebandReader::new(&mut pkts, &mut ignore);
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
    }
}

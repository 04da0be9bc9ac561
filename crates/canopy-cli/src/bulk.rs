//! `canopy import` and `canopy export`: many values in one commit, from and to JSON lines or tar.
//!
//! Import streams its input: each value goes into the store's batch (one pack file) as soon as it
//! is read, and only paths and ids are kept until the commit ([`canopy::store::Importer`]). Any
//! bad line, bad path or truncated input stops the import with exit code 2 before the branch
//! moves. A progress bar is drawn on stderr when it is a terminal.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::time::Duration;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use canopy::object::Mode;
use canopy::store::{export as export_tree, Exported, ImportMode, Importer};
use canopy::Path;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

use crate::commands::{commit_options, Ctx, Failure, Outcome};
use crate::output;
use crate::CommitArgs;

/// The formats `import` reads and `export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line: {"path": "a/b", "value": "text"} or {"path": …, "value_base64": …}.
    Jsonl,
    /// A tar archive: each regular file is a value, its name the path.
    Tar,
}

fn bad_input(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

fn io_failure(what: &str, e: io::Error) -> Failure {
    Failure {
        code: 3,
        message: format!("{what}: {e}"),
    }
}

/// `canopy import [--format F] [--replace] FILE`.
pub fn import(ctx: &Ctx, file: &str, format: Option<Format>, replace: bool, args: &CommitArgs) -> Outcome {
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let opts = commit_options(&repo, args, format!("import {file}"))?;
    let mode = if replace {
        ImportMode::Replace
    } else {
        ImportMode::Merge
    };
    let format = format.unwrap_or(if file.ends_with(".tar") {
        Format::Tar
    } else {
        Format::Jsonl
    });
    let (input, len): (Box<dyn Read>, Option<u64>) = if file == "-" {
        (Box::new(io::stdin().lock()), None)
    } else {
        let f = File::open(file).map_err(|e| io_failure(&format!("cannot open '{file}'"), e))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let progress = progress_bar(len);
    let mut reader = Tracked {
        inner: BufReader::with_capacity(1 << 20, input),
        progress: progress.clone(),
        read: 0,
        eof: false,
    };
    let mut importer = Importer::new(&branch, mode)?;
    let name = if file == "-" { "standard input" } else { file };
    match format {
        Format::Jsonl => read_jsonl(&mut reader, &mut importer, name)?,
        Format::Tar => read_tar(&mut reader, &mut importer, name)?,
    }
    progress.set_message(format!("{} values read, committing", importer.len()));
    let outcome = importer.commit(&opts).map_err(|e| match e {
        canopy::store::Error::NotADirectory { path } => bad_input(format!(
            "{name}: '{path}' is given a value and also has values below it"
        )),
        other => Failure::from(other),
    })?;
    progress.finish_and_clear();
    if ctx.json {
        output::json(&canopy_wire::local::Imported {
            commit: outcome.commit.to_hex(),
            committed: outcome.committed,
            paths: outcome.paths,
            trees: outcome.trees,
        });
    } else {
        let what = if outcome.committed {
            "imported"
        } else {
            "nothing changed:"
        };
        eprintln!("{what} {} values in {}", outcome.paths, outcome.commit.short(12));
    }
    Ok(0)
}

/// `canopy export [--format F] [--at REV] [PATH]`: every value below PATH to stdout.
pub fn export(ctx: &Ctx, path: Option<&str>, at: Option<&str>, format: Format) -> Outcome {
    let prefix = Path::parse(path.unwrap_or(""))?;
    let prefix = &prefix;
    let repo = ctx.open()?;
    let repo = &repo;
    let view = ctx.view(repo, at)?;
    let start = match view.find(prefix)? {
        None if prefix.is_root() => None,
        None => {
            return Err(Failure {
                code: 1,
                message: format!("path '{prefix}' not found"),
            })
        }
        Some(canopy::tree::Entry::Tree(t)) => t.id(),
        Some(_) => {
            return Err(bad_input(format!("'{prefix}' is a value, not a directory")));
        }
    };
    let Some(root) = start else {
        return Ok(0);
    };
    let mtime = match view.commit() {
        Some(c) => repo.commit_info(c)?.commit.committer.time.max(0) as u64,
        None => 0,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let prefix_bytes = prefix.to_bytes();
    let full = |p: &[u8]| -> Vec<u8> {
        if prefix_bytes.is_empty() {
            p.to_vec()
        } else {
            let mut v = prefix_bytes.clone();
            v.push(b'/');
            v.extend_from_slice(p);
            v
        }
    };
    // A closed pipe (`canopy export | head`) ends the export quietly.
    let mut closed = false;
    let result = match format {
        Format::Jsonl => export_tree(repo, root, &mut |e: Exported<'_>| {
            if closed {
                return Ok(());
            }
            let path = String::from_utf8_lossy(&full(e.path)).into_owned();
            let line = serde_json::to_string(&canopy_wire::local::ValueAt {
                path,
                content: canopy_wire::Content::of(&e.value),
                commit: None,
            })
            .expect("wire shapes serialize");
            if writeln!(out, "{line}").is_err() {
                closed = true;
            }
            Ok(())
        }),
        Format::Tar => {
            let mut builder = tar::Builder::new(&mut out);
            let r = export_tree(repo, root, &mut |e: Exported<'_>| {
                if closed {
                    return Ok(());
                }
                if append_tar(&mut builder, &full(e.path), e.mode, &e.value, mtime).is_err() {
                    closed = true;
                }
                Ok(())
            });
            if !closed && builder.finish().is_err() {
                closed = true;
            }
            r
        }
    };
    result?;
    if !closed {
        let _ = out.flush();
    }
    Ok(0)
}

fn append_tar<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &[u8],
    mode: Mode,
    value: &[u8],
    mtime: u64,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    let path = std::path::Path::new(OsStr::from_bytes(path));
    if mode == Mode::Symlink {
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        let target = std::path::Path::new(OsStr::from_bytes(value));
        builder.append_link(&mut header, path, target)
    } else {
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(if mode == Mode::Executable { 0o755 } else { 0o644 });
        header.set_size(value.len() as u64);
        builder.append_data(&mut header, path, value)
    }
}

/// One line of the JSON lines format.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(borrow)]
    path: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    value: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    value_base64: Option<std::borrow::Cow<'a, str>>,
}

fn read_jsonl<R: BufRead>(input: &mut R, importer: &mut Importer<'_>, name: &str) -> Result<(), Failure> {
    let mut buf = Vec::with_capacity(4096);
    let mut decoded = Vec::new();
    let mut number = 0u64;
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(|e| io_failure(&format!("cannot read {name}"), e))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let complete = buf.last() == Some(&b'\n');
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let at = |what: String| bad_input(format!("{name}: line {number}: {what}"));
        let line: Line<'_> = match serde_json::from_slice(text) {
            Ok(l) => l,
            Err(e) if !complete && e.is_eof() => {
                return Err(at("input ends in the middle of a line (truncated?)".into()))
            }
            Err(e) => return Err(at(format!("not a valid import line: {e}"))),
        };
        let value: &[u8] = match (&line.value, &line.value_base64) {
            (Some(v), None) => v.as_bytes(),
            (None, Some(b)) => {
                decoded.clear();
                base64_decode(b.as_bytes(), &mut decoded).map_err(|e| at(format!("value_base64: {e}")))?;
                &decoded
            }
            (None, None) => return Err(at("needs \"value\" or \"value_base64\"".into())),
            (Some(_), Some(_)) => return Err(at("has both \"value\" and \"value_base64\"".into())),
        };
        importer.add(line.path.as_bytes(), value).map_err(|e| match e {
            canopy::store::Error::Path(p) => at(p.to_string()),
            canopy::store::Error::NotAValue { .. } => {
                at("the empty path (the root) cannot hold a value".into())
            }
            other => Failure::from(other),
        })?;
    }
}

fn read_tar<R: Read>(input: &mut Tracked<R>, importer: &mut Importer<'_>, name: &str) -> Result<(), Failure> {
    let tar_err = |e: io::Error| {
        let text = e.to_string();
        if e.kind() == io::ErrorKind::UnexpectedEof || text.contains("EOF") || text.contains("entire block") {
            bad_input(format!(
                "{name}: the tar archive ends in the middle of an entry (truncated?): {text}"
            ))
        } else {
            bad_input(format!("{name}: not a valid tar archive: {text}"))
        }
    };
    let mut archive = tar::Archive::new(&mut *input);
    let mut value = Vec::new();
    for entry in archive.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        let kind = entry.header().entry_type();
        let raw = entry.path_bytes().into_owned();
        let mut path: &[u8] = &raw;
        while let Some(rest) = path.strip_prefix(b"./") {
            path = rest;
        }
        let shown = String::from_utf8_lossy(path).into_owned();
        match kind {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            other => {
                return Err(bad_input(format!(
                "{name}: entry '{shown}' is a {other:?}; only regular files and directories can be imported"
            )))
            }
        }
        value.clear();
        entry
            .read_to_end(&mut value)
            .map_err(|e| bad_input(format!("{name}: entry '{shown}': {e} (truncated archive?)")))?;
        importer.add(path, &value).map_err(|e| match e {
            canopy::store::Error::Path(p) => bad_input(format!("{name}: entry '{shown}': {p}")),
            canopy::store::Error::NotAValue { .. } => {
                bad_input(format!("{name}: entry '{shown}': not a valid path"))
            }
            other => Failure::from(other),
        })?;
    }
    // `tar` treats end of input at an entry boundary as the end; a real archive ends with a
    // zero block, so reaching the end of input first means it was cut short.
    if input.eof {
        return Err(bad_input(format!(
            "{name}: the tar archive ends without its end-of-archive marker (truncated?)"
        )));
    }
    Ok(())
}

/// The input, counting bytes for the progress bar and noting when it reached its end.
struct Tracked<R> {
    inner: BufReader<R>,
    progress: ProgressBar,
    read: u64,
    eof: bool,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.advance(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Tracked<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.advance(n);
    }

    fn read_until(&mut self, byte: u8, buf: &mut Vec<u8>) -> io::Result<usize> {
        let n = self.inner.read_until(byte, buf)?;
        self.advance(n);
        Ok(n)
    }
}

impl<R> Tracked<R> {
    fn advance(&mut self, n: usize) {
        if n == 0 {
            self.eof = true;
        }
        self.read += n as u64;
        self.progress.set_position(self.read);
    }
}

fn progress_bar(len: Option<u64>) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match len {
        Some(len) => (
            ProgressBar::new(len),
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} [{elapsed_precise}] {bytes} ({bytes_per_sec}) {msg}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Decodes standard base64 (RFC 4648; padding optional, no whitespace) into `out`.
fn base64_decode(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    base64::Engine::decode_vec(&LENIENT, text, out).map_err(|e| format!("invalid base64 ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_with_output_encoder() {
        for v in [&b""[..], b"f", b"fo", b"foo", b"\xff\x00\xfe binary"] {
            let mut out = Vec::new();
            base64_decode(canopy_wire::base64_encode(v).as_bytes(), &mut out).unwrap();
            assert_eq!(out, v);
        }
        let mut out = Vec::new();
        base64_decode(b"Zm9vYmFy", &mut out).unwrap();
        assert_eq!(out, b"foobar");
        assert!(base64_decode(b"Zm9v!", &mut Vec::new()).is_err());
        assert!(base64_decode(b"Zm9vY", &mut Vec::new()).is_err());
    }
}

//! Writing a document whose long arrays (one element per file of the image) are produced while it is
//! written, never held in memory at once. The document is a `Value` in which such an array is a
//! placeholder string naming a generator; the generator writes its elements, typed, through a
//! `ListWriter`. The bytes are exactly those of the full `Value` pretty-printed (keys sorted: serde_json's
//! maps are BTreeMaps here, and the typed elements declare their fields in that order).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::{RecordFile, RecordsError};
use crate::export;

const MARK: &str = "\u{0}stream:";
/// How a placeholder reads once pretty-printed (serde_json escapes NUL).
const PRINTED_MARK: &[u8] = b"\"\\u0000stream:";

type Generator<'a> = Box<dyn Fn(&mut ListWriter) -> std::io::Result<()> + Send + Sync + 'a>;

/// A document: its small parts as a `Value`, its long arrays as generators.
pub struct Doc<'a> {
    pub value: Value,
    lists: HashMap<String, Generator<'a>>,
}

/// Writes the elements of one array, pretty-printed at the array's depth.
pub struct ListWriter<'w> {
    out: &'w mut dyn Write,
    indent: Vec<u8>,
    scratch: Vec<u8>,
    first: bool,
}

impl ListWriter<'_> {
    pub fn push<T: Serialize + ?Sized>(&mut self, item: &T) -> std::io::Result<()> {
        self.scratch.clear();
        serde_json::to_writer_pretty(&mut self.scratch, item)?;
        self.out.write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        self.out.write_all(&self.indent)?;
        // A pretty-printed value has a newline only between tokens (strings escape theirs).
        let mut rest = &self.scratch[..];
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.out.write_all(&rest[..=i])?;
            self.out.write_all(&self.indent)?;
            rest = &rest[i + 1..];
        }
        self.out.write_all(rest)
    }
}

impl<'a> Doc<'a> {
    pub fn new() -> Self {
        Doc { value: Value::Null, lists: HashMap::new() }
    }

    /// A placeholder to put where the array goes; `items` writes its elements each time it is called.
    pub fn list(
        &mut self,
        name: &str,
        items: impl Fn(&mut ListWriter) -> std::io::Result<()> + Send + Sync + 'a,
    ) -> Value {
        let key = format!("{MARK}{name}");
        self.lists.insert(key.clone(), Box::new(items));
        Value::String(key)
    }

    /// Writes the document pretty-printed (no trailing newline) into `out`.
    pub fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let skeleton = serde_json::to_vec_pretty(&self.value)?;
        let mut rest = &skeleton[..];
        while let Some(at) = find(rest, PRINTED_MARK) {
            let line_start = rest[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let depth = rest[line_start..at].iter().take_while(|&&b| b == b' ').count();
            let end = at + 1 + rest[at + 1..].iter().position(|&b| b == b'"').expect("a closed string");
            let key = serde_json::from_slice::<String>(&rest[at..=end])?;
            out.write_all(&rest[..at])?;
            out.write_all(b"[")?;
            let mut list = ListWriter { out, indent: vec![b' '; depth + 2], scratch: Vec::new(), first: true };
            (self.lists[&key])(&mut list)?;
            if !list.first {
                out.write_all(b"\n")?;
                out.write_all(&vec![b' '; depth])?;
            }
            out.write_all(b"]")?;
            rest = &rest[end + 1..];
        }
        out.write_all(rest)
    }

    /// The whole document as a `Value` (for tests and small documents).
    #[cfg(test)]
    pub fn to_value(&self) -> Value {
        let mut text = Vec::new();
        self.write_to(&mut text).expect("writes to memory");
        serde_json::from_slice(&text).expect("valid JSON")
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Writes `doc` pretty-printed to a temp file beside `path`, then renames it into place.
pub fn write(doc: &Doc, path: &Path) -> Result<RecordFile, RecordsError> {
    let io = |source| RecordsError::Io { op: "write", path: path.to_path_buf(), source };
    let tmp = export::temp_beside(path)?;
    let size = {
        let mut w = Counting {
            inner: std::io::BufWriter::with_capacity(256 << 10, crate::small_writes::SmallWrites(tmp.as_file())),
            len: 0,
        };
        doc.write_to(&mut w).map_err(io)?;
        w.write_all(b"\n").map_err(io)?;
        w.flush().map_err(io)?;
        w.len
    };
    export::publish(tmp, path)?;
    Ok(RecordFile { path: path.to_path_buf(), size })
}

/// Counts what passes through.
struct Counting<W: Write> {
    inner: W,
    len: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_lists_print_like_the_whole_value() {
        let files = ["/a", "/b\n\"c\"", "/c"];
        let mut doc = Doc::new();
        let list = doc.list("files", move |w| {
            for f in files {
                w.push(&serde_json::json!({"path": f, "z": [1, {"deep": []}]}))?;
            }
            Ok(())
        });
        let nested = doc.list("nested", |w| w.push(&[1, 2]));
        doc.value = serde_json::json!({
            "b": list,
            "a": {"empty": doc.list("none", |_| Ok(())), "in": [nested, "x"]},
        });
        let whole = serde_json::json!({
            "b": [
                {"path": "/a", "z": [1, {"deep": []}]},
                {"path": "/b\n\"c\"", "z": [1, {"deep": []}]},
                {"path": "/c", "z": [1, {"deep": []}]},
            ],
            "a": {"empty": [], "in": [[[1, 2]], "x"]},
        });
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        let written = write(&doc, &p).unwrap();
        let mut expected = serde_json::to_vec_pretty(&whole).unwrap();
        expected.push(b'\n');
        assert_eq!(
            String::from_utf8(std::fs::read(&p).unwrap()).unwrap(),
            String::from_utf8(expected.clone()).unwrap()
        );
        assert_eq!(written.size, expected.len() as u64);
        assert_eq!(doc.to_value(), whole);
    }
}

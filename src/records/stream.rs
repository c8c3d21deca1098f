//! Writing a document whose long arrays (one element per file of the image) are produced while it is
//! serialised, never held in memory at once: the document is a `Value` in which such an array is a
//! placeholder string naming a generator of its elements. The bytes are exactly those of the full
//! `Value` pretty-printed (keys sorted: serde_json's maps are BTreeMaps here).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use super::RecordsError;
use crate::export::{self, Exported};

const MARK: &str = "\u{0}stream:";

type Generator<'a> = Box<dyn Fn() -> Box<dyn Iterator<Item = Value> + 'a> + 'a>;

/// A document: its small parts as a `Value`, its long arrays as generators.
pub struct Doc<'a> {
    pub value: Value,
    lists: HashMap<String, Generator<'a>>,
}

impl<'a> Doc<'a> {
    pub fn new() -> Self {
        Doc { value: Value::Null, lists: HashMap::new() }
    }

    /// A placeholder to put where the array goes; `items` yields its elements each time it is called.
    pub fn list<I>(&mut self, name: &str, items: impl Fn() -> I + 'a) -> Value
    where
        I: Iterator<Item = Value> + 'a,
    {
        let key = format!("{MARK}{name}");
        self.lists.insert(key.clone(), Box::new(move || Box::new(items())));
        Value::String(key)
    }

    /// The whole document as a `Value` (for tests and small documents).
    #[cfg(test)]
    pub fn to_value(&self) -> Value {
        serde_json::to_value(Streamed { v: &self.value, doc: self }).expect("serialises")
    }
}

struct Streamed<'d, 'a> {
    v: &'d Value,
    doc: &'d Doc<'a>,
}

impl Serialize for Streamed<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.v {
            Value::String(k) if k.starts_with(MARK) => {
                let mut seq = s.serialize_seq(None)?;
                for item in (self.doc.lists[k])() {
                    seq.serialize_element(&item)?;
                }
                seq.end()
            }
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for x in a {
                    seq.serialize_element(&Streamed { v: x, doc: self.doc })?;
                }
                seq.end()
            }
            Value::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, x) in m {
                    map.serialize_entry(k, &Streamed { v: x, doc: self.doc })?;
                }
                map.end()
            }
            other => other.serialize(s),
        }
    }
}

/// Writes `doc` pretty-printed to a temp file beside `path`, then renames it into place.
pub fn write(doc: &Doc, path: &Path) -> Result<Exported, RecordsError> {
    let io = |source| RecordsError::Io { op: "write", path: path.to_path_buf(), source };
    let tmp = export::temp_beside(path)?;
    let (sha256, size) = {
        let mut w = crate::export::tar::HashingWriter::new(std::io::BufWriter::with_capacity(256 << 10, tmp.as_file()));
        serde_json::to_writer_pretty(&mut w, &Streamed { v: &doc.value, doc }).map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
        w.flush().map_err(io)?;
        (w.hex_digest(), w.len)
    };
    export::publish(tmp, path)?;
    Ok(Exported { path: path.to_path_buf(), size, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_lists_print_like_the_whole_value() {
        let files = ["/a", "/b", "/c"];
        let mut doc = Doc::new();
        let list = doc.list("files", || files.iter().map(|f| serde_json::json!({"path": f, "z": [1]})));
        doc.value = serde_json::json!({"b": list, "a": {"empty": doc.list("none", std::iter::empty)}});
        let whole = serde_json::json!({
            "b": [{"path": "/a", "z": [1]}, {"path": "/b", "z": [1]}, {"path": "/c", "z": [1]}],
            "a": {"empty": []},
        });
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write(&doc, &p).unwrap();
        let mut expected = serde_json::to_vec_pretty(&whole).unwrap();
        expected.push(b'\n');
        assert_eq!(String::from_utf8(std::fs::read(&p).unwrap()).unwrap(), String::from_utf8(expected).unwrap());
        assert_eq!(doc.to_value(), whole);
    }
}

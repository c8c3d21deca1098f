//! Where this machine pushed each blob: `registry<TAB>repository<TAB>digest` lines appended to one file
//! in the cache. A later push of the same blob to another repository of the same registry asks for a
//! cross-repository mount from the last repository that got it, instead of uploading it again. Each line
//! is one `write` to a file opened for appending (shorter than PIPE_BUF), so concurrent pushes never
//! interleave within a line; a line that is cut short or stale only costs a mount the registry refuses
//! (the client then uploads).

use std::io::Write;
use std::path::{Path, PathBuf};

pub struct PushLog {
    path: PathBuf,
}

impl PushLog {
    pub fn new(path: &Path) -> Self {
        PushLog { path: path.to_path_buf() }
    }

    /// The last other repository of `registry` that `digest` was pushed to.
    pub fn other_repository(&self, registry: &str, repository: &str, digest: &str) -> Option<String> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        text.lines()
            .rev()
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some((f.next()?, f.next()?, f.next()?))
            })
            .find(|(r, repo, d)| *r == registry && *repo != repository && *d == digest)
            .map(|(_, repo, _)| repo.to_string())
    }

    /// Remembers a push. Best effort: a log that cannot be written costs only later mounts.
    pub fn record(&self, registry: &str, repository: &str, digest: &str) {
        if self.other_repository(registry, "", digest).as_deref() == Some(repository) {
            return;
        }
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let line = format!("{registry}\t{repository}\t{digest}\n");
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&self.path) {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_other_repository_of_the_same_registry() {
        let dir = tempfile::tempdir().unwrap();
        let log = PushLog::new(&dir.path().join("sub/pushes.tsv"));
        assert_eq!(log.other_repository("r:5000", "b", "sha256:1"), None);
        log.record("r:5000", "a", "sha256:1");
        log.record("other:5000", "c", "sha256:1");
        log.record("r:5000", "a", "sha256:1");
        assert_eq!(log.other_repository("r:5000", "b", "sha256:1").as_deref(), Some("a"));
        assert_eq!(log.other_repository("r:5000", "a", "sha256:1"), None, "not from itself");
        assert_eq!(log.other_repository("r:5000", "b", "sha256:2"), None);
        let lines = std::fs::read_to_string(dir.path().join("sub/pushes.tsv")).unwrap();
        assert_eq!(lines.lines().count(), 2, "a repeated push is not logged twice: {lines}");
    }
}

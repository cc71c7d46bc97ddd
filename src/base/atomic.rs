//! Files that appear whole or not at all.
//!
//! Every result, trace and plan is written to a temporary name in its final folder and renamed
//! into place only when complete, so a crash or an error never leaves a half-written file that
//! a later tool would read as if it were whole. A writer dropped without `commit` removes its
//! temporary.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file that appears under its final name only once `commit` succeeds.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        let name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
            .to_string_lossy()
            .into_owned();
        let tmp = dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let f = File::create(&tmp)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            out: Some(BufWriter::with_capacity(1 << 16, f)),
        })
    }

    pub fn commit(mut self) -> io::Result<()> {
        if let Some(out) = self.out.take() {
            let f = out.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
        }
        fs::rename(&self.tmp, &self.dest)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.out.as_mut() {
            Some(o) => o.write(buf),
            None => Err(io::Error::other("file already committed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.is_some() {
            self.out = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes)?;
    f.commit()
}

/// A folder of results that appears under its final name whole, or not at all.
///
/// Files go into a hidden sibling (`.NAME.tmp-PID`); `commit` moves any earlier folder of that
/// name aside, renames the new one into place and removes the old. A run killed half-way
/// leaves only its hidden sibling, which the next run into the same place removes, so a
/// folder never holds one run's summary beside another run's series. An existing folder is
/// replaced only if it is empty or holds a finished run (`marker`), never a folder of
/// someone else's files.
pub struct AtomicDir {
    tmp: PathBuf,
    dest: PathBuf,
    marker: &'static str,
    committed: bool,
}

impl AtomicDir {
    pub fn create(dest: &Path, marker: &'static str) -> io::Result<AtomicDir> {
        let name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no folder name"))?
            .to_string_lossy()
            .into_owned();
        if dest.exists() {
            let empty = fs::read_dir(dest)?.next().is_none();
            if !empty && !dest.join(marker).is_file() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and holds no finished run ({marker}): choose another folder \
                         or remove it",
                        dest.display()
                    ),
                ));
            }
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent)?;
        remove_stale_siblings(&parent, &name);
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir(&tmp)?;
        Ok(AtomicDir {
            tmp,
            dest: dest.to_path_buf(),
            marker,
            committed: false,
        })
    }

    /// Where to write the folder's files until `commit`.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    pub fn commit(mut self) -> io::Result<()> {
        if !self.tmp.join(self.marker).is_file() {
            return Err(io::Error::other(format!(
                "{} was not written; the results are left out",
                self.marker
            )));
        }
        let old = self.tmp.with_file_name(
            self.tmp
                .file_name()
                .map(|n| n.to_string_lossy().replace(".tmp-", ".old-"))
                .unwrap_or_default(),
        );
        if self.dest.exists() {
            fs::rename(&self.dest, &old)?;
        }
        fs::rename(&self.tmp, &self.dest)?;
        self.committed = true;
        if old.exists() {
            fs::remove_dir_all(&old)?;
        }
        Ok(())
    }
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Removes `.NAME.tmp-PID` and `.NAME.old-PID` left in `parent` by runs that were killed: those
/// whose process no longer exists (where `/proc` tells; elsewhere any but this process's).
fn remove_stale_siblings(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let own = std::process::id();
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let pid = [".tmp-", ".old-"].iter().find_map(|sep| {
            file.strip_prefix(&format!(".{name}{sep}"))
                .and_then(|p| p.parse::<u32>().ok())
        });
        let Some(pid) = pid else { continue };
        let alive = pid == own
            || (Path::new("/proc").is_dir() && Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.csv");
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"a,b\n").unwrap();
        assert!(!dest.exists());
        f.commit().unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "a,b\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_atomic_dir_appears_whole_and_replaces_only_a_finished_run() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("run");
        // A run killed half-way (its process gone) left its staging folder behind.
        fs::create_dir(dir.path().join(".run.tmp-999999999")).unwrap();
        let d = AtomicDir::create(&dest, "summary.json").unwrap();
        assert!(
            !dir.path().join(".run.tmp-999999999").exists(),
            "stale staging removed"
        );
        fs::write(d.path().join("timeline.csv"), "new").unwrap();
        fs::write(d.path().join("summary.json"), "{}").unwrap();
        assert!(!dest.exists(), "nothing under the final name before commit");
        d.commit().unwrap();
        assert_eq!(
            fs::read_to_string(dest.join("timeline.csv")).unwrap(),
            "new"
        );
        // A second run replaces the first whole: none of its files survive.
        fs::write(dest.join("hosts.csv"), "old").unwrap();
        let d = AtomicDir::create(&dest, "summary.json").unwrap();
        fs::write(d.path().join("summary.json"), "{}").unwrap();
        d.commit().unwrap();
        assert!(!dest.join("hosts.csv").exists() && !dest.join("timeline.csv").exists());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("run")]);
        // A folder of other files is never replaced.
        let other = dir.path().join("mine");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("notes.txt"), "keep").unwrap();
        assert!(AtomicDir::create(&other, "summary.json").is_err());
        // Dropped without its marker or commit: nothing appears, nothing is left.
        let d = AtomicDir::create(&dir.path().join("half"), "summary.json").unwrap();
        fs::write(d.path().join("timeline.csv"), "x").unwrap();
        drop(d);
        assert!(!dir.path().join("half").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn dropped_atomic_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.csv");
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.write_all(b"partial").unwrap();
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

//! Writing files so that a failure never leaves a partial output behind.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so readers see
/// either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        std::fs::File::create(tmp)
            .and_then(|mut file| file.write_all(bytes))
            .map_err(|e| Error::io(path, e))
    })
}

/// Lets `write` create a temporary file (its argument: a hidden name in `path`'s folder), then
/// renames it to `path`; on any error the temporary file is removed, so `path` is either untouched
/// or complete. For writers that want a file name rather than bytes (libavformat).
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid("out", format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = write(&tmp).and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| Error::io(path, e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A set of outputs that appear together or not at all: each is written under a temporary name in
/// its final folder ([`Staged::path`]), and [`Staged::commit`] renames them all into place. Dropped
/// without a commit (an error on the way), it removes what it wrote, and the folders it created
/// if they are left empty, so a failed multi-file command leaves nothing behind.
#[derive(Debug, Default)]
pub struct Staged {
    /// (temporary, final) pairs, in the order staged.
    pending: Vec<(std::path::PathBuf, std::path::PathBuf)>,
    /// Folders this created, outermost first.
    created: Vec<std::path::PathBuf>,
}

impl Staged {
    pub fn new() -> Self {
        Self::default()
    }

    /// Where to write the output that will become `path`: a hidden name in the same folder that
    /// keeps the extension (writers choose their format by it). Creates the folder if needed.
    pub fn path(&mut self, path: &Path) -> Result<std::path::PathBuf> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        self.create_dir(&dir)?;
        let name = path.file_name().ok_or_else(|| {
            Error::invalid("out", format!("{} is not a file path", path.display()))
        })?;
        let tmp = dir.join(format!(
            ".avfoil-staged-{}-{}-{}",
            std::process::id(),
            self.pending.len(),
            name.to_string_lossy()
        ));
        self.pending.push((tmp.clone(), path.to_path_buf()));
        Ok(tmp)
    }

    fn create_dir(&mut self, dir: &Path) -> Result<()> {
        let mut missing = Vec::new();
        let mut at = Some(dir);
        while let Some(d) = at.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            missing.push(d.to_path_buf());
            at = d.parent();
        }
        for d in missing.into_iter().rev() {
            std::fs::create_dir(&d).map_err(|e| Error::io(&d, e))?;
            self.created.push(d);
        }
        Ok(())
    }

    /// Renames every staged file into place; returns the final paths.
    pub fn commit(mut self) -> Result<Vec<std::path::PathBuf>> {
        let pending = std::mem::take(&mut self.pending);
        let mut done = Vec::new();
        for (i, (tmp, path)) in pending.iter().enumerate() {
            if let Err(e) = std::fs::rename(tmp, path) {
                // Put back what is left so that dropping cleans it up.
                self.pending = pending[i..].to_vec();
                return Err(Error::io(path, e));
            }
            done.push(path.clone());
        }
        self.created.clear();
        Ok(done)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (tmp, _) in &self.pending {
            let _ = std::fs::remove_file(tmp);
        }
        for d in self.created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// A hidden folder inside `parent` where a multi-file output (a generated data set) is built; the
/// caller moves the finished parts into place with [`StagingDir::move_into_place`]. Dropped, it
/// deletes itself and whatever is still in it, so an error midway leaves no partial data set.
#[derive(Debug)]
pub struct StagingDir {
    path: std::path::PathBuf,
    /// `parent`, when this created it: removed on drop if nothing was moved into it.
    created_parent: Option<std::path::PathBuf>,
}

impl StagingDir {
    /// Creates `parent/.avfoil-partial-<pid>` (and `parent` if needed).
    pub fn new(parent: &Path) -> Result<Self> {
        let created_parent = (!parent.exists()).then(|| parent.to_path_buf());
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let path = parent.join(format!(".avfoil-partial-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
        std::fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Self {
            path,
            created_parent,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames `name` (a file or folder inside the staging folder) to `dest`, which must not exist.
    pub fn move_into_place(&self, name: &str, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(Error::invalid(
                "out",
                format!(
                    "{} appeared while the data set was generated",
                    dest.display()
                ),
            ));
        }
        std::fs::rename(self.path.join(name), dest).map_err(|e| Error::io(dest, e))
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        if let Some(parent) = &self.created_parent {
            let _ = std::fs::remove_dir(parent); // fails, as it should, unless empty
        }
    }
}

/// Whether `dir` is missing or an empty folder (a file is neither: the caller's error).
pub fn is_missing_or_empty(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => !dir.exists(),
    }
}

/// An exclusive lock on an output folder, held while a run writes into it: a second run on the same
/// folder gets an error naming the holder instead of interleaving its records with the first's. The
/// operating system releases it when the process ends, however it ends (kill -9 included), so no
/// stale lock outlives a crash.
#[derive(Debug)]
pub struct FolderLock {
    _file: std::fs::File,
}

impl FolderLock {
    /// The lock file's name inside the folder.
    pub const FILE: &'static str = ".avfoil.lock";

    /// Locks `dir` (which must exist), or fails naming the process that holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(Self::FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(Error::invalid(
                    "out",
                    format!(
                        "{} is in use by another avfoil run ({}); wait for it to finish or \
                         choose another folder",
                        dir.display(),
                        holder.trim()
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let _ = file.set_len(0);
        let _ = write!(file, "process {}", std::process::id());
        let _ = file.flush();
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staging_folder_dropped_before_its_parts_move_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("new/corpus");
        {
            let staging = StagingDir::new(&out).unwrap();
            std::fs::create_dir(staging.path().join("UCF-101")).unwrap();
            std::fs::write(staging.path().join("UCF-101/clip.mp4"), b"x").unwrap();
        }
        assert!(!out.exists(), "the folder it created is gone too");
        // Moved parts stay; the staging folder goes.
        let staging = StagingDir::new(&out).unwrap();
        std::fs::write(staging.path().join("list.txt"), b"x").unwrap();
        staging
            .move_into_place("list.txt", &out.join("list.txt"))
            .unwrap();
        let err = staging.move_into_place("list.txt", &out.join("list.txt"));
        assert!(err.is_err(), "an existing destination is never replaced");
        drop(staging);
        let names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["list.txt"]);
    }
}

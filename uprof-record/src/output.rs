//! Where a record file is written. A recording's file appears at its path only once the
//! recording has started: until then it is a fresh temporary file in the same directory, which
//! [`crate::Writer::publish`] renames over the path. So a recording that never starts (a typo in
//! the command, a failed load) leaves whatever was at the path as it was, and a symbolic link
//! planted at the path is replaced, never followed. A character device (`/dev/null`) is written
//! in place: there is nothing to protect and renaming over it would replace the device.
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Permissions of a new record file: it names the traced processes, their threads and their
/// files, so only its owner reads it (as `perf record` does with `perf.data`).
pub const FILE_MODE: u32 = 0o600;

/// How many temporary names are tried before giving up (each try fails only if another file
/// took the name first).
const TEMP_NAME_TRIES: u32 = 100;

/// An open file for a record file at `path`; see the module documentation.
pub struct Output {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    /// The temporary file, until it is renamed into place; `None` for a device written in place.
    pub(crate) staged: Option<Staged>,
}

/// A temporary file not renamed into place yet: removed when dropped.
pub(crate) struct Staged {
    /// `None` once renamed.
    temp: Option<PathBuf>,
}

impl Output {
    /// Opens the file a recording to `path` will be written to: a temporary file next to
    /// `path`, created exclusively (never through a symbolic link) with mode [`FILE_MODE`].
    /// Fails with one sentence naming `path` when its directory does not exist or is not
    /// writable, or when `path` is a directory, a FIFO, a socket or a block device.
    pub fn create(path: impl AsRef<Path>) -> Result<Output> {
        let path = path.as_ref().to_path_buf();
        let error = |source| Error::Io {
            path: path.clone(),
            action: "create",
            source,
        };
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_char_device() => {
                let file = OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(error)?;
                return Ok(Output {
                    path,
                    file,
                    staged: None,
                });
            }
            Ok(meta) if !meta.is_file() && !meta.is_symlink() => {
                let kind = match meta.file_type() {
                    t if t.is_dir() => {
                        return Err(error(io::Error::from_raw_os_error(libc::EISDIR)));
                    }
                    t if t.is_fifo() => "a FIFO",
                    t if t.is_socket() => "a socket",
                    _ => "a block device",
                };
                return Err(error(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("it is {kind}, not a regular file"),
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(error(e)),
        }
        let Some(name) = path.file_name() else {
            return Err(error(io::Error::from_raw_os_error(libc::EISDIR)));
        };
        let dir = directory_of(&path);
        for n in 0..TEMP_NAME_TRIES {
            let mut temp_name = std::ffi::OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(".uprof-tmp-{}-{n}", std::process::id()));
            let temp = dir.join(temp_name);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&temp)
            {
                Ok(file) => {
                    return Ok(Output {
                        path,
                        file,
                        staged: Some(Staged { temp: Some(temp) }),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(error(e)),
            }
        }
        Err(error(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "every temporary name next to it is taken",
        )))
    }

    /// The path the record file will have.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Staged {
    /// Renames the temporary file over `path` (replacing a file or a symbolic link there), and
    /// makes the rename durable.
    pub(crate) fn publish(mut self, path: &Path) -> io::Result<()> {
        let temp = self.temp.take().expect("a staged file is published once");
        if let Err(e) = fs::rename(&temp, path) {
            self.temp = Some(temp);
            return Err(e);
        }
        // Best effort, like the chunks themselves (only `Writer::finish` syncs the file): a
        // crash soon after may lose the new name, never the old file's content.
        if let Ok(dir) = File::open(directory_of(path)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            // Best effort: a file that cannot be removed is a leftover, not a failure.
            let _ = fs::remove_file(temp);
        }
    }
}

/// The directory `path` is in (`.` for a bare file name).
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

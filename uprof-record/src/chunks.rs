//! Reading chunk frames from a file into one reused buffer, checking each against its CRC.
use std::fs::{self, File, FileType, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, FileKind, Result};
use crate::format::{self, CHUNK_HEADER_LEN, ChunkHeader, MAX_PAYLOAD_LEN};

/// A record file being read, frame by frame.
pub(crate) struct ChunkSource {
    path: PathBuf,
    file: BufReader<File>,
    /// The payload of the last chunk read; reused from chunk to chunk.
    payload: Vec<u8>,
}

/// The next chunk of the file, or why there is none.
pub(crate) enum Next {
    /// A chunk with this tag whose CRC matches; its payload is [`ChunkSource::payload`].
    Chunk([u8; 4]),
    /// The file ends cleanly at a chunk boundary.
    Eof,
    /// The chunk is cut short or corrupt, for this reason.
    Damaged(String),
}

impl ChunkSource {
    /// Opens `path` for reading if it is a regular file. The open cannot block (a FIFO without
    /// a writer would block a plain open forever) and cannot make a terminal ours.
    pub(crate) fn open(path: &Path) -> Result<ChunkSource> {
        let not_a_file = |kind| Error::NotAFile {
            path: path.to_path_buf(),
            kind,
        };
        let io_error = |source| Error::Io {
            path: path.to_path_buf(),
            action: "open",
            source,
        };
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
        {
            Ok(file) => file,
            // A socket cannot be opened at all (ENXIO): say what it is.
            Err(e) => {
                let kind = fs::metadata(path)
                    .ok()
                    .and_then(|m| irregular(m.file_type()));
                return Err(kind.map_or_else(|| io_error(e), not_a_file));
            }
        };
        if let Some(kind) = irregular(file.metadata().map_err(io_error)?.file_type()) {
            return Err(not_a_file(kind));
        }
        // Only the open had to be non-blocking; reads from some file systems (FUSE) honour it.
        // SAFETY: F_GETFL and F_SETFL on a file descriptor that `file` owns.
        let cleared = unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            flags >= 0
                && libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
        };
        if !cleared {
            return Err(io_error(io::Error::last_os_error()));
        }
        Ok(ChunkSource {
            path: path.to_path_buf(),
            file: BufReader::with_capacity(64 * 1024, file),
            payload: Vec::new(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub(crate) fn seek(&mut self, offset: u64) -> Result<()> {
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| self.io_error(e))?;
        Ok(())
    }

    /// Reads until `buf` is full or the file ends; returns the number of bytes read.
    pub(crate) fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize> {
        read_up_to(&mut self.file, buf).map_err(|e| self.io_error(e))
    }

    /// Reads the next chunk's payload into [`ChunkSource::payload`] and checks its CRC.
    pub(crate) fn next_chunk(&mut self) -> Result<Next> {
        self.payload.clear();
        let mut frame = [0; CHUNK_HEADER_LEN];
        let n = self.read_up_to(&mut frame)?;
        if n == 0 {
            return Ok(Next::Eof);
        }
        if n < CHUNK_HEADER_LEN {
            return Ok(Next::Damaged(format!(
                "the file ends inside a chunk header, after {n} of its {CHUNK_HEADER_LEN} bytes"
            )));
        }
        let frame = ChunkHeader::decode(&frame);
        let tag = format::tag_name(frame.tag);
        let len = frame.len as usize;
        if len > MAX_PAYLOAD_LEN {
            return Ok(Next::Damaged(format!(
                "chunk {tag} claims {len} bytes, more than the {MAX_PAYLOAD_LEN}-byte limit"
            )));
        }
        self.payload.resize(len, 0);
        let n = read_up_to(&mut self.file, &mut self.payload).map_err(|e| self.io_error(e))?;
        if n < len {
            return Ok(Next::Damaged(format!(
                "the file ends inside chunk {tag}, after {n} of its {len} bytes"
            )));
        }
        if !frame.matches(&self.payload) {
            return Ok(Next::Damaged(format!("chunk {tag} fails its CRC check")));
        }
        Ok(Next::Chunk(frame.tag))
    }

    fn io_error(&self, source: io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            action: "read",
            source,
        }
    }
}

/// What a file is if it is not a regular file.
fn irregular(file_type: FileType) -> Option<FileKind> {
    Some(if file_type.is_file() {
        return None;
    } else if file_type.is_dir() {
        FileKind::Directory
    } else if file_type.is_fifo() {
        FileKind::Fifo
    } else if file_type.is_socket() {
        FileKind::Socket
    } else if file_type.is_char_device() {
        FileKind::CharDevice
    } else if file_type.is_block_device() {
        FileKind::BlockDevice
    } else {
        FileKind::Other
    })
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

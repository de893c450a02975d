//! Reading chunk frames into one reused buffer, checking each against its CRC and, in files
//! that number their chunks, its place in the sequence.
use std::fs::{self, FileType, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, FileKind, Result};
use crate::format::{
    self, CHUNK_HEADER_LEN, ChunkHeader, Framing, MAX_JSON_LEN, MAX_PAYLOAD_LEN, TAG_END, TAG_HEAD,
};
use crate::reader::DamageKind;

/// What a record file can be read from: a file, or bytes in memory.
pub(crate) trait Input: Read + Seek + Send {}
impl<T: Read + Seek + Send> Input for T {}

/// A record file being read, frame by frame.
pub(crate) struct ChunkSource {
    path: PathBuf,
    input: BufReader<Box<dyn Input>>,
    /// Set once the prelude has been read.
    framing: Framing,
    /// The payload of the last chunk read; reused from chunk to chunk.
    payload: Vec<u8>,
}

/// The next chunk of the file, or why there is none.
pub(crate) enum Next {
    /// A sound chunk with this tag; its payload is [`ChunkSource::payload`].
    Chunk([u8; 4]),
    /// The file ends cleanly at a chunk boundary.
    Eof,
    /// The chunk is cut short, corrupt or out of place, for this reason.
    Damaged(DamageKind, String),
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
        Ok(ChunkSource::new(Box::new(file), path.to_path_buf()))
    }

    pub(crate) fn new(input: Box<dyn Input>, path: PathBuf) -> ChunkSource {
        ChunkSource {
            path,
            input: BufReader::with_capacity(64 * 1024, input),
            framing: Framing::Sequenced,
            payload: Vec::new(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub(crate) fn framing(&self) -> Framing {
        self.framing
    }

    pub(crate) fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    pub(crate) fn seek(&mut self, offset: u64) -> Result<()> {
        self.input
            .seek(SeekFrom::Start(offset))
            .map_err(|e| self.io_error(e))?;
        Ok(())
    }

    /// The length of the input, as it is now.
    pub(crate) fn len(&mut self) -> Result<u64> {
        self.input
            .seek(SeekFrom::End(0))
            .map_err(|e| self.io_error(e))
    }

    /// Reads until `buf` is full or the file ends; returns the number of bytes read.
    pub(crate) fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize> {
        read_up_to(&mut self.input, buf).map_err(|e| self.io_error(e))
    }

    /// Reads the next chunk, which should be chunk number `index` of the file (`HEAD` is 0),
    /// into [`ChunkSource::payload`], and checks its CRC and sequence number. Memory grows
    /// with the bytes actually read, not with the length the frame claims.
    pub(crate) fn next_chunk(&mut self, index: u64) -> Result<Next> {
        self.payload.clear();
        let header_len = self.framing.header_len();
        let mut frame = [0; CHUNK_HEADER_LEN];
        let n = self.read_up_to(&mut frame[..header_len])?;
        if n == 0 {
            return Ok(Next::Eof);
        }
        if n < header_len {
            return Ok(Next::Damaged(
                DamageKind::TruncatedChunk,
                format!("the file ends inside a chunk header, after {n} of its {header_len} bytes"),
            ));
        }
        let frame = ChunkHeader::decode(self.framing, &frame[..header_len]);
        let tag = format::tag_name(frame.tag);
        let len = frame.len as usize;
        let limit = if [TAG_HEAD, TAG_END].contains(&frame.tag) {
            MAX_JSON_LEN
        } else {
            MAX_PAYLOAD_LEN
        };
        if len > limit {
            return Ok(Next::Damaged(
                DamageKind::DamagedChunk,
                format!("chunk {tag} claims {len} bytes, more than its {limit}-byte limit"),
            ));
        }
        let n = (&mut self.input)
            .take(len as u64)
            .read_to_end(&mut self.payload)
            .map_err(|e| self.io_error(e))?;
        if n < len {
            return Ok(Next::Damaged(
                DamageKind::TruncatedChunk,
                format!("the file ends inside chunk {tag}, after {n} of its {len} bytes"),
            ));
        }
        if !frame.matches(&self.payload) {
            return Ok(Next::Damaged(
                DamageKind::DamagedChunk,
                format!("chunk {tag} fails its CRC check"),
            ));
        }
        if let Some(seq) = frame.seq.filter(|&seq| seq != index) {
            return Ok(Next::Damaged(
                DamageKind::OutOfSequence,
                format!(
                    "chunk {tag} is number {seq} of the file where number {index} was expected: \
                     a chunk is missing or out of order"
                ),
            ));
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

//! Reading chunk frames from a file into one reused buffer, checking each against its CRC.
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
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
    pub(crate) fn open(path: &Path) -> Result<ChunkSource> {
        let file = File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            action: "open",
            source,
        })?;
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

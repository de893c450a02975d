//! Writing a record file: records are gathered into one `EVTS` chunk at a time, and each chunk
//! goes to the file in a single positioned write, so memory stays bounded and a file cut short
//! at any moment holds every chunk written before.
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use uprof_common::{Header, Record};

use crate::error::{Error, RecordProblem, Result};
use crate::format::{
    self, CHUNK_HEADER_LEN, ChunkHeader, EVTS_TARGET_LEN, TAG_END, TAG_EVTS, TAG_HEAD,
};
use crate::output::{Output, Staged};
use crate::{FORMAT_VERSION, SessionEnd, SessionHeader};

/// Writes a record file. Dropping a `Writer` without [`Writer::finish`] flushes the pending
/// records (best effort) but writes no `END ` chunk: the file then reads as an interrupted
/// recording.
pub struct Writer {
    path: PathBuf,
    file: File,
    /// The temporary file the records go to until [`Writer::publish`].
    staged: Option<Staged>,
    /// Bytes of the file made of complete chunks; the next chunk is written here.
    committed: u64,
    /// The pending `EVTS` chunk: room for its frame header, then its records. Its capacity is
    /// allocated once and never grows.
    chunk: Vec<u8>,
    /// Sequence number of the next chunk: chunks are numbered from 0 (`HEAD`) in file order.
    next_seq: u64,
    records: u64,
}

impl Writer {
    /// Creates `path` with the prelude and the `HEAD` chunk, replacing whatever file or
    /// symbolic link was there in one step (see [`Output`]).
    pub fn create(path: impl AsRef<Path>, header: &SessionHeader) -> Result<Writer> {
        let mut writer = Writer::start(Output::create(path)?, header)?;
        writer.publish()?;
        Ok(writer)
    }

    /// Writes the prelude and the `HEAD` chunk to `output`. The file stays under its temporary
    /// name, and is removed if the writer is dropped, until [`Writer::publish`].
    pub fn start(output: Output, header: &SessionHeader) -> Result<Writer> {
        let Output { path, file, staged } = output;
        let header = SessionHeader {
            format_version: FORMAT_VERSION,
            ..header.clone()
        };
        let json = serde_json::to_vec(&header).expect("a SessionHeader always serialises");
        let mut start = format::prelude().to_vec();
        start.extend_from_slice(&ChunkHeader::for_payload(TAG_HEAD, 0, &json).encode());
        start.extend_from_slice(&json);

        let mut chunk = Vec::with_capacity(CHUNK_HEADER_LEN + EVTS_TARGET_LEN);
        chunk.resize(CHUNK_HEADER_LEN, 0);
        let mut writer = Writer {
            path,
            file,
            staged,
            committed: 0,
            chunk,
            next_seq: 0,
            records: 0,
        };
        writer.append(&start)?;
        Ok(writer)
    }

    /// Puts the file at its path: renames the temporary file over whatever was there. From
    /// then on every chunk written is in the file at its path. Nothing to do for a file
    /// written in place, or a second time.
    pub fn publish(&mut self) -> Result<()> {
        match self.staged.take() {
            Some(staged) => staged
                .publish(&self.path)
                .map_err(|source| self.io_error("create", source)),
            None => Ok(()),
        }
    }

    /// Adds one record (its bytes exactly as in the ring buffer). The record must be whole and
    /// valid: its header's `len` equals `record.len()` and [`Record::parse`] accepts it. Writes
    /// the pending chunk first if the record would not fit in it.
    pub fn push(&mut self, record: &[u8]) -> Result<()> {
        self.check(record)?;
        if self.chunk.len() + record.len() > CHUNK_HEADER_LEN + EVTS_TARGET_LEN {
            self.flush()?;
        }
        self.chunk.extend_from_slice(record);
        self.records += 1;
        Ok(())
    }

    /// Writes the pending records as one chunk (nothing if there are none). Once it returns,
    /// those records survive a crash of the process.
    pub fn flush(&mut self) -> Result<()> {
        if self.chunk.len() == CHUNK_HEADER_LEN {
            return Ok(());
        }
        let frame =
            ChunkHeader::for_payload(TAG_EVTS, self.next_seq, &self.chunk[CHUNK_HEADER_LEN..]);
        self.chunk[..CHUNK_HEADER_LEN].copy_from_slice(&frame.encode());
        let chunk = std::mem::take(&mut self.chunk);
        let written = self.append(&chunk);
        self.chunk = chunk;
        written?;
        self.chunk.truncate(CHUNK_HEADER_LEN);
        Ok(())
    }

    /// Writes the pending records and the `END ` chunk (with `records` set to
    /// [`Writer::records_written`]), then syncs the file to disk (a device that cannot be synced is left as it is).
    pub fn finish(mut self, end: &SessionEnd) -> Result<()> {
        self.flush()?;
        let end = SessionEnd {
            records: self.records,
            ..end.clone()
        };
        let json = serde_json::to_vec(&end).expect("a SessionEnd always serialises");
        let mut chunk = ChunkHeader::for_payload(TAG_END, self.next_seq, &json)
            .encode()
            .to_vec();
        chunk.extend_from_slice(&json);
        self.append(&chunk)?;
        match self.file.sync_all() {
            // A device written in place (`/dev/null`) has nothing to make durable.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
            result => result.map_err(|source| self.io_error("sync", source)),
        }
    }

    /// Records accepted by [`Writer::push`] so far, pending ones included.
    pub fn records_written(&self) -> u64 {
        self.records
    }

    fn check(&self, record: &[u8]) -> Result<()> {
        let problem = if record.len() < size_of::<Header>() {
            Some(RecordProblem::Invalid(uprof_common::ParseError::Short))
        } else {
            let header_len = u16::from_ne_bytes([record[2], record[3]]) as usize;
            if header_len != record.len() {
                Some(RecordProblem::LengthMismatch {
                    header_len,
                    slice_len: record.len(),
                })
            } else {
                Record::parse(record).err().map(RecordProblem::Invalid)
            }
        };
        match problem {
            None => Ok(()),
            Some(reason) => Err(Error::BadRecord {
                path: self.path.clone(),
                reason,
            }),
        }
    }

    /// Writes `bytes`, one chunk (after the prelude, for `HEAD`), after the committed chunks in one
    /// call. On failure (a full disk, say) it cuts the file back to the committed chunks, so a
    /// later write starts on a chunk boundary and reuses the same sequence number.
    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        match self.file.write_all_at(bytes, self.committed) {
            Ok(()) => {
                self.committed += bytes.len() as u64;
                self.next_seq += 1;
                Ok(())
            }
            Err(source) => {
                // Best effort: if this fails too, readers still stop at the partial chunk.
                let _ = self.file.set_len(self.committed);
                Err(self.io_error("write to", source))
            }
        }
    }

    fn io_error(&self, action: &'static str, source: io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            action,
            source,
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Errors cannot be reported from here; `flush` or `finish` report them.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use uprof_common::{Close, RecordBody};

    use super::*;

    /// The pending chunk never outgrows its first allocation, however many records are pushed
    /// without an explicit flush.
    #[test]
    fn pending_chunk_stays_within_one_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let header = crate::test_header();
        let mut w = Writer::create(dir.path().join("f"), &header).unwrap();
        let capacity = w.chunk.capacity();
        assert!(capacity >= CHUNK_HEADER_LEN + EVTS_TARGET_LEN);
        let record = Close {
            header: Header::user::<Close>(1, 2, 3),
            fd: 4,
            ret: 0,
        };
        let count = 4 * EVTS_TARGET_LEN / size_of::<Close>();
        for _ in 0..count {
            w.push(record.as_bytes()).unwrap();
            assert!(w.chunk.len() <= CHUNK_HEADER_LEN + EVTS_TARGET_LEN);
            assert_eq!(w.chunk.capacity(), capacity);
        }
        let pending = (w.chunk.len() - CHUNK_HEADER_LEN) as u64;
        let on_disk = count as u64 * size_of::<Close>() as u64 - pending;
        assert!(
            w.committed > on_disk,
            "full chunks were written as they filled"
        );
    }
}

//! Reading a record file chunk by chunk, into one reused buffer: memory is bounded by the
//! largest chunk, and reading stops cleanly at the first damaged chunk.
use std::fmt;
use std::path::Path;

use uprof_common::{Header, ParseError, Record};

use crate::chunks::{ChunkSource, Next};
use crate::error::{Error, Result};
use crate::format::{
    self, CHUNK_HEADER_LEN, FORMAT_VERSION, MAGIC, PRELUDE_LEN, TAG_END, TAG_EVTS, TAG_HEAD,
};
use crate::{SessionEnd, SessionHeader};

/// An open record file whose prelude and session header have been checked.
pub struct Reader {
    source: ChunkSource,
    header: SessionHeader,
    /// Offset of the first chunk after `HEAD`.
    data_start: u64,
}

/// What [`Reader::for_each_record`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadSummary {
    /// Records passed to the callback.
    pub records: u64,
    /// Records of kinds this build does not know (from a newer uprof), skipped.
    pub unknown_records: u64,
    /// The `END ` chunk; `None` if the recording did not finish (crash, kill, full disk).
    pub end: Option<SessionEnd>,
    /// Where and why reading stopped early; `None` if the file was read to its end.
    pub damage: Option<Damage>,
}

/// The first damaged chunk of a file. Every record before it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the damaged chunk's start in the file.
    pub offset: u64,
    /// Intact chunks before the damage, `HEAD` included.
    pub chunks_read: u64,
    /// What is wrong, as a clause (no capital, no full stop).
    pub reason: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the record file is damaged at byte {} ({}), so reading stopped there after {} intact chunks",
            self.offset, self.reason, self.chunks_read
        )
    }
}

impl ReadSummary {
    /// One sentence for the user if the file is damaged or unfinished, `None` if it is whole.
    pub fn warning(&self) -> Option<String> {
        if let Some(damage) = &self.damage {
            Some(format!(
                "{damage}; the {} records before the damage are intact.",
                self.records
            ))
        } else if self.end.is_none() {
            Some(format!(
                "the recording did not finish (no END chunk: it was interrupted, crashed or ran out of disk); \
                 all {} records up to the last complete chunk were read.",
                self.records
            ))
        } else {
            None
        }
    }
}

impl Reader {
    /// Opens `path` and reads its prelude and session header. Refuses anything but a regular
    /// file (a FIFO would block, a device need not end) with [`Error::NotAFile`].
    pub fn open(path: impl AsRef<Path>) -> Result<Reader> {
        let mut source = ChunkSource::open(path.as_ref())?;
        check_prelude(&mut source)?;
        let header = read_header(&mut source)?;
        let data_start = (PRELUDE_LEN + CHUNK_HEADER_LEN + source.payload().len()) as u64;
        Ok(Reader {
            source,
            header,
            data_start,
        })
    }

    pub fn header(&self) -> &SessionHeader {
        &self.header
    }

    pub fn path(&self) -> &Path {
        self.source.path()
    }

    /// Calls `f` with every record, in file order, chunk by chunk. Stops at the first damaged
    /// chunk and reports it in [`ReadSummary::damage`]: records of a chunk that fails its CRC
    /// are never passed on, while a chunk that passes its CRC but holds a malformed record
    /// gives its records up to that one. Can be called again to read from the start.
    /// Errs only if the file cannot be read (an I/O error, not damage).
    pub fn for_each_record(&mut self, mut f: impl FnMut(&Record)) -> Result<ReadSummary> {
        self.source.seek(self.data_start)?;
        let mut summary = ReadSummary {
            records: 0,
            unknown_records: 0,
            end: None,
            damage: None,
        };
        let mut offset = self.data_start;
        let mut chunks_read = 1;
        while summary.end.is_none() {
            let problem = match self.source.next_chunk()? {
                Next::Eof => break,
                Next::Damaged(reason) => Some(reason),
                Next::Chunk(TAG_EVTS) => {
                    records_in(self.source.payload(), &mut summary, &mut f).err()
                }
                Next::Chunk(TAG_END) => self.read_end(&mut summary)?,
                Next::Chunk(TAG_HEAD) => Some("it is a second HEAD chunk".to_string()),
                // An optional chunk type from a newer uprof: skip it.
                Next::Chunk(_) => None,
            };
            if let Some(reason) = problem {
                summary.damage = Some(Damage {
                    offset,
                    chunks_read,
                    reason,
                });
                break;
            }
            offset += (CHUNK_HEADER_LEN + self.source.payload().len()) as u64;
            chunks_read += 1;
        }
        Ok(summary)
    }

    /// Reads the `END ` chunk into `summary`; returns what is wrong with it or after it.
    fn read_end(&mut self, summary: &mut ReadSummary) -> Result<Option<String>> {
        let end: SessionEnd = match serde_json::from_slice(self.source.payload()) {
            Ok(end) => end,
            Err(e) => {
                return Ok(Some(format!(
                    "the END chunk is not a valid session end ({e})"
                )));
            }
        };
        let counted = summary.records + summary.unknown_records;
        let problem = if end.records != counted {
            Some(format!(
                "the END chunk says {} records were written but the file holds {counted}",
                end.records
            ))
        } else if self.source.read_up_to(&mut [0])? != 0 {
            Some("there is data after the END chunk".to_string())
        } else {
            None
        };
        summary.end = Some(end);
        Ok(problem)
    }
}

fn check_prelude(source: &mut ChunkSource) -> Result<()> {
    let mut prelude = [0; PRELUDE_LEN];
    let n = source.read_up_to(&mut prelude)?;
    let path = source.path().to_path_buf();
    let magic_len = n.min(MAGIC.len());
    if prelude[..magic_len] != MAGIC[..magic_len] {
        return Err(Error::NotARecordFile { path });
    }
    if n < PRELUDE_LEN {
        let reason = if n == 0 {
            "the file is empty".to_string()
        } else {
            format!("the file ends after {n} bytes")
        };
        return Err(Error::BadHeader { path, reason });
    }
    let version = u16::from_le_bytes([prelude[8], prelude[9]]);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion { path, version });
    }
    Ok(())
}

fn read_header(source: &mut ChunkSource) -> Result<SessionHeader> {
    let reason = match source.next_chunk()? {
        Next::Chunk(TAG_HEAD) => match serde_json::from_slice(source.payload()) {
            Ok(header) => return Ok(header),
            Err(e) => format!("the HEAD chunk is not a valid session header ({e})"),
        },
        Next::Chunk(tag) => format!("the first chunk is {}, not \"HEAD\"", format::tag_name(tag)),
        Next::Eof => "the file ends before the HEAD chunk".to_string(),
        Next::Damaged(reason) => reason,
    };
    Err(Error::BadHeader {
        path: source.path().to_path_buf(),
        reason,
    })
}

/// Passes the records of an `EVTS` payload to `f`, skipping unknown kinds. Errs with a reason
/// at the first malformed record.
fn records_in(
    payload: &[u8],
    summary: &mut ReadSummary,
    f: &mut impl FnMut(&Record),
) -> Result<(), String> {
    let mut pos = 0;
    while pos < payload.len() {
        match Record::parse(&payload[pos..]) {
            Ok((record, len)) => {
                f(&record);
                summary.records += 1;
                pos += len;
            }
            // Known to be whole: parse checks the length before the kind.
            Err(ParseError::UnknownKind(_))
                if declared_len(&payload[pos..]) >= size_of::<Header>() =>
            {
                summary.unknown_records += 1;
                pos += declared_len(&payload[pos..]);
            }
            Err(e) => return Err(format!("{e} at byte {pos} of an EVTS chunk")),
        }
    }
    Ok(())
}

/// The `len` field of the record header at the start of `bytes` (at least a header's worth).
fn declared_len(bytes: &[u8]) -> usize {
    u16::from_ne_bytes([bytes[2], bytes[3]]) as usize
}

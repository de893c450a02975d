//! Reading a record file chunk by chunk, into one reused buffer: memory is bounded by the
//! largest chunk, and reading stops cleanly at the first damaged chunk.
use std::fmt;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use serde::Serialize;
use uprof_common::{Header, ParseError, Record};

use crate::chunks::{ChunkSource, Next};
use crate::error::{Error, Result, quoted_from_file};
use crate::format::{Framing, MAGIC, PRELUDE_LEN, TAG_END, TAG_EVTS, TAG_HEAD, tag_name};
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

/// The first damage in a file. Every record before it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub kind: DamageKind,
    /// Byte offset where the damage starts: the start of the damaged chunk, or of the data
    /// after the `END ` chunk.
    pub offset: u64,
    /// Length of the file when reading stopped: no record was read from `offset` to here.
    pub file_len: u64,
    /// Intact chunks before the damage, `HEAD` included.
    pub chunks_read: u64,
    /// What is wrong, as a clause (no capital, no full stop).
    pub reason: String,
}

/// What is wrong where reading stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageKind {
    /// The file ends inside a chunk: the recorder was killed while writing, or the disk filled.
    TruncatedChunk,
    /// A chunk fails its CRC check, claims an impossible length, or holds something malformed.
    DamagedChunk,
    /// An intact chunk is not the one due next: chunks are missing or were moved.
    OutOfSequence,
    /// The `END ` chunk counts other records than the file holds (a missing chunk in a
    /// version 1 file, which has no sequence numbers).
    RecordCountMismatch,
    /// There are bytes after the `END ` chunk.
    DataAfterEnd,
}

/// Whether a file was read whole: the part of [`ReadSummary`] a report states, serialised as
/// `{"complete": false, "records_read": 120, "reason": "out_of_sequence",
/// "damaged_bytes": {"start": 4096, "end": 9000}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Completeness {
    /// The file was read to a valid `END ` chunk and nothing is damaged: `reason` is `None`.
    pub complete: bool,
    /// Records read ([`ReadSummary::records`]).
    pub records_read: u64,
    /// Why the file is not complete; `None` if it is.
    pub reason: Option<PartialReason>,
    /// The bytes from the damage to the end of the file, which gave no records (for
    /// [`DamageKind::RecordCountMismatch`]: the `END ` chunk that disagrees). `None` if nothing
    /// is damaged.
    pub damaged_bytes: Option<ByteRange>,
}

/// Why a file is not complete. Serialised as one snake-case string: `"no_end"`, or the
/// [`DamageKind`]'s (`"truncated_chunk"`, `"damaged_chunk"`, `"out_of_sequence"`,
/// `"record_count_mismatch"`, `"data_after_end"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialReason {
    /// The file ends at a chunk boundary without an `END ` chunk: the recording was
    /// interrupted, crashed or ran out of disk. Every chunk in the file was read.
    NoEnd,
    #[serde(untagged)]
    Damaged(DamageKind),
}

/// Bytes `start..end` of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
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

    /// Whether the file was read whole and, if not, why and which bytes gave no records.
    pub fn completeness(&self) -> Completeness {
        let (reason, damaged_bytes) = match (&self.damage, &self.end) {
            (Some(damage), _) => (
                Some(PartialReason::Damaged(damage.kind)),
                Some(ByteRange {
                    start: damage.offset,
                    end: damage.file_len.max(damage.offset),
                }),
            ),
            (None, None) => (Some(PartialReason::NoEnd), None),
            (None, Some(_)) => (None, None),
        };
        Completeness {
            complete: reason.is_none(),
            records_read: self.records,
            reason,
            damaged_bytes,
        }
    }
}

impl Reader {
    /// Opens `path` and reads its prelude and session header. Refuses anything but a regular
    /// file (a FIFO would block, a device need not end) with [`Error::NotAFile`].
    pub fn open(path: impl AsRef<Path>) -> Result<Reader> {
        Reader::start(ChunkSource::open(path.as_ref())?)
    }

    /// Reads a record file from `input` (an in-memory `Cursor`, say), named `path` in messages.
    pub fn from_input(
        input: impl Read + Seek + Send + 'static,
        path: impl Into<PathBuf>,
    ) -> Result<Reader> {
        Reader::start(ChunkSource::new(Box::new(input), path.into()))
    }

    fn start(mut source: ChunkSource) -> Result<Reader> {
        check_prelude(&mut source)?;
        let header = read_header(&mut source)?;
        let data_start =
            (PRELUDE_LEN + source.framing().header_len() + source.payload().len()) as u64;
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
    /// or misplaced chunk and reports it in [`ReadSummary::damage`]: records of a chunk that
    /// fails its CRC are never passed on, while a chunk that passes its CRC but holds a
    /// malformed record gives its records up to that one. Can be called again to read from the
    /// start. Errs only if the file cannot be read (an I/O error, not damage).
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
        let problem = loop {
            let problem = match self.source.next_chunk(chunks_read)? {
                Next::Eof => break None,
                Next::Damaged(kind, reason) => Some((kind, reason)),
                Next::Chunk(TAG_EVTS) => records_in(self.source.payload(), &mut summary, &mut f)
                    .err()
                    .map(|reason| (DamageKind::DamagedChunk, reason)),
                Next::Chunk(TAG_END) => self.read_end(&mut summary),
                Next::Chunk(TAG_HEAD) => Some((
                    DamageKind::DamagedChunk,
                    "it is a second HEAD chunk".to_string(),
                )),
                // An optional chunk type from a newer uprof: skip it.
                Next::Chunk(_) => None,
            };
            if problem.is_some() {
                break problem;
            }
            offset += (self.source.framing().header_len() + self.source.payload().len()) as u64;
            chunks_read += 1;
            if summary.end.is_some() {
                let trailing = self.source.read_up_to(&mut [0])? != 0;
                break trailing.then(|| {
                    (
                        DamageKind::DataAfterEnd,
                        "there is data after the END chunk".to_string(),
                    )
                });
            }
        };
        if let Some((kind, reason)) = problem {
            summary.damage = Some(Damage {
                kind,
                offset,
                file_len: self.source.len()?,
                chunks_read,
                reason,
            });
        }
        Ok(summary)
    }

    /// Reads the `END ` chunk into `summary`; returns what is wrong with it.
    fn read_end(&self, summary: &mut ReadSummary) -> Option<(DamageKind, String)> {
        let end: SessionEnd = match serde_json::from_slice(self.source.payload()) {
            Ok(end) => end,
            Err(e) => {
                let reason = format!(
                    "the END chunk is not a valid session end ({})",
                    quoted_from_file(&e.to_string())
                );
                return Some((DamageKind::DamagedChunk, reason));
            }
        };
        let counted = summary.records + summary.unknown_records;
        let problem = (end.records != counted).then(|| {
            (
                DamageKind::RecordCountMismatch,
                format!(
                    "the END chunk says {} records were written but the file holds {counted}",
                    end.records
                ),
            )
        });
        summary.end = Some(end);
        problem
    }
}

/// Checks the magic and sets the source's framing from the format version.
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
    let framing =
        Framing::of_version(version).ok_or(Error::UnsupportedVersion { path, version })?;
    source.set_framing(framing);
    Ok(())
}

fn read_header(source: &mut ChunkSource) -> Result<SessionHeader> {
    let reason = match source.next_chunk(0)? {
        Next::Chunk(TAG_HEAD) => match serde_json::from_slice(source.payload()) {
            Ok(header) => return Ok(header),
            Err(e) => format!(
                "the HEAD chunk is not a valid session header ({})",
                quoted_from_file(&e.to_string())
            ),
        },
        Next::Chunk(tag) => format!("the first chunk is {}, not \"HEAD\"", tag_name(tag)),
        Next::Eof => "the file ends before the HEAD chunk".to_string(),
        Next::Damaged(_, reason) => reason,
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

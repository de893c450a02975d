//! The file's framing: the prelude and the chunk frame. docs/record-format.md describes the same
//! layout byte by byte; keep the two in step.

/// The first 8 bytes of every record file.
pub const MAGIC: [u8; 8] = *b"UPROFREC";

/// The format version this build writes (a little-endian `u16` after [`MAGIC`]).
pub const FORMAT_VERSION: u16 = 2;

/// The oldest format version this build still reads: version 1 files lack chunk sequence
/// numbers and read as before.
pub const OLDEST_READABLE_VERSION: u16 = 1;

/// Bytes before the first chunk: [`MAGIC`] and the format version.
pub const PRELUDE_LEN: usize = MAGIC.len() + 2;

/// Bytes of a chunk frame before its payload: tag, payload length, sequence number, CRC-32.
pub const CHUNK_HEADER_LEN: usize = 20;

/// Bytes of a version 1 chunk frame: tag, payload length, CRC-32 (no sequence number).
pub const V1_CHUNK_HEADER_LEN: usize = 12;

/// Chunk tag of the session header (JSON [`crate::SessionHeader`]), always the first chunk.
pub const TAG_HEAD: [u8; 4] = *b"HEAD";
/// Chunk tag of a run of records, concatenated as produced.
pub const TAG_EVTS: [u8; 4] = *b"EVTS";
/// Chunk tag of the session end (JSON [`crate::SessionEnd`]), the last chunk of a finished file.
pub const TAG_END: [u8; 4] = *b"END ";

/// The writer closes an `EVTS` chunk before its payload would exceed this many bytes.
pub const EVTS_TARGET_LEN: usize = 256 * 1024;

/// Readers refuse chunks whose payload is longer than this: such a length is taken for
/// corruption, and it bounds the reader's memory.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;

/// Readers refuse `HEAD` and `END ` chunks longer than this (real ones take a few KiB): it bounds
/// what parsing their JSON can allocate.
pub const MAX_JSON_LEN: usize = 1024 * 1024;

/// The prelude of a file written by this build.
pub(crate) fn prelude() -> [u8; PRELUDE_LEN] {
    let mut p = [0; PRELUDE_LEN];
    p[..MAGIC.len()].copy_from_slice(&MAGIC);
    p[MAGIC.len()..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    p
}

/// How chunks are framed in a file of a given format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Version 1: no sequence numbers.
    V1,
    /// Version 2: each chunk carries its index in the file.
    Sequenced,
}

impl Framing {
    /// The framing of `version`, if this build reads it.
    pub(crate) fn of_version(version: u16) -> Option<Framing> {
        match version {
            1 => Some(Framing::V1),
            2 => Some(Framing::Sequenced),
            _ => None,
        }
    }

    pub(crate) fn header_len(self) -> usize {
        match self {
            Framing::V1 => V1_CHUNK_HEADER_LEN,
            Framing::Sequenced => CHUNK_HEADER_LEN,
        }
    }
}

/// A decoded chunk frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkHeader {
    pub(crate) tag: [u8; 4],
    pub(crate) len: u32,
    /// The chunk's index in the file (`HEAD` is 0); `None` in version 1 files.
    pub(crate) seq: Option<u64>,
    pub(crate) crc: u32,
}

impl ChunkHeader {
    /// The frame header of chunk number `seq`, holding `payload`.
    pub(crate) fn for_payload(tag: [u8; 4], seq: u64, payload: &[u8]) -> ChunkHeader {
        let len = u32::try_from(payload.len()).expect("chunk payloads are bounded far below 4 GiB");
        let mut header = ChunkHeader {
            tag,
            len,
            seq: Some(seq),
            crc: 0,
        };
        header.crc = header.checksum(payload);
        header
    }

    /// The header in this build's framing ([`Framing::Sequenced`]).
    pub(crate) fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let seq = self.seq.expect("this build writes sequence numbers");
        let mut b = [0; CHUNK_HEADER_LEN];
        b[0..4].copy_from_slice(&self.tag);
        b[4..8].copy_from_slice(&self.len.to_le_bytes());
        b[8..16].copy_from_slice(&seq.to_le_bytes());
        b[16..20].copy_from_slice(&self.crc.to_le_bytes());
        b
    }

    /// Decodes a frame header: `b` holds exactly [`Framing::header_len`] bytes.
    pub(crate) fn decode(framing: Framing, b: &[u8]) -> ChunkHeader {
        let word = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        let (seq, crc_at) = match framing {
            Framing::V1 => (None, 8),
            Framing::Sequenced => (Some(u64::from_le_bytes(b[8..16].try_into().unwrap())), 16),
        };
        ChunkHeader {
            tag: b[0..4].try_into().unwrap(),
            len: word(4),
            seq,
            crc: word(crc_at),
        }
    }

    /// Whether `payload` is the one this header was written for.
    pub(crate) fn matches(&self, payload: &[u8]) -> bool {
        self.checksum(payload) == self.crc
    }

    /// CRC-32 (IEEE) of the tag, the little-endian length, the little-endian sequence number (if
    /// any) and the payload: covering the whole frame means a damaged frame header is caught like
    /// a damaged payload.
    fn checksum(&self, payload: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&self.tag);
        h.update(&self.len.to_le_bytes());
        if let Some(seq) = self.seq {
            h.update(&seq.to_le_bytes());
        }
        h.update(payload);
        h.finalize()
    }
}

/// A tag for messages: its text when printable, else its bytes.
pub(crate) fn tag_name(tag: [u8; 4]) -> String {
    if tag.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(&tag))
    } else {
        format!("{tag:02x?}")
    }
}

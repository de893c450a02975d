//! The file's framing: the prelude and the chunk frame. docs/record-format.md describes the same
//! layout byte by byte; keep the two in step.

/// The first 8 bytes of every record file.
pub const MAGIC: [u8; 8] = *b"UPROFREC";

/// The format version this build writes and reads (a little-endian `u16` after [`MAGIC`]).
pub const FORMAT_VERSION: u16 = 1;

/// Bytes before the first chunk: [`MAGIC`] and the format version.
pub const PRELUDE_LEN: usize = MAGIC.len() + 2;

/// Bytes of a chunk frame before its payload: tag, payload length, CRC-32.
pub const CHUNK_HEADER_LEN: usize = 12;

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

/// The prelude of a file written by this build.
pub(crate) fn prelude() -> [u8; PRELUDE_LEN] {
    let mut p = [0; PRELUDE_LEN];
    p[..MAGIC.len()].copy_from_slice(&MAGIC);
    p[MAGIC.len()..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    p
}

/// A decoded chunk frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkHeader {
    pub(crate) tag: [u8; 4],
    pub(crate) len: u32,
    pub(crate) crc: u32,
}

impl ChunkHeader {
    /// The frame header of a chunk holding `payload`.
    pub(crate) fn for_payload(tag: [u8; 4], payload: &[u8]) -> ChunkHeader {
        let len = u32::try_from(payload.len()).expect("chunk payloads are bounded far below 4 GiB");
        ChunkHeader {
            tag,
            len,
            crc: checksum(tag, len, payload),
        }
    }

    pub(crate) fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut b = [0; CHUNK_HEADER_LEN];
        b[0..4].copy_from_slice(&self.tag);
        b[4..8].copy_from_slice(&self.len.to_le_bytes());
        b[8..12].copy_from_slice(&self.crc.to_le_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8; CHUNK_HEADER_LEN]) -> ChunkHeader {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        ChunkHeader {
            tag: [b[0], b[1], b[2], b[3]],
            len: word(4),
            crc: word(8),
        }
    }

    /// Whether `payload` is the one this header was written for.
    pub(crate) fn matches(&self, payload: &[u8]) -> bool {
        checksum(self.tag, self.len, payload) == self.crc
    }
}

/// CRC-32 (IEEE) of the tag, the little-endian length and the payload: covering the tag and the
/// length means a damaged frame header is caught like a damaged payload.
fn checksum(tag: [u8; 4], len: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&tag);
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// A tag for messages: its text when printable, else its bytes.
pub(crate) fn tag_name(tag: [u8; 4]) -> String {
    if tag.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(&tag))
    } else {
        format!("{tag:02x?}")
    }
}

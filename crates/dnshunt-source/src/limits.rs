//! The limits that keep reading bounded whatever the input: how long one record may be, how far a
//! compressed input may expand, how much of a stream that needs random access is held in memory,
//! and how deeply containers may nest.
//!
//! Each limit is a named constant (the default) and a field of [`Limits`] (so tests can use small
//! values). What each does when it is reached, and the message it gives, is written beside it and
//! in `docs/reliability.md`. Reaching a limit costs the record or the rest of that one input,
//! counted and reported with its file name; the inputs after it are read.

/// The longest record: one JSON line, one element of a JSON document (an event of an array, a
/// hit of a search response, a top-level object), or one XML `<Event>`.
///
/// A longer line is skipped ("line longer than 16777216 bytes; skipped"); a longer document
/// element or XML event is skipped as a bad record ("... larger than 16777216 bytes ...") and
/// reading goes on with the next one. This also bounds what one document in memory can cost.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// How many times its compressed size a `.gz` or `.zip` input may expand ...
pub const MAX_DECOMPRESSION_RATIO: u64 = 100;

/// ... once it has produced more than this many bytes (small, highly compressible files, such as
/// an EVTX log that is mostly empty chunks, are never refused). Past both, the input is refused
/// as a decompression bomb: "decompression bomb refused: ... expanded to more than 100 times its
/// compressed size ...; the rest is not read" (a file problem, with the file name); what was read
/// before stays.
pub const DECOMPRESSION_FLOOR: u64 = 1 << 30;

/// EVTX and `.zip` read from a `.gz`, a `.zip` member or standard input need random access: up to
/// this many bytes they are held in memory (Sysmon's own log is 64 MiB unless configured larger),
/// beyond it they are spilled to an unnamed temporary file (in `TMPDIR`), so memory stays
/// bounded whatever their size.
pub const MAX_IN_MEMORY_STREAM: usize = 64 << 20;

/// The most a spilled stream may take on disk. A longer stream is cut here: "... larger than
/// 16 GiB, the most dnshunt copies to a temporary file; decompress or save it to a file and read
/// that"; an EVTX keeps the records of the part that was read.
pub const MAX_SPILL_BYTES: u64 = 16 << 30;

/// Containers inside containers (`.gz` in `.zip` in `.gz` ...): deeper nesting is refused
/// ("containers nested more than 4 deep"), a file problem; the other members are read.
pub const MAX_CONTAINER_DEPTH: usize = 4;

/// The limits in force for one read (the constants above unless a test changes them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// [`MAX_RECORD_BYTES`].
    pub max_record: usize,
    /// [`MAX_DECOMPRESSION_RATIO`].
    pub max_ratio: u64,
    /// [`DECOMPRESSION_FLOOR`].
    pub ratio_floor: u64,
    /// [`MAX_IN_MEMORY_STREAM`].
    pub in_memory: usize,
    /// [`MAX_SPILL_BYTES`].
    pub max_spill: u64,
    /// [`MAX_CONTAINER_DEPTH`].
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record: MAX_RECORD_BYTES,
            max_ratio: MAX_DECOMPRESSION_RATIO,
            ratio_floor: DECOMPRESSION_FLOOR,
            in_memory: MAX_IN_MEMORY_STREAM,
            max_spill: MAX_SPILL_BYTES,
            max_depth: MAX_CONTAINER_DEPTH,
        }
    }
}

/// Bytes in a short human form for messages (`16 MiB`, `1.5 GiB`).
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(12), "12 bytes");
        assert_eq!(human(16 << 20), "16 MiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }
}

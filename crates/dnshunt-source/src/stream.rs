//! Byte streams with bounds: counting what a container reads from disk, refusing decompression
//! bombs, and giving random access to a stream (EVTX, `.zip`) without holding it whole in memory.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Cursor, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::limits::{human, Limits};

/// A shared count of bytes.
pub(crate) type Counter = Rc<Cell<u64>>;

/// Counts the bytes taken from a buffered reader: the compressed side of a container.
pub(crate) struct Counted<R> {
    inner: R,
    count: Counter,
}

impl<R> Counted<R> {
    pub(crate) fn new(inner: R, count: Counter) -> Self {
        Counted { inner, count }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.count.set(self.count.get() + amount as u64);
        self.inner.consume(amount);
    }
}

/// The decompressed side of a container: fails with a clear error once it has produced more than
/// [`Limits::ratio_floor`] bytes and more than [`Limits::max_ratio`] times the compressed bytes
/// read so far (`raw`). `produced` may be shared by the members of one archive.
pub(crate) struct Bounded<R> {
    inner: R,
    raw: Counter,
    produced: Counter,
    ratio: u64,
    floor: u64,
    what: &'static str,
}

impl<R> Bounded<R> {
    pub(crate) fn new(inner: R, raw: Counter, produced: Counter, limits: &Limits, what: &'static str) -> Self {
        Bounded {
            inner,
            raw,
            produced,
            ratio: limits.max_ratio,
            floor: limits.ratio_floor,
            what,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let produced = self.produced.get();
        let raw = self.raw.get().max(1);
        if produced > self.floor && produced > raw.saturating_mul(self.ratio) {
            return Err(io::Error::other(format!(
                "decompression bomb refused: the {} expanded to more than {} times its compressed size ({} from {}; limit: {} times beyond {})",
                self.what,
                self.ratio,
                human(produced),
                human(raw),
                self.ratio,
                human(self.floor)
            )));
        }
        let n = self.inner.read(buf)?;
        self.produced.set(produced + n as u64);
        Ok(n)
    }
}

/// A stream copied for random access: in memory, or in a temporary file when it is large.
pub(crate) enum Seekable {
    Memory(Vec<u8>),
    Spilled(Spill),
}

impl Seekable {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Seekable::Memory(bytes) => bytes.len() as u64,
            Seekable::Spilled(spill) => spill.len,
        }
    }

    /// A reader over the copy, from its start.
    pub(crate) fn into_reader(self) -> io::Result<SeekableReader> {
        Ok(match self {
            Seekable::Memory(bytes) => SeekableReader::Memory(Cursor::new(bytes)),
            Seekable::Spilled(mut spill) => {
                spill.file.rewind()?;
                SeekableReader::Spilled(BufReader::with_capacity(1 << 16, spill))
            }
        })
    }
}

/// Reads a [`Seekable`] (a temporary file is removed when its reader is dropped).
pub(crate) enum SeekableReader {
    Memory(Cursor<Vec<u8>>),
    Spilled(BufReader<Spill>),
}

impl Read for SeekableReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SeekableReader::Memory(c) => c.read(buf),
            SeekableReader::Spilled(r) => r.read(buf),
        }
    }
}

impl Seek for SeekableReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            SeekableReader::Memory(c) => c.seek(pos),
            SeekableReader::Spilled(r) => r.seek(pos),
        }
    }
}

/// A temporary file holding a stream. It has no name once created where the system allows it
/// (Unix); elsewhere it is removed when dropped.
pub(crate) struct Spill {
    file: File,
    len: u64,
    /// Still to be removed (when it could not be removed right after creation).
    path: Option<PathBuf>,
}

impl Read for Spill {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for Spill {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn create_spill() -> io::Result<Spill> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("dnshunt-spill-{}-{n}.tmp", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    // On Unix the open file outlives its name: nothing is left behind, even after a crash.
    let path = if cfg!(unix) && std::fs::remove_file(&path).is_ok() { None } else { Some(path) };
    Ok(Spill { file, len: 0, path })
}

/// What buffering a stream for random access gave: the copy, and why it stopped early (a read
/// error, a decompression bomb, or the spill limit), with what was read before kept.
pub(crate) struct Buffered {
    pub(crate) data: Seekable,
    pub(crate) stopped: Option<String>,
}

/// Copies `reader` for random access: into memory up to [`Limits::in_memory`] bytes, then into a
/// temporary file up to [`Limits::max_spill`] bytes. Fails only when nothing could be read.
pub(crate) fn buffer_for_seeking(reader: &mut dyn Read, limits: &Limits) -> io::Result<Buffered> {
    let mut bytes = Vec::new();
    let first = reader.take(limits.in_memory as u64 + 1).read_to_end(&mut bytes);
    if let Err(e) = first {
        if bytes.is_empty() {
            return Err(e);
        }
        return Ok(Buffered {
            data: Seekable::Memory(bytes),
            stopped: Some(e.to_string()),
        });
    }
    if bytes.len() <= limits.in_memory {
        return Ok(Buffered {
            data: Seekable::Memory(bytes),
            stopped: None,
        });
    }
    let mut spill = match create_spill() {
        Ok(s) => s,
        Err(e) => {
            bytes.truncate(limits.in_memory);
            return Ok(Buffered {
                data: Seekable::Memory(bytes),
                stopped: Some(format!(
                    "the stream is larger than {} (held in memory) and no temporary file could be made for the rest ({e}); only its first {} were read",
                    human(limits.in_memory as u64),
                    human(limits.in_memory as u64)
                )),
            });
        }
    };
    let mut stopped = None;
    {
        let mut out = BufWriter::with_capacity(1 << 20, &mut spill.file);
        let mut written = 0u64;
        let mut write = |chunk: &[u8], written: &mut u64| -> io::Result<()> {
            out.write_all(chunk)?;
            *written += chunk.len() as u64;
            Ok(())
        };
        if let Err(e) = write(&bytes, &mut written) {
            stopped = Some(format!("cannot write a temporary file: {e}"));
        }
        drop(bytes);
        let mut buf = vec![0u8; 1 << 20];
        while stopped.is_none() {
            if written >= limits.max_spill {
                let mut probe = [0u8; 1];
                if matches!(reader.read(&mut probe), Ok(n) if n > 0) {
                    stopped = Some(format!(
                        "the stream is larger than {}, the most dnshunt copies to a temporary file; decompress or save it to a file and read that",
                        human(limits.max_spill)
                    ));
                }
                break;
            }
            let want = buf.len().min((limits.max_spill - written) as usize);
            match reader.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => {
                    if let Err(e) = write(&buf[..n], &mut written) {
                        stopped = Some(format!("cannot write a temporary file: {e}"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => stopped = Some(e.to_string()),
            }
        }
        if let Err(e) = out.flush() {
            stopped.get_or_insert(format!("cannot write a temporary file: {e}"));
        }
        drop(out);
        spill.len = written;
    }
    Ok(Buffered {
        data: Seekable::Spilled(spill),
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_limits() -> Limits {
        Limits {
            in_memory: 1000,
            max_spill: 5000,
            ratio_floor: 2000,
            max_ratio: 10,
            ..Limits::default()
        }
    }

    #[test]
    fn small_streams_stay_in_memory_and_large_ones_spill() {
        let limits = small_limits();
        let small = buffer_for_seeking(&mut &[7u8; 1000][..], &limits).unwrap();
        assert!(matches!(small.data, Seekable::Memory(ref b) if b.len() == 1000));
        assert!(small.stopped.is_none());

        let bytes: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let large = buffer_for_seeking(&mut &bytes[..], &limits).unwrap();
        assert!(matches!(large.data, Seekable::Spilled(_)));
        assert!(large.stopped.is_none());
        assert_eq!(large.data.len(), 3000);
        let mut reader = large.data.into_reader().unwrap();
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        assert_eq!(back, bytes);
        reader.seek(SeekFrom::Start(2999)).unwrap();
        let mut one = [0u8; 1];
        reader.read_exact(&mut one).unwrap();
        assert_eq!(one[0], bytes[2999]);
    }

    #[test]
    fn a_stream_longer_than_the_spill_limit_is_cut_with_a_reason() {
        let limits = small_limits();
        let cut = buffer_for_seeking(&mut io::repeat(0).take(1 << 20), &limits).unwrap();
        assert_eq!(cut.data.len(), 5000);
        assert!(cut.stopped.unwrap().contains("larger than"));
    }

    #[test]
    fn decompression_beyond_the_ratio_and_the_floor_is_refused() {
        let limits = small_limits();
        let raw: Counter = Rc::new(Cell::new(100));
        let produced: Counter = Rc::default();
        // 100 compressed bytes may give max(2000, 10 * 100) bytes.
        let mut bounded = Bounded::new(io::repeat(b'a'), raw.clone(), produced.clone(), &limits, "gzip stream");
        let mut out = Vec::new();
        let err = (&mut bounded).take(1 << 20).read_to_end(&mut out).unwrap_err();
        assert!(err.to_string().contains("decompression bomb refused"), "{err}");
        assert!(out.len() >= 2000 && out.len() < 2000 + 65536, "{}", out.len());
        // More compressed input raises the allowance.
        raw.set(1000);
        let mut more = Vec::new();
        (&mut bounded).take(7000).read_to_end(&mut more).unwrap();
        assert_eq!(more.len(), 7000);
    }
}

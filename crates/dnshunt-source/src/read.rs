//! Finding inputs, recognising formats, and cutting them into jobs for the workers.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{bounded, Receiver, Sender};
use dnshunt_core::{Origin, Timestamp};

use crate::json_doc;
use crate::limits::Limits;
use crate::report::{Problem, ProblemKind};
use crate::stream::{buffer_for_seeking, Bounded, Counted, Counter};
use crate::work::{self, DocJob, DocPiece, FileCtx, Job, Message};
use crate::xml_reader;

/// The input format, when the user wants to override detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InputFormat {
    #[default]
    Auto,
    Evtx,
    Json,
    Xml,
}

/// An input: a path (file or directory) or standard input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Path(PathBuf),
    Stdin,
}

impl Input {
    /// `-` means standard input.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }
}

/// How to read.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    pub format: InputFormat,
    /// Parser threads (0: one per core).
    pub threads: usize,
    /// Bytes of line-delimited JSON (or of a document's records) per job.
    pub block_size: usize,
    /// What one record, one container and one stream may cost (see [`crate::limits`]).
    pub limits: Limits,
    /// Only events at or after / before these times are kept.
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: InputFormat::Auto,
            threads: 0,
            block_size: 1 << 20,
            limits: Limits::default(),
            since: None,
            until: None,
        }
    }
}

/// Starts reading in background threads. Messages arrive on the receiver until every input is
/// done; the handle joins the threads.
/// Joining the handle gives `Err` when a reader or parser thread panicked: events may be
/// missing, and the run must not end as if all input was read.
pub fn spawn(inputs: Vec<Input>, options: ReadOptions) -> (Receiver<Message>, JoinHandle<()>) {
    let threads = if options.threads == 0 {
        thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        options.threads
    };
    let (msg_tx, msg_rx) = bounded::<Message>(threads * 2);
    let (job_tx, job_rx) = bounded::<Job>(threads);
    let options = Arc::new(options);
    let handle = thread::spawn(move || {
        let mut workers = Vec::new();
        for _ in 0..threads {
            let (job_rx, msg_tx, options) = (job_rx.clone(), msg_tx.clone(), options.clone());
            workers.push(thread::spawn(move || work::run(job_rx, msg_tx, &options, threads)));
        }
        drop(job_rx);
        let mut producer = Producer {
            jobs: job_tx,
            msgs: msg_tx,
            options,
            next_file: 0,
        };
        for input in inputs {
            match input {
                Input::Stdin => producer.stdin(),
                Input::Path(path) => producer.path(&path),
            }
        }
        drop(producer);
        // A parser thread that panicked lost the events of its block: the caller must hear of
        // it (through this thread's join), never see a clean end.
        let mut failure = None;
        for w in workers {
            if let Err(panic) = w.join() {
                failure.get_or_insert(panic);
            }
        }
        if let Some(panic) = failure {
            std::panic::resume_unwind(panic);
        }
    });
    (msg_rx, handle)
}

struct Producer {
    jobs: Sender<Job>,
    msgs: Sender<Message>,
    options: Arc<ReadOptions>,
    next_file: u32,
}

/// Formats recognised from content (extensions only break ties).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sniffed {
    /// What the network saw: a capture, a Zeek log, Suricata's EVE.
    Wire,
    Evtx,
    Json,
    Xml,
    Gzip,
    Zip,
    Unknown,
}

fn sniff(head: &[u8], name: &str) -> Sniffed {
    if head.starts_with(b"ElfFile\0") {
        return Sniffed::Evtx;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Sniffed::Gzip;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Sniffed::Zip;
    }
    if dnshunt_wire::sniff(head).is_some() {
        return Sniffed::Wire;
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => return Sniffed::Json,
        Some(b'<') => return Sniffed::Xml,
        _ => {}
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".evtx") {
        Sniffed::Evtx
    } else if lower.ends_with(".xml") {
        Sniffed::Xml
    // `.log` is not among them: syslog, web server and Zeek TSV logs share it, and only content
    // tells a JSON one (recognised above) from the others.
    } else if [".json", ".ndjson", ".jsonl"].iter().any(|e| lower.ends_with(e)) {
        Sniffed::Json
    } else {
        Sniffed::Unknown
    }
}

/// Where a stream comes from: the count of bytes read from the file or standard input under it
/// (what decompression ratios are measured against) and how many containers it is inside.
#[derive(Clone)]
struct Nesting {
    raw: Counter,
    depth: usize,
}

impl Nesting {
    fn top(raw: Counter) -> Self {
        Nesting { raw, depth: 0 }
    }

    fn inside(&self) -> Self {
        Nesting {
            raw: self.raw.clone(),
            depth: self.depth + 1,
        }
    }
}

/// What a path is when it is not a regular file or a directory.
fn special_kind(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    let _ = file_type;
    "not a regular file"
}

/// The message for an input that is not a regular file: reading it could block forever (a FIFO
/// with no writer) or never end (`/dev/zero`).
fn not_regular(kind: &str) -> String {
    format!("{kind}, not a regular file: refused, as reading it could block or never end; to read a stream, send it to standard input and name `-`")
}

impl Producer {
    fn new_file(&mut self, name: &str, format: &str) -> FileCtx {
        let id = self.next_file;
        self.next_file += 1;
        let ctx = FileCtx { id, name: Arc::from(name) };
        let _ = self.msgs.send(Message::FileStart {
            id,
            name: name.to_owned(),
            format: format.to_owned(),
        });
        ctx
    }

    fn file_error(&mut self, name: &str, error: String) {
        let ctx = self.new_file(name, "unreadable");
        let problem = Problem {
            kind: ProblemKind::File,
            origin: Origin {
                file: ctx.name.clone(),
                line: None,
                record: None,
                hit: None,
            },
            message: error.clone(),
        };
        let _ = self.msgs.send(Message::FileError { id: ctx.id, error, problem });
    }

    fn stdin(&mut self) {
        let raw: Counter = Rc::default();
        let reader = Counted::new(io::stdin().lock(), raw.clone());
        self.stream("-".into(), Box::new(reader), None, &Nesting::top(raw));
    }

    fn path(&mut self, path: &Path) {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = Vec::new();
            for entry in walkdir::WalkDir::new(path).follow_links(true).sort_by_file_name() {
                match entry {
                    Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
                    Ok(e) if e.file_type().is_dir() => {}
                    // FIFOs, sockets, devices found in a walk: never opened (a FIFO would block
                    // every input after it), but said, not silently passed over.
                    Ok(e) => {
                        let kind = special_kind(&e.file_type());
                        self.file_error(&e.path().display().to_string(), not_regular(kind));
                    }
                    Err(e) => self.file_error(&e.path().map_or_else(|| path.display().to_string(), |p| p.display().to_string()), e.to_string()),
                }
            }
            for file in files {
                self.file(&file, true);
            }
        } else {
            self.file(path, false);
        }
    }

    /// `walked`: found by walking a directory, where files of other kinds (notes, hashes,
    /// tool output) are expected and only counted; a file named by the user must be readable.
    fn file(&mut self, path: &Path, walked: bool) {
        let name = path.display().to_string();
        // Looked at before opening: opening a FIFO blocks until something writes to it.
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => return self.file_error(&name, not_regular(special_kind(&meta.file_type()))),
            Ok(_) => {}
            Err(e) => return self.file_error(&name, format!("cannot open: {e}")),
        }
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) => return self.file_error(&name, format!("cannot open: {e}")),
        };
        // The same check on what was opened (the path may have changed in between).
        let len = match file.metadata() {
            Ok(meta) if !meta.is_file() => return self.file_error(&name, not_regular(special_kind(&meta.file_type()))),
            Ok(meta) => meta.len(),
            Err(e) => return self.file_error(&name, format!("cannot read: {e}")),
        };
        let mut head = [0u8; 64];
        let n = read_up_to(&mut file, &mut head).unwrap_or(0);
        if let Err(e) = file.rewind() {
            return self.file_error(&name, format!("cannot read: {e}"));
        }
        // `--input-format` names what is inside: .gz and .zip containers are still opened.
        let natural = sniff(&head[..n], &name);
        let sniffed = match natural {
            Sniffed::Gzip | Sniffed::Zip => natural,
            _ => self.forced().unwrap_or(natural),
        };
        if walked && sniffed == Sniffed::Unknown {
            let _ = self.msgs.send(Message::Ignored { name });
            return;
        }
        let raw: Counter = Rc::default();
        match sniffed {
            Sniffed::Zip => {
                raw.set(len);
                self.zip(&name, BufReader::new(file), &Nesting::top(raw));
            }
            Sniffed::Evtx => {
                let ctx = self.new_file(&name, "evtx");
                let _ = self.jobs.send(Job::EvtxFile {
                    file: ctx,
                    path: path.to_owned(),
                    bytes: len,
                });
            }
            _ => {
                // 1 MiB: the wire formats are told from the first line as buffered here
                // (`wire_head`), as they are inside a `.gz`. The count is of what the buffer
                // reads from the file: a reader without `read_buf` on top of the buffer would
                // have every block zeroed before it is read into (3 % of a hunt).
                let reader = BufReader::with_capacity(1 << 20, Counted::new(file, raw.clone()));
                self.stream(name, Box::new(reader), Some(sniffed), &Nesting::top(raw));
            }
        }
    }

    fn forced(&self) -> Option<Sniffed> {
        match self.options.format {
            InputFormat::Auto => None,
            InputFormat::Evtx => Some(Sniffed::Evtx),
            InputFormat::Json => Some(Sniffed::Json),
            InputFormat::Xml => Some(Sniffed::Xml),
        }
    }

    /// Refuses a container nested too deeply; true when `nesting` is still allowed.
    fn depth_ok(&mut self, name: &str, nesting: &Nesting) -> bool {
        if nesting.depth < self.options.limits.max_depth {
            return true;
        }
        self.file_error(
            name,
            format!(
                "containers nested more than {} deep (.gz or .zip inside .gz or .zip ...): refused",
                self.options.limits.max_depth
            ),
        );
        false
    }

    /// The members of a zip archive; `nesting.raw` holds the compressed bytes the archive stands
    /// for (its own size on disk, or what was read under it).
    fn zip<R: Read + Seek>(&mut self, name: &str, reader: R, nesting: &Nesting) {
        let mut archive = match zip::ZipArchive::new(reader) {
            Ok(a) => a,
            Err(e) => return self.file_error(name, format!("not a readable zip archive: {e}")),
        };
        // All members together may expand only so far.
        let produced: Counter = Rc::default();
        let limits = self.options.limits.clone();
        for i in 0..archive.len() {
            let member = match archive.by_index(i) {
                Ok(m) => m,
                Err(e) => {
                    self.file_error(&format!("{name}!#{i}"), format!("cannot read zip member: {e}"));
                    continue;
                }
            };
            if member.is_dir() {
                continue;
            }
            let member_name = format!("{name}!{}", member.name().map_or_else(|_| format!("#{i}"), |n| n.into_owned()));
            if member.encrypted() {
                self.file_error(&member_name, "encrypted zip members are not supported".to_owned());
                continue;
            }
            let inside = nesting.inside();
            let bounded = Bounded::new(member, nesting.raw.clone(), produced.clone(), &limits, "zip archive");
            self.stream(member_name, Box::new(BufReader::with_capacity(1 << 20, bounded)), None, &inside);
        }
    }

    /// Reads a stream whose format is known or must be sniffed from its first bytes.
    fn stream(&mut self, name: String, mut reader: Box<dyn BufRead + '_>, sniffed: Option<Sniffed>, nesting: &Nesting) {
        let sniffed = match sniffed.filter(|s| *s != Sniffed::Unknown && *s != Sniffed::Gzip) {
            Some(s) => s,
            None => {
                let head = match reader.fill_buf() {
                    Ok(h) => h,
                    Err(e) => return self.file_error(&name, format!("cannot read: {e}")),
                };
                let container = head.starts_with(&[0x1f, 0x8b]) || head.starts_with(b"PK\x03\x04");
                self.forced().filter(|_| !container).unwrap_or_else(|| sniff(head, &name))
            }
        };
        match sniffed {
            Sniffed::Gzip => {
                if !self.depth_ok(&name, nesting) {
                    return;
                }
                // The format inside is sniffed from the decompressed bytes; origins keep the
                // name the user gave.
                let produced: Counter = Rc::default();
                let decoder = Bounded::new(
                    flate2::bufread::MultiGzDecoder::new(reader),
                    nesting.raw.clone(),
                    produced,
                    &self.options.limits,
                    "gzip stream",
                );
                self.stream(name, Box::new(BufReader::with_capacity(1 << 20, decoder)), None, &nesting.inside());
            }
            Sniffed::Zip => {
                if !self.depth_ok(&name, nesting) {
                    return;
                }
                // Random access: held in memory, or in a temporary file when large.
                let buffered = match buffer_for_seeking(&mut reader, &self.options.limits) {
                    Ok(b) => b,
                    Err(e) => return self.file_error(&name, format!("cannot read: {e}")),
                };
                drop(reader);
                let stopped = buffered.stopped;
                match buffered.data.into_reader() {
                    Ok(seekable) => self.zip(&name, seekable, &nesting.inside()),
                    Err(e) => return self.file_error(&name, format!("cannot read the temporary copy: {e}")),
                }
                if let Some(reason) = stopped {
                    self.file_error(&name, format!("the zip archive was not read to its end: {reason}"));
                }
            }
            Sniffed::Evtx => {
                // Random access: held in memory, or in a temporary file when large.
                let buffered = match buffer_for_seeking(&mut reader, &self.options.limits) {
                    Ok(b) => b,
                    Err(e) => return self.file_error(&name, format!("cannot read: {e}")),
                };
                drop(reader);
                let ctx = self.new_file(&name, "evtx");
                let _ = self.jobs.send(Job::EvtxStream {
                    file: ctx.clone(),
                    data: buffered.data,
                });
                if let Some(reason) = buffered.stopped {
                    self.stopped(&ctx, None, format!("{reason}; the records after that point are not read"));
                }
            }
            // What the network saw is told from the first line, which JSON logs share with
            // Sysmon's JSON (read once here, handed on).
            Sniffed::Wire | Sniffed::Xml | Sniffed::Json => {
                let wire = (sniffed == Sniffed::Wire || self.options.format == InputFormat::Auto)
                    .then(|| wire_head(&mut reader))
                    .flatten();
                match (wire, sniffed) {
                    (Some(format), _) => self.wire(name, reader, format),
                    (None, Sniffed::Xml) => self.xml(name, reader),
                    (None, Sniffed::Json) => self.json(name, reader),
                    (None, _) => self.file_error(&name, "not a recognised capture or log".to_owned()),
                }
            }
            Sniffed::Unknown => self.file_error(
                &name,
                "not a recognised format (EVTX, JSON, XML, pcap/pcapng, Zeek or Suricata logs, .gz or .zip); use --input-format to force one".to_owned(),
            ),
        }
    }

    /// What the network saw: read here, on the reading thread, in file order (questions are
    /// paired with their responses as they stream by), in batches like every other reader.
    fn wire(&mut self, name: String, reader: Box<dyn BufRead + '_>, format: dnshunt_wire::WireFormat) {
        let ctx = self.new_file(&name, format.name());
        let mut out = WireBatch {
            batch: work::BatchBuilder::new(&ctx, &self.options),
            msgs: &self.msgs,
            open: true,
            bytes: Counter::default(),
        };
        let counting = Counted::new(reader, out.bytes.clone());
        match format {
            dnshunt_wire::WireFormat::Capture => dnshunt_wire::pcap::read(BufReader::with_capacity(1 << 16, counting), &ctx.name, &mut out),
            dnshunt_wire::WireFormat::ZeekTsv => dnshunt_wire::zeek::read_tsv(BufReader::new(counting), &ctx.name, &mut out),
            dnshunt_wire::WireFormat::ZeekJson => dnshunt_wire::zeek::read_json(BufReader::new(counting), &ctx.name, &mut out),
            dnshunt_wire::WireFormat::Eve => dnshunt_wire::eve::read(BufReader::new(counting), &ctx.name, &mut out),
        }
        out.batch.add_bytes(out.bytes.get());
        if out.open {
            out.batch.flush(&self.msgs);
        }
    }

    /// JSON: line-delimited (cut into blocks at line ends) or whole documents (cut into records
    /// as they stream by).
    fn json<R: BufRead>(&mut self, name: String, mut reader: R) {
        // Look at the first lines to tell NDJSON from a pretty-printed document. A read error
        // (a truncated .gz) keeps what was read before it: those events are still good.
        let mut head = Vec::new();
        let head_error = (&mut reader).take(256 << 10).read_to_end(&mut head).err();
        if head.is_empty() {
            if let Some(e) = head_error {
                return self.file_error(&name, format!("cannot read: {e}"));
            }
        }
        if is_line_delimited(&head) {
            let ctx = self.new_file(&name, "json-lines");
            self.json_lines(ctx, head, reader, head_error);
            return;
        }
        let ctx = self.new_file(&name, "json");
        let consumed: Counter = Rc::new(Cell::new(head.len() as u64));
        let mut splitter = json_doc::Splitter::new(head, Counted::new(reader, consumed.clone()), self.options.limits.max_record);
        if let Some(e) = head_error {
            splitter.set_read_error(e);
        }
        let mut job = DocJob::new(&ctx);
        let mut reported = 0u64;
        let block = self.options.block_size.max(4096);
        let jobs = &self.jobs;
        splitter.run(&mut |piece| {
            match piece {
                json_doc::Piece::Record { bytes, line, ordinal } => job.push_record(bytes, line, ordinal),
                json_doc::Piece::Lost { line, count, message } => job.pieces.push(DocPiece::Lost {
                    line,
                    record: None,
                    count,
                    message,
                }),
            }
            if job.bytes.len() >= block {
                job.input_bytes = consumed.get() - reported;
                reported = consumed.get();
                return jobs.send(Job::JsonRecords(std::mem::replace(&mut job, DocJob::new(&ctx)))).is_ok();
            }
            true
        });
        job.input_bytes = consumed.get() - reported;
        if !job.is_empty() {
            let _ = self.jobs.send(Job::JsonRecords(job));
        }
        if let Some((e, line)) = splitter.take_read_error() {
            // Reading stopped in `line`: what came before it was read.
            self.read_error(&ctx, Some(line + 1), &e);
        } else if let Some(line) = splitter.ended_open() {
            self.stopped(
                &ctx,
                Some(line),
                "the document ends inside an array or a search response (not closed): the input looks cut short, and records after its end are missing".to_owned(),
            );
        }
    }

    /// XML: cut into `<Event>` elements as it streams by.
    fn xml<R: BufRead>(&mut self, name: String, mut reader: R) {
        let ctx = self.new_file(&name, "xml");
        let mut head = Vec::new();
        let head_error = (&mut reader).take(64 << 10).read_to_end(&mut head).err();
        let consumed: Counter = Rc::new(Cell::new(head.len() as u64));
        if head.starts_with(b"\xef\xbb\xbf") {
            head.drain(..3);
        }
        let mut cutter = xml_reader::Cutter::new(head, Counted::new(reader, consumed.clone()), self.options.limits.max_record);
        if let Some(e) = head_error {
            cutter.set_read_error(e);
        }
        let mut job = DocJob::new(&ctx);
        let mut reported = 0u64;
        let block = self.options.block_size.max(4096);
        let jobs = &self.jobs;
        cutter.run(&mut |cut| {
            match cut {
                xml_reader::Cut::Event { bytes, line, ordinal } => job.push_record(bytes, line, Some(ordinal)),
                xml_reader::Cut::Lost { line, ordinal, message } => job.pieces.push(DocPiece::Lost {
                    line,
                    record: (ordinal > 0).then_some(ordinal),
                    count: 1,
                    message,
                }),
            }
            if job.bytes.len() >= block {
                job.input_bytes = consumed.get() - reported;
                reported = consumed.get();
                return jobs.send(Job::Xml(std::mem::replace(&mut job, DocJob::new(&ctx)))).is_ok();
            }
            true
        });
        job.input_bytes = consumed.get() - reported;
        if !job.is_empty() {
            let _ = self.jobs.send(Job::Xml(job));
        }
        if let Some((e, line)) = cutter.take_read_error() {
            // Reading stopped in `line`: what came before it was read.
            self.read_error(&ctx, Some(line + 1), &e);
        }
    }

    /// Reports that a file stopped being readable part-way (what came before was read).
    fn read_error(&mut self, file: &FileCtx, line: Option<u64>, e: &io::Error) {
        let message = match line {
            Some(line) => format!("read error after line {}: {e}; the rest of the file is lost", line.saturating_sub(1)),
            None => format!("read error: {e}; the rest of the file is lost"),
        };
        self.stopped(file, line, message);
    }

    /// Reports that reading a file stopped early, with why.
    fn stopped(&mut self, file: &FileCtx, line: Option<u64>, message: String) {
        let origin = Origin {
            file: file.name.clone(),
            line,
            record: None,
            hit: None,
        };
        let problem = Problem {
            kind: ProblemKind::File,
            origin,
            message: message.clone(),
        };
        let _ = self.msgs.send(Message::FileError {
            id: file.id,
            error: message,
            problem,
        });
    }

    fn json_lines<R: Read>(&mut self, file: FileCtx, mut buf: Vec<u8>, mut reader: R, head_error: Option<io::Error>) {
        let block = self.options.block_size.max(4096);
        let max_line = self.options.limits.max_record.max(block);
        let mut next_line: u64 = 1;
        let mut eof = head_error.is_some();
        let mut read_error = head_error;
        // While skipping an over-long line: the line number it started on.
        let mut skipping: Option<u64> = None;
        loop {
            if !eof && buf.len() < block {
                match fill(&mut reader, &mut buf, block) {
                    Ok(done) => eof = done,
                    Err(e) => {
                        // What was read before the error stays in `buf` and is parsed.
                        read_error = Some(e);
                        eof = true;
                    }
                }
            }
            if buf.is_empty() && eof {
                break;
            }
            let cut = match memchr::memrchr(b'\n', &buf) {
                Some(i) => i + 1,
                None if eof => buf.len(),
                None if buf.len() >= max_line || skipping.is_some() => {
                    // A line longer than the limit: drop what we have and skip to its end.
                    skipping.get_or_insert(next_line);
                    buf.clear();
                    continue;
                }
                None => {
                    // A long line still within the limit: read more before cutting.
                    let target = buf.len() * 2;
                    match fill(&mut reader, &mut buf, target) {
                        Ok(done) => eof = done,
                        Err(e) => {
                            read_error = Some(e);
                            eof = true;
                        }
                    }
                    continue;
                }
            };
            let rest = buf.split_off(cut);
            let mut chunk = std::mem::replace(&mut buf, rest);
            if let Some(line) = skipping.take() {
                // `chunk` starts with the tail of the over-long line: drop it, report it.
                let end = memchr::memchr(b'\n', &chunk).map_or(chunk.len(), |i| i + 1);
                chunk.drain(..end);
                let problem = Problem {
                    kind: ProblemKind::BadRecord,
                    origin: Origin::line(&file.name, line),
                    message: format!("line longer than {max_line} bytes (the limit for one record); skipped"),
                };
                let _ = self.msgs.send(Message::Skipped { id: file.id, problem });
                next_line = line + 1;
            }
            let lines_in_chunk = memchr::memchr_iter(b'\n', &chunk).count() as u64;
            let first_line = next_line;
            next_line += lines_in_chunk;
            if !chunk.is_empty()
                && self
                    .jobs
                    .send(Job::JsonLines {
                        file: file.clone(),
                        first_line,
                        bytes: chunk,
                    })
                    .is_err()
            {
                return;
            }
        }
        if let Some(e) = read_error {
            self.read_error(&file, Some(next_line), &e);
        }
    }
}

/// True when one of the first non-empty lines is a complete JSON value on its own.
/// The wire format of a stream, from its buffered first bytes (up to the buffer's size).
fn wire_head<R: BufRead + ?Sized>(reader: &mut R) -> Option<dnshunt_wire::WireFormat> {
    reader.fill_buf().ok().and_then(dnshunt_wire::sniff)
}

/// A wire reader's output, sent on in batches.
struct WireBatch<'a, 'o> {
    batch: work::BatchBuilder<'o>,
    msgs: &'a Sender<Message>,
    /// False once the pipeline stopped listening.
    open: bool,
    /// Bytes read from the input (for the throughput shown).
    bytes: Counter,
}

impl dnshunt_wire::WireOut for WireBatch<'_, '_> {
    fn event(&mut self, event: dnshunt_core::Event) -> bool {
        self.batch.event(event);
        if self.open && !self.batch.maybe_flush(self.msgs) {
            self.open = false;
        }
        self.open
    }

    fn bad(&mut self, origin: Origin, reason: String, count: u64) {
        self.batch.lost(origin, reason, count);
    }

    fn warn(&mut self, origin: Origin, message: String) {
        self.batch.warn(origin, message);
    }

    fn other(&mut self, count: u64) {
        self.batch.wire_other(count);
    }

    fn counts(&mut self, counts: &dnshunt_wire::WireCounts) {
        self.batch.wire_counts(counts);
    }
}

fn is_line_delimited(head: &[u8]) -> bool {
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.trim_ascii()).filter(|l| !l.is_empty()).peekable();
    // A file opening with `[` is one array document unless that whole line is a value.
    if lines.peek().is_some_and(|l| l.starts_with(b"[")) {
        return lines.next().is_some_and(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok());
    }
    for line in lines.take(3) {
        if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() {
            return true;
        }
    }
    false
}

/// Appends from `reader` until `buf` holds `target` bytes or the input ends (returns true at end).
fn fill<R: Read>(reader: &mut R, buf: &mut Vec<u8>, target: usize) -> io::Result<bool> {
    let start = buf.len();
    if target > start {
        buf.reserve(target - start);
    }
    let mut limited = reader.take((target.saturating_sub(start)) as u64);
    let n = limited.read_to_end(buf)?;
    Ok(n == 0 || buf.len() < target)
}

fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_first() {
        assert_eq!(sniff(b"ElfFile\0", "x.json"), Sniffed::Evtx);
        assert_eq!(sniff(b"\x1f\x8b\x08", "x"), Sniffed::Gzip);
        assert_eq!(sniff(b"PK\x03\x04", "x"), Sniffed::Zip);
        assert_eq!(sniff(b"  {\"a\"", "x.xml"), Sniffed::Json);
        assert_eq!(sniff(b"\xef\xbb\xbf<Events>", "x"), Sniffed::Xml);
        assert_eq!(sniff(b"garbage", "x.evtx"), Sniffed::Evtx);
        assert_eq!(sniff(b"garbage", "x.bin"), Sniffed::Unknown);
    }

    #[test]
    fn line_delimited_detection() {
        assert!(is_line_delimited(b"{\"a\":1}\n{\"b\":2}\n"));
        assert!(is_line_delimited(b"{\"a\":\n{\"b\":2}\n"), "a broken first line must not hide NDJSON");
        assert!(!is_line_delimited(b"{\n  \"a\": 1\n}\n"));
        assert!(!is_line_delimited(b"[\n{\"a\":1},\n{\"a\":2}\n]"));
    }
}

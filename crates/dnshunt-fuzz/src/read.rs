//! Reading fuzz input as the product reads a file: written to a scratch file and handed to
//! `dnshunt_source::spawn`, the one public entry of the readers, so sniffing, block cutting,
//! the parser threads and normalisation all run as in `dnshunt hunt FILE`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use dnshunt_core::Event;
use dnshunt_source::{Input, InputFormat, Message, ReadOptions};

/// The folder of this process's scratch files: in memory (`/dev/shm`) where there is one.
fn scratch_dir() -> PathBuf {
    let base = PathBuf::from("/dev/shm");
    let base = if base.is_dir() { base } else { std::env::temp_dir() };
    base.join(format!("dnshunt-fuzz-{}", std::process::id()))
}

/// Reads `data` as a file named `input-N` (no extension, so only content decides the format
/// under `Auto`), with one parser thread and the smallest blocks the reader allows, so small
/// inputs already cross block and over-long-line boundaries. Returns the events.
///
/// A panic in a reader or parser thread reaches the caller (the reader's join handle carries
/// it): under libFuzzer the panic hook has already aborted; under `cargo test` the test fails.
pub(crate) fn read_file(data: &[u8], format: InputFormat) -> Vec<Event> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = scratch_dir();
    if std::fs::create_dir_all(&dir).is_err() {
        return Vec::new();
    }
    let path = dir.join(format!("input-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    if std::fs::write(&path, data).is_err() {
        return Vec::new();
    }
    let options = ReadOptions {
        format,
        threads: 1,
        // The reader's floor is 4 KiB; records longer than 16 KiB are skipped and counted, and
        // small stream limits reach the spilling paths with small inputs.
        block_size: 4096,
        limits: dnshunt_source::Limits {
            max_record: 16 << 10,
            in_memory: 64 << 10,
            max_spill: 4 << 20,
            ..dnshunt_source::Limits::default()
        },
        ..ReadOptions::default()
    };
    let (messages, handle) = dnshunt_source::spawn(vec![Input::Path(path.clone())], options);
    let mut events = Vec::new();
    for message in messages {
        if let Message::Batch { events: batch, .. } = message {
            events.extend(batch);
        }
    }
    let joined = handle.join();
    let _ = std::fs::remove_file(&path);
    // Leaves nothing behind; fails harmlessly while another thread's file is still there.
    let _ = std::fs::remove_dir(&dir);
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
    events
}

/// Lets panics raised inside the `maxminddb` crate unwind to the `catch_unwind` with which
/// `dnshunt_enrich::geo` turns them into "broken database" errors, instead of the abort
/// libFuzzer's panic hook makes of every panic. Any other panic still goes to that hook.
/// `DNSHUNT_FUZZ_STRICT_GEO=1` keeps the hook as it is.
pub(crate) fn tolerate_maxminddb_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("DNSHUNT_FUZZ_STRICT_GEO").is_some_and(|v| v == "1") {
            return;
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_reader = info.location().is_some_and(|l| l.file().contains("maxminddb"));
            if !in_reader {
                previous(info);
            }
        }));
    });
}

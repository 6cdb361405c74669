//! `--hlog FILE`: HdrHistogram's interval log, written with hdrhistogram's own interval
//! log writer (`serialization::interval_log`), so that HdrHistogram's log readers and
//! processors (Java `HistogramLogProcessor`, the Rust `IntervalLogIterator`, HdrHistogram's
//! plotters) read it.
//!
//! The header is the format line `#[Histogram log format version 1.3]` and the run's
//! start as both `StartTime` and `BaseTime` (seconds since the epoch); each interval then
//! gives one line per measured phase, tagged `Tag=connect`, `Tag=first_byte` or
//! `Tag=complete`: the interval's start (seconds since `BaseTime`), its length, its
//! maximum (µs) and the interval's histogram of microsecond samples, V2 deflate-compressed
//! and base64-encoded. An interval with no sample in a phase still gets its (empty) line,
//! so every phase has one line per interval.
//!
//! The writer borrows its output, so the collector keeps the [`HlogFile`] for the whole
//! run and writes through the [`Hlog`] that [`HlogFile::begin`] lends it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriter, IntervalLogWriterBuilder, Tag};

use crate::clock::RunClock;

/// The log format the header announces, as HdrHistogram's Java writer does.
const FORMAT_LINE: &str = "[Histogram log format version 1.3]";

/// The phases of a run, as the log tags them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseTag {
    /// `connect_latency_us`.
    Connect,
    /// `first_byte_latency_us`.
    FirstByte,
    /// `complete_latency_us`.
    Complete,
}

impl PhaseTag {
    /// The tag's text in the log (`Tag=first_byte`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::FirstByte => "first_byte",
            Self::Complete => "complete",
        }
    }
}

/// A failure writing the log, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("writing the --hlog file '{}'", path.display())]
pub struct HlogError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// The open `--hlog` file and the serializer the log writer borrows.
pub struct HlogFile {
    out: BufWriter<File>,
    serializer: V2DeflateSerializer,
    path: PathBuf,
}

// By hand: the serializer has no `Debug`.
impl std::fmt::Debug for HlogFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlogFile")
            .field("path", &self.path)
            .finish()
    }
}

/// The log being written, lent by [`HlogFile::begin`].
pub struct Hlog<'a> {
    writer: IntervalLogWriter<'a, 'a, BufWriter<File>, V2DeflateSerializer>,
    path: &'a PathBuf,
}

impl HlogFile {
    /// Wraps `file`, created at `path` before the run.
    pub fn new(file: File, path: PathBuf) -> Self {
        Self {
            out: BufWriter::new(file),
            serializer: V2DeflateSerializer::new(),
            path,
        }
    }

    /// Writes the header for a run that started at `clock`, then lends the writer.
    pub fn begin(&mut self, clock: RunClock) -> Result<Hlog<'_>, HlogError> {
        let writer = IntervalLogWriterBuilder::new()
            .add_comment(FORMAT_LINE)
            .with_start_time(clock.unix)
            .with_base_time(clock.unix)
            .begin_log_with(&mut self.out, &mut self.serializer)
            .map_err(|source| HlogError {
                path: self.path.clone(),
                source,
            })?;
        Ok(Hlog {
            writer,
            path: &self.path,
        })
    }

    /// Flushes what the writer left buffered (call after the [`Hlog`] is dropped).
    pub fn finish(mut self) -> Result<(), HlogError> {
        self.out.flush().map_err(|source| HlogError {
            path: self.path.clone(),
            source,
        })
    }
}

impl Hlog<'_> {
    /// Writes one phase's histogram for the interval from `start` (since the run's start)
    /// lasting `length`.
    pub fn write(
        &mut self,
        phase: PhaseTag,
        hist: &Histogram<u64>,
        start: Duration,
        length: Duration,
    ) -> Result<(), HlogError> {
        let tag = Tag::new(phase.name()).expect("phase names have no ',', ' ' or newline");
        self.writer
            .write_histogram(hist, start, length, Some(tag))
            .map_err(|e| HlogError {
                path: self.path.clone(),
                source: match e {
                    hdrhistogram::serialization::interval_log::IntervalLogWriterError::IoError(
                        e,
                    ) => e,
                    other => io::Error::other(other.to_string()),
                },
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn what_is_written_reads_back_with_hdrhistograms_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.hlog");
        let mut file = HlogFile::new(File::create(&path).unwrap(), path.clone());
        let mut hist = crate::latency::new_histogram();
        for us in [10, 20, 30_000] {
            hist.record(us).unwrap();
        }
        let mut log = file.begin(RunClock::now()).unwrap();
        let second = Duration::from_secs(1);
        log.write(PhaseTag::Connect, &hist, Duration::ZERO, second)
            .unwrap();
        log.write(
            PhaseTag::Complete,
            &crate::latency::new_histogram(),
            second,
            second,
        )
        .unwrap();
        drop(log);
        file.finish().unwrap();

        let text = std::fs::read(&path).unwrap();
        assert!(text.starts_with(b"#[Histogram log format version 1.3]\n"));
        let mut got = Vec::new();
        for entry in IntervalLogIterator::new(&text) {
            if let LogEntry::Interval(h) = entry.unwrap() {
                let bytes = base64_decode(h.encoded_histogram());
                let back: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut bytes.as_slice())
                    .unwrap();
                got.push((
                    h.tag().unwrap().as_str().to_owned(),
                    back.len(),
                    h.start_timestamp(),
                ));
            }
        }
        assert_eq!(
            got,
            [
                ("connect".to_owned(), 3, Duration::ZERO),
                ("complete".to_owned(), 0, second)
            ]
        );
    }

    fn base64_decode(text: &str) -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }
}

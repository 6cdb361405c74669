//! `--hgrm FILE`, for a run and for `socket-connect merge` alike: the connect-latency
//! distribution in HdrHistogram's `.hgrm` percentile format (`latency::to_hgrm`, values
//! in µs). The file is created first (a run creates it before it dials, so that a path
//! that cannot be created fails at once, not after the run), then written once the
//! histogram is final. `cli` (and `merge`) have already refused what is not a regular
//! file, through `listenlab_common::outpath`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hdrhistogram::Histogram;

use crate::latency;

/// The `--hgrm` file, created and not yet written.
#[derive(Debug)]
pub struct HgrmFile {
    file: File,
    path: PathBuf,
}

impl HgrmFile {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path)
            .with_context(|| format!("creating --hgrm file '{}'", path.display()))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Writes the distribution of `hist` (µs) and flushes it.
    pub fn write(mut self, hist: &Histogram<u64>) -> anyhow::Result<()> {
        self.file
            .write_all(latency::to_hgrm(hist, 1.0).as_bytes())
            .and_then(|()| self.file.flush())
            .with_context(|| format!("writing the --hgrm file '{}'", self.path.display()))
    }
}

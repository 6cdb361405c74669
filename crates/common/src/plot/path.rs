//! The `--plot FILE.svg` path: checked when the flag is parsed, so that a path that can
//! never be written is a usage error (one line, exit 2) before the run starts, not a
//! failure after it; and written at the end without ever replacing something that is not
//! a regular file.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::outpath::check_output_file;

/// A path the picture can be written to: a regular file or a new name in an existing,
/// writable directory. Parse it with `FromStr` (clap does, through `value_parser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotPath(PathBuf);

/// Why a `--plot` path was refused ([`check_output_file`]'s reason, which says what is
/// accepted; clap prefixes the flag and the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PlotPathError {
    reason: String,
}

impl FromStr for PlotPath {
    type Err = PlotPathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let path = PathBuf::from(s);
        check_output_file(&path).map_err(|reason| PlotPathError { reason })?;
        Ok(Self(path))
    }
}

impl PlotPath {
    /// The path as given.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// Writes `svg` to the file, replacing a regular file's contents. Checks again first:
    /// something that is not a regular file (made there since the flag was checked) is
    /// left alone and an error returned.
    pub fn write(&self, svg: &str) -> io::Result<()> {
        if let Ok(m) = std::fs::metadata(&self.0)
            && !m.is_file()
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it is no longer a regular file; left as it is",
            ));
        }
        std::fs::write(&self.0, svg)
    }
}

impl fmt::Display for PlotPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_new_and_regular_files_in_existing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("a.svg");
        let p: PlotPath = new.to_str().unwrap().parse().unwrap();
        p.write("<svg/>").unwrap();
        assert!(new.to_str().unwrap().parse::<PlotPath>().is_ok());
        assert_eq!(std::fs::read_to_string(&new).unwrap(), "<svg/>");
        assert!("plain-name.svg".parse::<PlotPath>().is_ok());
    }

    #[test]
    fn rejects_every_path_that_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope/a.svg");
        let cases = [
            ("", "the path is empty"),
            (missing.to_str().unwrap(), "does not exist"),
            (dir.path().to_str().unwrap(), "not a regular file"),
            ("/dev/null", "not a regular file"),
            ("/dev/null/a.svg", "not a directory"),
        ];
        for (input, want) in cases {
            let err = input.parse::<PlotPath>().unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
            assert!(err.contains("give "), "{err}");
        }
    }
}

//! Reading one report for `socket-connect merge`, from a file or from stdin (`-`): the
//! JSON lines `socket-connect --format json` printed, where every `{"event":...}` line
//! (holding, interval) is skipped and the one object without `event` is the report.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::ConnectReport;

/// Where one report comes from: a file, or stdin (`-` on the command line; `./-` is a
/// file named `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input, read to its end.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    /// `-` is stdin, anything else a file.
    pub fn new(arg: PathBuf) -> Self {
        if arg.as_os_str() == "-" {
            Self::Stdin
        } else {
            Self::File(arg)
        }
    }

    /// The file's path (`None` for stdin).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Stdin => None,
            Self::File(path) => Some(path),
        }
    }

    fn read(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Self::Stdin => {
                let mut bytes = Vec::new();
                std::io::stdin().lock().read_to_end(&mut bytes)?;
                Ok(bytes)
            }
            Self::File(path) => std::fs::read(path),
        }
    }
}

/// How messages name it: `'runs/a.json'`, or `stdin`.
impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdin => f.write_str("stdin"),
            Self::File(path) => write!(f, "'{}'", path.display()),
        }
    }
}

/// Why a file is not a report `merge` can use. `Display` gives the reason and, where
/// there is one, the fix; the caller names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot be read: {0}")]
    Unreadable(#[from] std::io::Error),
    /// Bytes that are not UTF-8 text (a binary file, a compressed report).
    #[error(
        "not a socket-connect report: not UTF-8 text; give the output of socket-connect --format json (uncompressed)"
    )]
    NotText,
    /// A line that is not a JSON object (a text report, another tool's output).
    #[error(
        "not a socket-connect report: line {line} is not a JSON object; give the output of \
         socket-connect --format json"
    )]
    NotJson {
        /// 1-based line number.
        line: usize,
    },
    /// No object without `event`: only readiness or interval lines.
    #[error(
        "not a socket-connect report: no report line (only {{\"event\":...}} lines); the \
         run did not finish or its last line was cut"
    )]
    NoReport,
    /// Nothing but blank lines.
    #[error(
        "not a socket-connect report: it is empty; give the output of socket-connect \
         --format json"
    )]
    Empty,
    /// More than one object without `event`.
    #[error(
        "holds {0} reports, not one; give each run's output in its own file (a merged report \
         is one report and can be merged again)"
    )]
    SeveralReports(usize),
    /// An object without `event` that does not have the report's fields.
    #[error("not a socket-connect report: {0}; give the output of socket-connect --format json")]
    NotAReport(String),
    /// A report from a socket-connect that did not yet carry histograms.
    #[error(
        "a socket-connect report without histograms (connect_latency_us has no `histogram`; \
         made by an older socket-connect): rerun with this version"
    )]
    NoHistograms,
}

/// Reads `input` and returns the report in it.
pub fn load(input: &Input) -> Result<ConnectReport, LoadError> {
    let text = String::from_utf8(input.read()?).map_err(|_| LoadError::NotText)?;
    let mut reports = Vec::new();
    if text.trim().is_empty() {
        return Err(LoadError::Empty);
    }
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line) else {
            return Err(LoadError::NotJson { line: i + 1 });
        };
        if !object.contains_key("event") {
            reports.push(object);
        }
    }
    let object = match reports.len() {
        0 => return Err(LoadError::NoReport),
        1 => reports.pop().expect("one report"),
        n => return Err(LoadError::SeveralReports(n)),
    };
    let Some(Value::Object(connect)) = object.get("connect_latency_us") else {
        return Err(LoadError::NotAReport(
            "it has no connect_latency_us object".into(),
        ));
    };
    if !connect.contains_key("histogram") {
        return Err(LoadError::NoHistograms);
    }
    serde_json::from_value(Value::Object(object)).map_err(|e| LoadError::NotAReport(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<ConnectReport, LoadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, text).unwrap();
        load(&Input::File(path))
    }

    #[test]
    fn a_dash_is_stdin_and_every_other_path_a_file() {
        assert_eq!(Input::new("-".into()), Input::Stdin);
        assert_eq!(Input::Stdin.to_string(), "stdin");
        let file = Input::new("./-".into());
        assert_eq!(file.to_string(), "'./-'");
        assert_eq!(file.path(), Some(Path::new("./-")));
    }

    #[test]
    fn refuses_what_is_not_one_report() {
        let cases = [
            ("target  127.0.0.1:1 (tcp)\n", "line 1 is not a JSON object"),
            ("{\"event\":\"holding\",\"open\":1}\n", "no report line"),
            ("", "it is empty"),
            ("\n\n", "it is empty"),
            ("{}\n{}\n", "holds 2 reports"),
            ("{\"a\":1}\n", "no connect_latency_us"),
            (
                r#"{"connect_latency_us":{"count":0}}"#,
                "without histograms",
            ),
            (
                r#"{"connect_latency_us":{"histogram":"x"}}"#,
                "not a socket-connect report: missing field",
            ),
        ];
        for (text, want) in cases {
            let err = load_text(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("r.json.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 0x08, 0xff]).unwrap();
        assert!(matches!(load(&Input::File(gz)), Err(LoadError::NotText)));
        let missing = load(&Input::new("/nonexistent/r.json".into())).unwrap_err();
        assert!(
            missing.to_string().starts_with("cannot be read: "),
            "{missing}"
        );
    }
}

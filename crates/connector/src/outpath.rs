//! Checks on the files a run writes (`--hlog`, `--connections-log`) before it starts, so
//! that a path that cannot work is a usage error (exit 2) and not a failure after the run:
//! the file must be a regular file (then it is overwritten) or a new one in a directory
//! that exists. Anything else (a directory, a device such as `/dev/null`, a FIFO, a
//! socket) is refused and left alone: the run never writes over what is not a regular
//! file.

use std::io::ErrorKind;
use std::path::Path;

use listenlab_common::file_kind;

/// `Err` with the one-line message naming `flag`, the path and what is accepted.
pub fn check_output_path(flag: &str, path: &Path) -> Result<(), String> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) => Err(format!(
            "{flag} '{shown}' is {}, not a regular file; give the path of a file to create \
             or overwrite",
            file_kind(&meta.file_type())
        )),
        // ENOTDIR: a parent is not a directory; which one, the check below says.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => Ok(()),
                Ok(meta) => Err(format!(
                    "{flag} '{shown}': '{}' is {}, not a directory; give a path in an \
                     existing directory",
                    dir.display(),
                    file_kind(&meta.file_type())
                )),
                Err(e) if e.kind() == ErrorKind::NotFound => Err(format!(
                    "{flag} '{shown}': the directory '{}' does not exist; create it first \
                     or give a path in an existing directory",
                    dir.display()
                )),
                Err(e) => Err(format!(
                    "{flag} '{shown}': the directory '{}' cannot be inspected: {e}",
                    dir.display()
                )),
            }
        }
        Err(e) => Err(format!("{flag} '{shown}' cannot be inspected: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_files_and_new_paths_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("old.hlog");
        std::fs::write(&file, "x").unwrap();
        let ok = [file.clone(), dir.path().join("new.hlog"), "new.hlog".into()];
        for path in ok {
            assert_eq!(check_output_path("--hlog", &path), Ok(()), "{path:?}");
        }
        let table = [
            (
                dir.path().to_path_buf(),
                "is a directory, not a regular file",
            ),
            ("/dev/null".into(), "is a special file, not a regular file"),
            (
                dir.path().join("missing/x.hlog"),
                "/missing' does not exist",
            ),
            (
                file.join("x.hlog"),
                "old.hlog' is a regular file, not a directory",
            ),
        ];
        for (path, want) in table {
            let err = check_output_path("--hlog", &path).unwrap_err();
            assert!(err.starts_with("--hlog '"), "{err}");
            assert!(err.contains(want), "{path:?}: {err}");
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x", "left alone");
    }
}

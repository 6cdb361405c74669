//! The one check on a file a run will write (`--plot`, `--hlog`, `--hgrm`,
//! `--connections-log`), made before the run so that a path that can never work is a
//! usage error (one line, exit 2) and not a failure after it. Accepted: a regular file
//! (overwritten) or a new name in an existing, writable directory. Anything else (a
//! directory, a device such as `/dev/null`, a FIFO, a socket) is refused and left alone:
//! the tools never write over what is not a regular file.

use std::io::ErrorKind;
use std::path::Path;

use nix::unistd::{AccessFlags, access};

use crate::file_kind;

/// `Err` with the reason `path` cannot be written and what is accepted, worded to follow
/// `<flag> '<path>': ` (the callers add that).
pub fn check_output_file(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("the path is empty; give the path of a file to create or overwrite".into());
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => writable(path, AccessFlags::W_OK, "it"),
        Ok(meta) => Err(format!(
            "it is {}, not a regular file (never overwritten); give the path of a file to \
             create or overwrite",
            file_kind(&meta.file_type())
        )),
        // ENOTDIR: a parent is not a directory; which one, the check below says.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => writable(
                    dir,
                    AccessFlags::W_OK | AccessFlags::X_OK,
                    &format!("the directory '{}'", dir.display()),
                ),
                Ok(meta) => Err(format!(
                    "'{}' is {}, not a directory; give a path in an existing directory",
                    dir.display(),
                    file_kind(&meta.file_type())
                )),
                Err(e) if e.kind() == ErrorKind::NotFound => Err(format!(
                    "the directory '{}' does not exist; create it first or give a path in \
                     an existing directory",
                    dir.display()
                )),
                Err(e) => Err(format!(
                    "the directory '{}' cannot be inspected: {e}",
                    dir.display()
                )),
            }
        }
        Err(e) => Err(format!("it cannot be inspected: {e}")),
    }
}

/// `access(2)` with the real ids (root passes it except on a read-only file system).
fn writable(path: &Path, mode: AccessFlags, what: &str) -> Result<(), String> {
    access(path, mode).map_err(|errno| format!("{what} is not writable ({})", errno.desc()))
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
            assert_eq!(check_output_file(&path), Ok(()), "{path:?}");
        }
        let table = [
            ("".into(), "the path is empty"),
            (
                dir.path().to_path_buf(),
                "it is a directory, not a regular file",
            ),
            (
                "/dev/null".into(),
                "it is a special file, not a regular file",
            ),
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
            let err = check_output_file(&path).unwrap_err();
            assert!(err.contains(want), "{path:?}: {err}");
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x", "left alone");
    }
}

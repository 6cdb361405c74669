//! Command-line plumbing the binaries share: parsing with clap so that every usage
//! error is one line on stderr with exit code 2, and recognising a broken stdout pipe.
//!
//! clap's own rendering spans several lines (the error, a `Usage:` line, a tip); users
//! and scripts want `socket-connect: error: <what was wrong and what is accepted>`.
//! This is the one place in `common` that writes (to stderr) and exits: it is the
//! usage-error exit of pattern 3 in STYLE.md, shared instead of written three times.

use std::error::Error;
use std::fmt::Display;
use std::io;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

/// Parses `std::env::args`. `--help` and `--version` print as usual and exit 0; any
/// other error goes through [`usage_exit`].
pub fn parse<C: Parser>() -> C {
    C::try_parse().unwrap_or_else(|err| usage_exit::<C>(err))
}

/// Reports a usage problem found after parsing (flags that conflict, a path that is not
/// a socket, ...) and exits 2. `message` names the flag, the bad value and the fix.
pub fn usage_error<C: CommandFactory>(message: impl Display) -> ! {
    usage_exit::<C>(C::command().error(ErrorKind::ValueValidation, message))
}

/// Prints a clap error as one line, `<bin>: error: <message>`, and exits 2 (help and
/// version requests print normally and exit 0).
pub fn usage_exit<C: CommandFactory>(err: clap::Error) -> ! {
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => err.exit(),
        _ => {
            let bin = C::command().get_name().to_owned();
            stderr_line(format_args!(
                "{bin}: {}",
                one_line(&err.render().to_string())
            ));
            std::process::exit(2)
        }
    }
}

/// Folds clap's rendering into one line: everything before the `Usage:` line or the
/// `For more information` tip, with white space collapsed.
fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `line` and a newline to stderr in one `write()`, so that lines from several
/// processes sharing the stream (forked children, their parent) never interleave
/// mid-line. `eprintln!` writes each formatted piece with its own `write()` (stderr is
/// unbuffered), which a concurrent writer can split; a pipe keeps a single write of up
/// to `PIPE_BUF` (4096) bytes whole (`pipe(7)`).
pub fn stderr_line(line: impl Display) {
    use std::io::Write;
    let text = format!("{line}\n");
    // Nothing useful can be done about a failed write to stderr.
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// True when `err` or any error in its source chain is a broken pipe: the reader of our
/// stdout went away (`| head`), which is not a failure (exit 0).
pub fn is_broken_pipe(err: &(dyn Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug)]
    #[command(name = "tool")]
    struct Demo {
        /// A count.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        count: u32,
    }

    fn folded(args: &[&str]) -> String {
        let err = Demo::try_parse_from(args).unwrap_err();
        one_line(&err.render().to_string())
    }

    #[test]
    fn folds_clap_errors_into_one_line() {
        let missing = folded(&["tool"]);
        assert_eq!(
            missing,
            "error: the following required arguments were not provided: --count <COUNT>"
        );
        let bad = folded(&["tool", "--count", "0"]);
        assert!(
            bad.starts_with("error: invalid value '0' for '--count <COUNT>'"),
            "{bad}"
        );
        assert!(!bad.contains('\n'));
    }

    #[test]
    fn finds_a_broken_pipe_anywhere_in_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("writing the report")]
        struct Outer(#[source] io::Error);
        let nested = Outer(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&nested));
        assert!(!is_broken_pipe(&io::Error::from(io::ErrorKind::NotFound)));
    }
}

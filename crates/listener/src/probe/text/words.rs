//! Small formatting helpers the text output and the scenarios' own lines share: distinct
//! values in first-seen order, numbers joined, word wrapping, families grouped by equal
//! values, and a connect's outcome in a word.

use crate::probe::report::{ConnectResult, ConnectState, WaitersRecord};
use crate::socket::Family;

/// The distinct values of `key` over `items`, in first-seen order.
pub fn distinct<'a, T, K: PartialEq>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<K> {
    let mut seen = Vec::new();
    for item in items {
        let k = key(item);
        if !seen.contains(&k) {
            seen.push(k);
        }
    }
    seen
}

/// Numbers joined with spaces.
pub fn join(values: &[u64]) -> String {
    values
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Items joined with `sep`, each as it displays.
pub fn join_all<T: std::fmt::Display>(items: &[T], sep: &str) -> String {
    items.iter().map(T::to_string).collect::<Vec<_>>().join(sep)
}

/// Word-wraps `text` to `width` columns: `first` before the first line, `rest` before
/// the others; newline-terminated.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_owned();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// `value (family, family), other (family)`: families grouped by equal values.
pub fn grouped(pairs: &[(Family, String)]) -> String {
    distinct(pairs, |(_, value)| value.as_str())
        .into_iter()
        .map(|value| {
            let families: Vec<Family> = pairs
                .iter()
                .filter(|(_, v)| v == value)
                .map(|(f, _)| *f)
                .collect();
            format!("{value} ({})", join_all(&families, ", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A connect's outcome in a word or two: `connected`, `established`, `pending` (TCP
/// handshake not complete: the SYN was dropped), `EAGAIN`, or `result/state`.
pub fn connect_outcome(result: ConnectResult, state: ConnectState) -> String {
    match (result, state) {
        (ConnectResult::Connected, _) => "connected".to_owned(),
        (ConnectResult::InProgress, ConnectState::Established | ConnectState::Pending) => {
            state.to_string()
        }
        (ConnectResult::WouldBlock, _) => "EAGAIN".to_owned(),
        _ => format!("{result}/{state}"),
    }
}

/// What a several-waiters row with an `error` says instead of its counts: `not observed:
/// <why>` when a helper timed out, `<refused>: <why>` when the kernel refused the
/// scenario; `None` for a row that ran, which its scenario words.
pub fn not_counted(r: &WaitersRecord, refused: &str) -> Option<String> {
    let error = r.error.as_deref()?;
    Some(if r.observed {
        format!("{refused}: {error}")
    } else {
        format!("not observed: {error}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn wrap_breaks_between_words() {
        assert_eq!(wrap("aa bb cc", 7, "- ", "  "), "- aa bb\n  cc\n");
    }

    #[test]
    fn connect_outcomes_read_as_words() {
        use ConnectState::{NotConnected, Pending};
        assert_eq!(
            connect_outcome(ConnectResult::WouldBlock, NotConnected),
            "EAGAIN"
        );
        assert_eq!(
            connect_outcome(ConnectResult::InProgress, Pending),
            "pending"
        );
        assert_eq!(
            connect_outcome(ConnectResult::Failed(Errno::ECONNREFUSED), NotConnected),
            "ECONNREFUSED/not_connected"
        );
    }

    #[test]
    fn families_with_equal_values_are_grouped() {
        let pairs = [
            (Family::Unix, "1 of 4".to_owned()),
            (Family::Inet, "2 of 4".to_owned()),
            (Family::Inet6, "1 of 4".to_owned()),
        ];
        assert_eq!(grouped(&pairs), "1 of 4 (unix, inet6); 2 of 4 (inet)");
    }
}

//! The whole numbers users type for counts and sizes (`--count 500`, `--waiters 8`,
//! `--backlog 128`): one clap value parser for the numeric flags of every binary.
//!
//! clap's own integer parsers answer in their internal terms ("number would be zero for
//! non-zero type", "number too large to fit in target type", `0 is not in 1..=64`), and
//! clap takes a value such as `-1` for an unknown flag unless the argument allows
//! negative numbers (issue 12). [`whole_number`] gives every out-of-range, negative or
//! malformed value the same answer, naming the accepted range; clap prefixes it with the
//! flag and the value: `invalid value '-1' for '--waiters <K>': expected a whole number
//! from 1 to 64`. Give the argument `allow_negative_numbers = true` so that `-1` reaches
//! the parser instead of being read as a flag.

use std::num::NonZeroU32;
use std::ops::{Bound, RangeBounds};

/// A value that is not a whole number in the accepted range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected a whole number from {min} to {max}")]
pub struct NumberError {
    min: u64,
    max: u64,
}

/// An integer type a flag can hold; [`Whole::MAX`] caps the accepted range.
pub trait Whole: Copy + Send + Sync + 'static {
    /// The largest value of the type.
    const MAX: u64;
    /// The value `n`, or `None` when the type cannot hold it.
    fn from_u64(n: u64) -> Option<Self>;
}

impl Whole for u32 {
    const MAX: u64 = u32::MAX as u64;
    fn from_u64(n: u64) -> Option<Self> {
        u32::try_from(n).ok()
    }
}

impl Whole for u64 {
    const MAX: u64 = u64::MAX;
    fn from_u64(n: u64) -> Option<Self> {
        Some(n)
    }
}

impl Whole for NonZeroU32 {
    const MAX: u64 = u32::MAX as u64;
    fn from_u64(n: u64) -> Option<Self> {
        NonZeroU32::new(u32::from_u64(n)?)
    }
}

/// A clap `value_parser` for a whole number of type `T` in `range` (capped at what `T`
/// holds): `value_parser = whole_number::<u32>(1..=64)`.
pub fn whole_number<T: Whole>(
    range: impl RangeBounds<u64>,
) -> impl Fn(&str) -> Result<T, NumberError> + Clone + Send + Sync + 'static {
    let min = match range.start_bound() {
        Bound::Included(&n) => n,
        Bound::Excluded(&n) => n.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let max = match range.end_bound() {
        Bound::Included(&n) => n,
        Bound::Excluded(&n) => n.saturating_sub(1),
        Bound::Unbounded => u64::MAX,
    }
    .min(T::MAX);
    move |text: &str| {
        text.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .and_then(T::from_u64)
            .ok_or(NumberError { min, max })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_whole_numbers_in_the_range() {
        let waiters = whole_number::<u32>(1..=64);
        assert_eq!(waiters("1"), Ok(1));
        assert_eq!(waiters(" 64 "), Ok(64));
        let count = whole_number::<NonZeroU32>(1..);
        assert_eq!(count("4294967295").map(NonZeroU32::get), Ok(u32::MAX));
        assert_eq!(
            whole_number::<u64>(1..)("18446744073709551615"),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn every_rejected_form_names_the_range() {
        let waiters = whole_number::<u32>(1..=64);
        for text in [
            "0",
            "65",
            "-1",
            "1.5",
            "1e3",
            "",
            "eight",
            "99999999999999999999",
        ] {
            assert_eq!(
                waiters(text).unwrap_err().to_string(),
                "expected a whole number from 1 to 64",
                "{text:?}"
            );
        }
        let count = whole_number::<NonZeroU32>(1..);
        assert_eq!(
            count("4294967296").unwrap_err().to_string(),
            "expected a whole number from 1 to 4294967295"
        );
        assert_eq!(
            whole_number::<u64>(1..)("-5").unwrap_err().to_string(),
            "expected a whole number from 1 to 18446744073709551615"
        );
    }

    #[test]
    fn clap_names_the_flag_and_the_value() {
        use clap::Parser;
        #[derive(Parser, Debug)]
        struct Demo {
            /// Waiters.
            #[arg(long, value_name = "K", allow_negative_numbers = true,
                  value_parser = whole_number::<u32>(1..=64))]
            waiters: u32,
        }
        for value in ["-1", "0", "99999999999"] {
            let err = Demo::try_parse_from(["demo", "--waiters", value]).unwrap_err();
            let text = err.render().to_string();
            let want = format!(
                "invalid value '{value}' for '--waiters <K>': expected a whole number from 1 to 64"
            );
            assert!(text.contains(&want), "{text}");
        }
        let ok = Demo::try_parse_from(["demo", "--waiters", "8"]).unwrap();
        assert_eq!(ok.waiters, 8);
    }
}

//! The full HDR histogram as the JSON report carries it: base64 (standard alphabet, with
//! padding) of HdrHistogram's V2-compressed serialization, the form HdrHistogram's own
//! interval logs use and its readers in every language decode
//! (`Histogram.decodeFromCompressedByteBuffer` in Java, `hdr_log_decode` in C).
//!
//! Summaries (p50, p99, ...) cannot be combined across runs; histograms can be added, and
//! the percentiles of the sum are the percentiles of all the samples together. That is
//! what `socket-connect merge` does with these strings (issue 7).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{
    DeserializeError, Deserializer, Serializer as _, V2DeflateSerializer,
};
use serde::{Deserialize, Serialize};

/// A histogram in its report form: base64 of the V2-compressed serialization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EncodedHistogram(String);

/// Why a report's histogram string could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not base64.
    #[error("not base64 ({0})")]
    Base64(#[from] base64::DecodeError),
    /// Base64, but not a V2 (compressed) HdrHistogram serialization.
    #[error("not an HdrHistogram V2 serialization ({0})")]
    Hdr(#[from] DeserializeError),
}

impl EncodedHistogram {
    /// Encodes `hist` with every count it holds (its bounds and significant figures go
    /// along: the V2 header carries them).
    pub fn encode(hist: &Histogram<u64>) -> Self {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(hist, &mut bytes)
            .expect("serializing a u64 histogram into a Vec cannot fail");
        Self(STANDARD.encode(bytes))
    }

    /// Decodes the histogram back, with the bounds and significant figures it was
    /// recorded with.
    pub fn decode(&self) -> Result<Histogram<u64>, DecodeError> {
        let bytes = STANDARD.decode(&self.0)?;
        Ok(Deserializer::new().deserialize(&mut bytes.as_slice())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::new_histogram;

    #[test]
    fn round_trip_keeps_every_count_and_the_settings() {
        let mut h = new_histogram();
        for v in [1u64, 7, 7, 250, 90_000, 3_000_000_000] {
            h.saturating_record(v);
        }
        let back = EncodedHistogram::encode(&h).decode().unwrap();
        assert_eq!(back, h);
        assert_eq!(
            (back.low(), back.high(), back.sigfig()),
            (h.low(), h.high(), h.sigfig())
        );
        assert_eq!(back.len(), 6);
    }

    #[test]
    fn an_empty_histogram_is_small_and_decodes_empty() {
        let e = EncodedHistogram::encode(&new_histogram());
        assert!(e.0.len() < 100, "{}", e.0);
        assert!(e.decode().unwrap().is_empty());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let not_b64 = EncodedHistogram("@@@".into()).decode().unwrap_err();
        assert!(not_b64.to_string().starts_with("not base64"), "{not_b64}");
        let not_hdr = EncodedHistogram(STANDARD.encode(b"hello world!")).decode();
        assert!(matches!(not_hdr, Err(DecodeError::Hdr(_))));
    }
}

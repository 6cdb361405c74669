//! placeholder: owned by the probe work

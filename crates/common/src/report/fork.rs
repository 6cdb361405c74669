//! placeholder: owned by the fork work

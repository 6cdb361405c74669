//! placeholder: owned by the connect work

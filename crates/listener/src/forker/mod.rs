//! The epoll-listen-fork simulator (being written).

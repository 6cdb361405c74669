//! The epoll-socket-test probe (being written).

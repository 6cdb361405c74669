//! "What this means": why Linux reports listening sockets the way the tables show, with
//! the kernel functions involved, and what it implies for a process manager. The same
//! text is in the README's epoll-socket-test section.

/// The closing explanation of the text report (indented, newline-terminated).
pub const WHAT_THIS_MEANS: &str = "  (being written)\n";

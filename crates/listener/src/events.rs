//! Decodes `EpollFlags` once, by name, for the probe and the forker alike.
//!
//! The predicates follow mio's `selector/epoll.rs` `mod event`: each says which kernel
//! flags mean what, and why. [`flag_names`] gives the raw list the probe prints.

use nix::sys::epoll::EpollFlags;

/// Data can be read, or, on a listening socket, a connection is pending (`EPOLLIN`).
/// `EPOLLPRI` (urgent data) also counts as readable, as in mio.
pub fn is_readable(flags: EpollFlags) -> bool {
    flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLPRI)
}

/// `EPOLLERR`: an error is pending on the socket (read it with `SO_ERROR`). The kernel
/// reports it whether or not it was asked for (epoll_ctl(2)).
pub fn is_error(flags: EpollFlags) -> bool {
    flags.contains(EpollFlags::EPOLLERR)
}

/// Flag names in a fixed order, as in strace: `["IN", "RDHUP"]`. Bits nix has no name for
/// are shown as hex, so nothing the kernel returns is hidden.
pub fn flag_names(flags: EpollFlags) -> Vec<String> {
    const NAMED: [(EpollFlags, &str); 15] = [
        (EpollFlags::EPOLLIN, "IN"),
        (EpollFlags::EPOLLPRI, "PRI"),
        (EpollFlags::EPOLLOUT, "OUT"),
        (EpollFlags::EPOLLERR, "ERR"),
        (EpollFlags::EPOLLHUP, "HUP"),
        (EpollFlags::EPOLLRDNORM, "RDNORM"),
        (EpollFlags::EPOLLRDBAND, "RDBAND"),
        (EpollFlags::EPOLLWRNORM, "WRNORM"),
        (EpollFlags::EPOLLWRBAND, "WRBAND"),
        (EpollFlags::EPOLLMSG, "MSG"),
        (EpollFlags::EPOLLRDHUP, "RDHUP"),
        (EpollFlags::EPOLLEXCLUSIVE, "EXCLUSIVE"),
        (EpollFlags::EPOLLWAKEUP, "WAKEUP"),
        (EpollFlags::EPOLLONESHOT, "ONESHOT"),
        (EpollFlags::EPOLLET, "ET"),
    ];
    let mut rest = flags;
    let mut names: Vec<String> = NAMED
        .iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .map(|(flag, name)| {
            rest.remove(*flag);
            (*name).to_owned()
        })
        .collect();
    if !rest.is_empty() {
        names.push(format!("{:#x}", rest.bits()));
    }
    names
}

/// The flag names joined with `|` (`IN|RDHUP`), or `-` for none.
pub fn describe(flags: EpollFlags) -> String {
    let names = flag_names(flags);
    if names.is_empty() {
        "-".to_owned()
    } else {
        names.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_decode_kernel_combinations() {
        let in_rdhup = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP;
        assert!(is_readable(in_rdhup) && is_readable(EpollFlags::EPOLLPRI));
        assert!(!is_readable(EpollFlags::EPOLLOUT | EpollFlags::EPOLLHUP));
        assert!(is_error(EpollFlags::EPOLLERR) && !is_error(EpollFlags::EPOLLIN));
    }

    #[test]
    fn describes_flags_by_name() {
        assert_eq!(describe(EpollFlags::empty()), "-");
        assert_eq!(describe(EpollFlags::EPOLLIN), "IN");
        assert_eq!(
            describe(EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLIN),
            "IN|RDHUP"
        );
        assert_eq!(describe(EpollFlags::from_bits_retain(1 << 20)), "0x100000");
    }
}

//! The kernel's `sock_diag` netlink interface (sock_diag(7)), through the rust-netlink
//! crates (`netlink-packet-sock-diag` for the messages, `netlink-sys` for the socket): the
//! one place that asks the kernel about sockets we do not hold.
//!
//! - TCP listeners (`inet_diag`, IPv4 and IPv6): for a socket in `LISTEN`, `idiag_rqueue` is
//!   the accept-queue length (`sk_ack_backlog`) and `idiag_wqueue` the effective backlog
//!   (`sk_max_ack_backlog`); see `inet_sk_diag_fill()` in net/ipv4/inet_diag.c. This is what
//!   `ss -ltn` prints as Recv-Q / Send-Q.
//! - Unix listeners (`unix_diag`): `UDIAG_SHOW_RQLEN` gives `UNIX_DIAG_RQLEN`, which for a
//!   listener carries the queue length and the backlog (`sk_diag_show_rqlen()` in
//!   net/unix/diag.c), `UDIAG_SHOW_NAME` the bound path, `UDIAG_SHOW_VFS` the bound file's
//!   inode and device.
//!
//! Used by [`crate::queue`] (the forker's own unix listener, the stale-socket check of
//! [`crate::socket`]) and by [`crate::watch`] (every listener on the machine).

use std::ffi::OsString;
use std::io;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use netlink_packet_core::{
    DecodeError, Emitable, NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, Parseable,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{
    self, ExtensionFlags, InetRequest, InetResponseHeader, SocketId,
};
use netlink_packet_sock_diag::unix::nlas::{Nla, UnixDiagName};
use netlink_packet_sock_diag::unix::{self, ShowFlags, UnixRequest};
use netlink_packet_sock_diag::{SOCK_DIAG_BY_FAMILY, SockDiagMessage};
use netlink_sys::{Socket, SocketAddr as NetlinkAddr, protocols::NETLINK_SOCK_DIAG};
use nix::sys::socket::{MsgFlags, MultiHeaders, recvmmsg};

/// Where a listener is bound.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListenAddr {
    /// A TCP listener's local address (IPv4, or IPv6 including dual-stack `[::]`).
    Tcp(SocketAddr),
    /// A unix listener bound to a file.
    UnixPath(PathBuf),
    /// A unix listener in the abstract namespace (shown as `@name`, as `ss` does).
    UnixAbstract(String),
    /// A unix listener with no name (never bound, or its name is not shown).
    UnixUnnamed,
}

impl ListenAddr {
    /// True for the unix variants.
    pub fn is_unix(&self) -> bool {
        !matches!(self, ListenAddr::Tcp(_))
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::UnixPath(path) => write!(f, "{}", path.display()),
            ListenAddr::UnixAbstract(name) => write!(f, "@{name}"),
            ListenAddr::UnixUnnamed => write!(f, "(unnamed)"),
        }
    }
}

/// One listening socket as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagListener {
    /// The socket's inode: what `/proc/<pid>/fd/<n>` links to as `socket:[inode]`.
    pub inode: u64,
    /// Where it is bound.
    pub addr: ListenAddr,
    /// Connections established and waiting for `accept()`.
    pub queue: u32,
    /// The effective backlog: the `listen()` argument, capped by `net.core.somaxconn`.
    pub backlog: u32,
    /// The kernel's socket cookie: with the address, names this very socket in an exact
    /// lookup.
    pub cookie: [u8; 8],
}

/// A `sock_diag` netlink socket, kept open across requests (one socket per sample would
/// cost a socket and a close each time).
pub struct Diag {
    sock: Socket,
    /// A dump's receive buffer, or [`LOOKUP_BATCH`] slots of [`SLOT`] bytes for lookups.
    buf: Vec<u8>,
    /// The `recvmmsg` headers for a batch of lookups, allocated once.
    headers: MultiHeaders<()>,
    /// The datagram of a single request (a dump), reused.
    out: Datagram,
    seq: u32,
}

/// The biggest datagram a dump sends: the kernel fills up to 32 KiB per `recv`
/// (`netlink_dump()` allocates at most 32 KiB unless the reader asks for more).
const RECV_BUF: usize = 64 * 1024;

// From <linux/tcp_states.h>: TCP_LISTEN, which unix sockets reuse for listeners.
const TCP_LISTEN: u32 = 10;

impl Diag {
    /// Opens the netlink socket (CLOEXEC; any user may, sock_diag dumps need no privilege).
    pub fn open() -> io::Result<Self> {
        let sock = Socket::new(NETLINK_SOCK_DIAG)?;
        sock.connect(&NetlinkAddr::new(0, 0))?;
        Ok(Self {
            sock,
            buf: vec![0; RECV_BUF],
            headers: MultiHeaders::preallocate(LOOKUP_BATCH, None),
            out: Datagram::default(),
            seq: 0,
        })
    }

    /// Appends every TCP listener on the machine (IPv4, then IPv6) to `out`.
    pub fn tcp_listeners(&mut self, out: &mut Vec<DiagListener>) -> io::Result<()> {
        for (family, socket_id) in [
            (AF_INET, SocketId::new_v4()),
            (AF_INET6, SocketId::new_v6()),
        ] {
            let request = tcp_request(family, socket_id);
            self.exchange(request, NLM_F_REQUEST | NLM_F_DUMP, |msg| {
                if let Reply::Inet(header) = msg {
                    out.push(tcp_listener(&header));
                }
            })?;
        }
        Ok(())
    }

    /// Appends every unix stream/seqpacket listener on the machine to `out`.
    pub fn unix_listeners(&mut self, out: &mut Vec<DiagListener>) -> io::Result<()> {
        let request = unix_request(0, ShowFlags::NAME | ShowFlags::RQLEN, [0; 8]);
        self.exchange(request, NLM_F_REQUEST | NLM_F_DUMP, |msg| {
            if let Reply::Message(SockDiagMessage::UnixResponse(r)) = msg
                && let Some(l) = unix_listener(&r)
            {
                out.push(l);
            }
        })
    }

    /// The unix listener with this socket inode, if there is one.
    pub fn unix_listener(&mut self, inode: u32) -> io::Result<Option<DiagListener>> {
        let probe = DiagListener {
            inode: u64::from(inode),
            addr: ListenAddr::UnixUnnamed,
            queue: 0,
            backlog: 0,
            cookie: [0xff; 8],
        };
        Ok(self.lookup(&[probe])?.pop().flatten())
    }

    /// True when some live unix socket (any state: listening, or only bound) is bound to
    /// the file with this device and inode, as `stat(2)` reports them. Dumps every unix
    /// socket: the lookup by socket inode needs the socket's inode, which the file does not
    /// give.
    pub fn unix_bound_to(&mut self, dev: u64, ino: u64) -> io::Result<bool> {
        let mut request = unix_request(0, ShowFlags::VFS, [0; 8]);
        if let SockDiagMessage::UnixRequest(r) = &mut request {
            // Every state: a socket only bound (never listened on) is in TCP_CLOSE, a bit
            // the crate's flags do not name, so `all()` would miss it.
            r.state_flags = unix::StateFlags::from_bits_retain(u32::MAX);
        }
        let mut found = false;
        self.exchange(request, NLM_F_REQUEST | NLM_F_DUMP, |msg| {
            let Reply::Message(SockDiagMessage::UnixResponse(r)) = msg else {
                return;
            };
            for nla in &r.nlas {
                if let Nla::Vfs(vfs) = nla {
                    // The crate keeps `Vfs`'s fields private; its `Emitable` writes the
                    // kernel's struct unix_diag_vfs { __u32 ino; __u32 dev; } back out.
                    let mut raw = [0u8; 8];
                    vfs.emit(&mut raw);
                    let vfs_ino = u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
                    let vfs_dev = u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]);
                    // The device is the kernel's internal dev_t (MKDEV: major << 20 |
                    // minor), not stat(2)'s encoding (seen live: 0xfe00000 for st_dev
                    // 0xfe00).
                    let same_dev = (vfs_dev >> 20, vfs_dev & 0xf_ffff)
                        == (libc::major(dev) as u32, libc::minor(dev) as u32);
                    found |= u64::from(vfs_ino) == ino && same_dev;
                }
            }
        })?;
        Ok(found)
    }

    /// Looks up each of `known` on its own, in one batch: the requests go out in one
    /// datagram (the kernel handles every message of it, `netlink_rcv_skb()`), then one
    /// reply per request comes back. `None` for a listener that is gone (for TCP: or not
    /// the one with that cookie).
    pub fn lookup(&mut self, known: &[DiagListener]) -> io::Result<Vec<Option<DiagListener>>> {
        let mut found = vec![None; known.len()];
        let mut batch = Lookups::exact(known.iter().enumerate(), ShowFlags::NAME);
        self.exact(&mut batch, |i, l| found[i] = l)?;
        Ok(found)
    }

    /// Reads the queue and backlog of each of `current` (the listeners `batch` was made
    /// for, [`Lookups::new`]) into it, in place; false if one is gone (or, for TCP, is not
    /// the socket with that cookie any more): then its counts are left as they were.
    ///
    /// A sampler makes the batch once per dump and calls this every sample: nothing is
    /// allocated for TCP listeners, nor serialized but the sequence numbers.
    pub fn refresh(
        &mut self,
        batch: &mut Lookups,
        current: &mut [DiagListener],
    ) -> io::Result<bool> {
        let mut all = true;
        self.exact(batch, |i, found| match (found, current.get_mut(i)) {
            (Some(l), Some(c)) if l.inode == c.inode => (c.queue, c.backlog) = (l.queue, l.backlog),
            _ => all = false,
        })?;
        if !batch.dumped.is_empty() {
            batch.seen.clear();
            batch.seen.resize(batch.dumped.len(), false);
            let (dumped, seen) = (&batch.dumped, &mut batch.seen);
            self.exchange(batch.unix_dump.clone(), NLM_F_REQUEST | NLM_F_DUMP, |msg| {
                if let Reply::Message(SockDiagMessage::UnixResponse(r)) = msg
                    && let Some((queue, backlog)) = unix_counts(&r)
                    && let Ok(at) = dumped.binary_search_by_key(&u64::from(r.header.inode), |d| d.0)
                    && let Some(c) = current.get_mut(dumped[at].1)
                {
                    (c.queue, c.backlog) = (queue, backlog);
                    seen[at] = true;
                }
            })?;
            all &= batch.seen.iter().all(|&s| s);
        }
        Ok(all)
    }

    /// Sends the exact lookups of `batch` and hands each answer to `each` with the index
    /// its listener was given ([`Lookups::exact`]): the listener found, or `None` if there
    /// is none.
    fn exact(
        &mut self,
        batch: &mut Lookups,
        mut each: impl FnMut(usize, Option<DiagListener>),
    ) -> io::Result<()> {
        let targets = &batch.targets;
        for (datagram, targets) in batch.datagrams.iter_mut().zip(targets.chunks(LOOKUP_BATCH)) {
            let first = self.send_prepared(datagram)?;
            self.receive(first, datagram.starts.len(), false, |i, reply| {
                let found = match reply {
                    Ok(Reply::Inet(header)) => Some(tcp_listener(&header)),
                    Ok(Reply::Message(SockDiagMessage::UnixResponse(r))) => unix_listener(&r),
                    Ok(_) => None,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
                    Err(e) => return Err(e),
                };
                each(targets[i], found);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Sends `request` and hands each reply message to `each`: for a dump until
    /// `NLMSG_DONE`, otherwise the one reply. A netlink error becomes the `io::Error` of its
    /// errno (e.g. `ENOENT` for an exact lookup of a socket that is gone).
    fn exchange(
        &mut self,
        request: SockDiagMessage,
        flags: u16,
        mut each: impl FnMut(Reply),
    ) -> io::Result<()> {
        let first = self.send(request, flags)?;
        self.receive(first, 1, flags & NLM_F_DUMP != 0, |_, reply| {
            each(reply?);
            Ok(())
        })
    }

    /// Sends `request` with `flags` on its own, numbered with the returned sequence number.
    fn send(&mut self, request: SockDiagMessage, flags: u16) -> io::Result<u32> {
        let mut datagram = std::mem::take(&mut self.out);
        datagram.fill([request], flags);
        let sent = self.send_prepared(&mut datagram);
        self.out = datagram;
        sent
    }

    /// Sends a datagram of requests, numbering them from the returned sequence number on
    /// (written into each message's header: the rest of the bytes are sent as they are).
    fn send_prepared(&mut self, datagram: &mut Datagram) -> io::Result<u32> {
        let first = self.seq.wrapping_add(1);
        for &at in &datagram.starts {
            self.seq = self.seq.wrapping_add(1);
            NetlinkBuffer::new(&mut datagram.bytes[at..]).set_sequence_number(self.seq);
        }
        self.sock.send(&datagram.bytes, 0)?;
        Ok(first)
    }

    /// Reads the replies to the `count` requests numbered from `first`, handing each to
    /// `each` with its request's index: a message, or the error the kernel answered
    /// with. A dump (`count` 1) ends at `NLMSG_DONE`, a lookup at its one reply. An error
    /// `each` returns ends the exchange.
    ///
    /// A dump's replies come in datagrams of up to 32 KiB, read one `recv` at a time. A
    /// batch of lookups is answered with one small datagram per request, all queued by the
    /// time `send` returns (the kernel handles the requests in the sender's context), so
    /// they are read with one `recvmmsg` into [`SLOT`]-byte slots instead of one `recv`
    /// each.
    fn receive(
        &mut self,
        first: u32,
        count: usize,
        dump: bool,
        mut each: impl FnMut(usize, io::Result<Reply>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut answered = 0;
        while answered < count {
            if dump {
                let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
                parse(&self.buf[..n], first, count, dump, &mut answered, &mut each)?;
                continue;
            }
            let mut lengths = [0usize; LOOKUP_BATCH];
            let got = {
                // On the stack: RECV_BUF holds exactly LOOKUP_BATCH slots.
                let mut slots = self.buf.chunks_mut(SLOT);
                let mut slices: [[IoSliceMut; 1]; LOOKUP_BATCH] = std::array::from_fn(|_| {
                    [IoSliceMut::new(
                        slots.next().expect("RECV_BUF holds LOOKUP_BATCH slots"),
                    )]
                });
                let wanted = (count - answered).min(LOOKUP_BATCH);
                // MSG_WAITFORONE: block for the first datagram, then take what is queued.
                let received = recvmmsg(
                    self.sock.as_raw_fd(),
                    &mut self.headers,
                    slices[..wanted].iter_mut(),
                    MsgFlags::MSG_WAITFORONE,
                    None,
                )?;
                let mut got = 0;
                for msg in received {
                    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("a sock_diag reply is longer than {SLOT} bytes"),
                        ));
                    }
                    lengths[got] = msg.bytes;
                    got += 1;
                }
                got
            };
            for (slot, &n) in self.buf.chunks(SLOT).zip(&lengths[..got]) {
                parse(&slot[..n], first, count, dump, &mut answered, &mut each)?;
            }
        }
        Ok(())
    }
}

/// Hands each netlink message of one datagram that answers one of the `count` requests
/// numbered from `first` to `each`, counting in `answered` the requests now answered.
fn parse(
    datagram: &[u8],
    first: u32,
    count: usize,
    dump: bool,
    answered: &mut usize,
    each: &mut impl FnMut(usize, io::Result<Reply>) -> io::Result<()>,
) -> io::Result<()> {
    let invalid = |e: DecodeError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    let mut at = 0;
    while at < datagram.len() {
        let buf = NetlinkBuffer::new_checked(&datagram[at..]).map_err(invalid)?;
        let payload = buf.payload();
        let index = buf.sequence_number().wrapping_sub(first) as usize;
        if buf.message_type() == SOCK_DIAG_BY_FAMILY
            && matches!(payload.first(), Some(&AF_INET | &AF_INET6))
        {
            if index < count {
                each(
                    index,
                    Ok(Reply::Inet(
                        InetResponseHeader::parse(payload).map_err(invalid)?,
                    )),
                )?;
                if !dump {
                    *answered += 1;
                }
            }
            at += (buf.length() as usize).div_ceil(4) * 4; // NLMSG_ALIGN
            continue;
        }
        let msg = NetlinkMessage::<SockDiagMessage>::deserialize(&datagram[at..])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let len = msg.header.length as usize;
        // Replies to an earlier request that was cut short are not ours.
        let index = msg.header.sequence_number.wrapping_sub(first) as usize;
        if index < count {
            match msg.payload {
                NetlinkPayload::Done(_) => *answered += 1,
                NetlinkPayload::Error(e) => {
                    *answered += 1;
                    if e.code.is_some() {
                        each(index, Err(e.to_io()))?;
                    } // else an ACK
                }
                NetlinkPayload::InnerMessage(inner) => {
                    each(index, Ok(Reply::Message(inner)))?;
                    if !dump {
                        *answered += 1;
                    }
                }
                _ => {}
            }
        }
        if len == 0 {
            break;
        }
        at += len.div_ceil(4) * 4; // NLMSG_ALIGN
    }
    Ok(())
}

/// Requests serialized into one netlink datagram, with where each message starts.
#[derive(Debug, Default)]
struct Datagram {
    bytes: Vec<u8>,
    starts: Vec<usize>,
}

impl Datagram {
    /// Serializes `requests` with `flags` (sequence numbers are set when sent).
    fn fill(&mut self, requests: impl IntoIterator<Item = SockDiagMessage>, flags: u16) {
        self.bytes.clear();
        self.starts.clear();
        for request in requests {
            let mut header = NetlinkHeader::default();
            header.flags = flags;
            let mut packet = NetlinkMessage::new(header, request.into());
            packet.finalize();
            let at = self.bytes.len();
            // Each message starts 4-byte aligned (NLMSG_ALIGN).
            self.bytes
                .resize(at + packet.buffer_len().div_ceil(4) * 4, 0);
            packet.serialize(&mut self.bytes[at..at + packet.buffer_len()]);
            self.starts.push(at);
        }
    }
}

/// How a set of known listeners is read again each sample ([`Diag::refresh`]), decided and
/// serialized once: between two dumps a sampler sends the same requests every sample, so
/// only their sequence numbers are written each time.
///
/// TCP listeners are looked up one by one (a hash lookup each, [`LOOKUP_BATCH`] to a
/// datagram). Unix ones are too when there is one; from two on they are read from one dump
/// of the unix listeners, without names: the kernel finds a unix socket by inode by walking
/// its whole unix socket table (`unix_lookup_by_ino()` in net/unix/diag.c), so N lookups
/// are N walks where the dump is one.
#[derive(Debug)]
pub struct Lookups {
    datagrams: Vec<Datagram>,
    /// For each exact lookup, in order, the index of its listener.
    targets: Vec<usize>,
    /// The unix listeners read from the dump instead: (socket inode, index), by inode.
    dumped: Vec<(u64, usize)>,
    /// Which of `dumped` the last dump had.
    seen: Vec<bool>,
    unix_dump: SockDiagMessage,
}

impl Default for Lookups {
    fn default() -> Self {
        Lookups::new(&[])
    }
}

impl Lookups {
    /// How to read `known` again (see the type's docs).
    pub fn new(known: &[DiagListener]) -> Self {
        let unix = known.iter().filter(|k| k.addr.is_unix()).count();
        let (exact, dumped): (Vec<_>, Vec<_>) = known
            .iter()
            .enumerate()
            .partition(|(_, k)| !k.addr.is_unix() || unix < 2);
        let mut lookups = Lookups::exact(exact.into_iter(), ShowFlags::empty());
        lookups.dumped = dumped.iter().map(|(i, k)| (k.inode, *i)).collect();
        lookups.dumped.sort_unstable();
        lookups
    }

    /// Exact lookups of each (index, listener), unix ones showing `unix_show` beside the
    /// queue.
    fn exact<'a>(
        known: impl Iterator<Item = (usize, &'a DiagListener)>,
        unix_show: ShowFlags,
    ) -> Self {
        let (targets, requests): (Vec<usize>, Vec<SockDiagMessage>) = known
            .map(|(i, k)| {
                let request = match k.addr {
                    ListenAddr::Tcp(addr) => tcp_exact(addr, k.cookie),
                    _ => unix_exact(k.inode as u32, unix_show.clone()),
                };
                (i, request)
            })
            .unzip();
        let mut requests = requests.into_iter();
        let datagrams = (0..targets.len().div_ceil(LOOKUP_BATCH))
            .map(|_| {
                let mut datagram = Datagram::default();
                datagram.fill(requests.by_ref().take(LOOKUP_BATCH), NLM_F_REQUEST);
                datagram
            })
            .collect();
        Self {
            datagrams,
            targets,
            dumped: Vec::new(),
            seen: Vec::new(),
            unix_dump: unix_request(0, ShowFlags::RQLEN, [0; 8]),
        }
    }
}

/// The room for one lookup's reply in a `recvmmsg`: a TCP reply is about 100 bytes, a unix
/// one at most about 250 (a 108-byte path and the queue attributes); longer is an error.
const SLOT: usize = 1024;

/// Most lookups sent in one datagram: their replies (about 100 bytes each) must fit in the
/// socket's receive buffer while we read them.
const LOOKUP_BATCH: usize = 64;

// The lookup slots are carved out of the dump buffer.
const _: () = assert!(RECV_BUF >= SLOT * LOOKUP_BATCH);

/// An exact TCP lookup: the listener on `addr` with this socket cookie.
fn tcp_exact(addr: SocketAddr, cookie: [u8; 8]) -> SockDiagMessage {
    let (family, mut socket_id) = match addr {
        SocketAddr::V4(_) => (AF_INET, SocketId::new_v4()),
        SocketAddr::V6(_) => (AF_INET6, SocketId::new_v6()),
    };
    socket_id.source_address = addr.ip();
    socket_id.source_port = addr.port();
    socket_id.cookie = cookie;
    tcp_request(family, socket_id)
}

/// An exact unix lookup by socket inode, showing the queue and `show`. A cookie of all
/// ones means "no cookie" (INET_DIAG_NOCOOKIE).
fn unix_exact(inode: u32, show: ShowFlags) -> SockDiagMessage {
    unix_request(inode, show | ShowFlags::RQLEN, [0xff; 8])
}

/// An `inet_diag_req_v2` for TCP listeners of `family`: the kernel filters by state, so
/// only listeners come back.
fn tcp_request(family: u8, socket_id: SocketId) -> SockDiagMessage {
    SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        states: inet::StateFlags::LISTEN,
        socket_id,
    })
}

fn tcp_listener(header: &InetResponseHeader) -> DiagListener {
    let id = &header.socket_id;
    DiagListener {
        inode: u64::from(header.inode),
        addr: ListenAddr::Tcp(SocketAddr::new(id.source_address, id.source_port)),
        queue: header.recv_queue,
        backlog: header.send_queue,
        cookie: id.cookie,
    }
}

/// One reply message: a TCP socket's fixed header, or any other message in full.
enum Reply {
    /// An `inet_diag_msg`, its attributes left unparsed (we request none; the kernel
    /// adds a few anyway): the crate's full parse boxes the response and allocates for
    /// some attributes, a cost per listener per sample that nothing here reads.
    Inet(InetResponseHeader),
    /// Anything else (a unix reply), parsed by the crate.
    Message(SockDiagMessage),
}

fn unix_request(inode: u32, show_flags: ShowFlags, cookie: [u8; 8]) -> SockDiagMessage {
    SockDiagMessage::UnixRequest(UnixRequest {
        state_flags: unix::StateFlags::LISTEN,
        inode,
        show_flags,
        cookie,
    })
}

/// A unix listener's queue and backlog (`UNIX_DIAG_RQLEN`); `None` for another socket.
fn unix_counts(r: &unix::UnixResponse) -> Option<(u32, u32)> {
    if u32::from(r.header.state) != TCP_LISTEN {
        return None;
    }
    r.nlas.iter().find_map(|nla| match nla {
        Nla::ReceiveQueueLength(queue, backlog) => Some((*queue, *backlog)),
        _ => None,
    })
}

fn unix_listener(r: &unix::UnixResponse) -> Option<DiagListener> {
    let (queue, backlog) = unix_counts(r)?;
    let addr = match r.name() {
        Some(UnixDiagName::Pathname(path)) => ListenAddr::UnixPath(PathBuf::from(path)),
        Some(UnixDiagName::Abstract(name)) => ListenAddr::UnixAbstract(
            OsString::from_vec(name.clone())
                .to_string_lossy()
                .into_owned(),
        ),
        None => ListenAddr::UnixUnnamed,
    };
    Some(DiagListener {
        inode: u64::from(r.header.inode),
        addr,
        queue,
        backlog,
        cookie: r.header.cookie,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn inode_of(fd: &impl std::os::fd::AsFd) -> u64 {
        nix::sys::stat::fstat(fd.as_fd()).unwrap().st_ino
    }

    #[test]
    fn finds_a_tcp_listener_with_its_queue() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _c: Vec<_> = (0..2)
            .map(|_| std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap())
            .collect();
        let mut all = Vec::new();
        Diag::open().unwrap().tcp_listeners(&mut all).unwrap();
        let me = all.iter().find(|d| d.inode == inode_of(&l)).unwrap();
        assert_eq!(me.addr, ListenAddr::Tcp(l.local_addr().unwrap()));
        // std listens with a backlog of 128 (capped by somaxconn, at least 128 since 5.4).
        assert_eq!((me.queue, me.backlog), (2, 128));
    }

    #[test]
    fn finds_a_unix_listener_by_dump_and_by_inode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let _c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let mut diag = Diag::open().unwrap();
        let mut all = Vec::new();
        diag.unix_listeners(&mut all).unwrap();
        let me = all.iter().find(|d| d.inode == inode_of(&l)).unwrap();
        assert_eq!(me.addr, ListenAddr::UnixPath(path.clone()));
        assert_eq!(me.queue, 1);
        let exact = diag.unix_listener(inode_of(&l) as u32).unwrap().unwrap();
        assert_eq!(&exact, me);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(diag.unix_bound_to(meta.dev(), meta.ino()).unwrap());
    }

    #[test]
    fn a_socket_bound_but_not_listening_is_found_by_its_file() {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, socket};
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.sock");
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        bind(fd.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(
            Diag::open()
                .unwrap()
                .unix_bound_to(meta.dev(), meta.ino())
                .unwrap()
        );
    }

    #[test]
    fn a_lookup_batch_longer_than_one_recvmmsg_answers_each_in_order() {
        // More than LOOKUP_BATCH: two datagrams of requests, and for each, the replies
        // read by recvmmsg into slots, however many each call returns.
        let ls: Vec<_> = (0..LOOKUP_BATCH + 6)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let mut diag = Diag::open().unwrap();
        let mut all = Vec::new();
        diag.tcp_listeners(&mut all).unwrap();
        let known: Vec<DiagListener> = ls
            .iter()
            .map(|l| all.iter().find(|d| d.inode == inode_of(l)).unwrap().clone())
            .collect();
        let found = diag.lookup(&known).unwrap();
        assert_eq!(found, known.iter().cloned().map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn a_refresh_reads_tcp_by_lookup_and_two_unix_listeners_from_one_dump() {
        let dir = tempfile::tempdir().unwrap();
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let u1 = std::os::unix::net::UnixListener::bind(dir.path().join("1.sock")).unwrap();
        let u2 = std::os::unix::net::UnixListener::bind(dir.path().join("2.sock")).unwrap();
        let mut diag = Diag::open().unwrap();
        let mut all = Vec::new();
        diag.tcp_listeners(&mut all).unwrap();
        diag.unix_listeners(&mut all).unwrap();
        let mut current: Vec<DiagListener> = [inode_of(&t), inode_of(&u1), inode_of(&u2)]
            .iter()
            .map(|&i| all.iter().find(|d| d.inode == i).unwrap().clone())
            .collect();
        let mut batch = Lookups::new(&current);
        // The TCP listener is looked up; the two unix ones come from the dump.
        assert_eq!((batch.targets.len(), batch.dumped.len()), (1, 2));
        let _c = (
            std::net::TcpStream::connect(t.local_addr().unwrap()).unwrap(),
            std::os::unix::net::UnixStream::connect(dir.path().join("2.sock")).unwrap(),
            std::os::unix::net::UnixStream::connect(dir.path().join("2.sock")).unwrap(),
        );
        assert!(diag.refresh(&mut batch, &mut current).unwrap());
        let queues: Vec<u32> = current.iter().map(|l| l.queue).collect();
        assert_eq!(queues, [1, 0, 2]);
        drop(u1);
        assert!(!diag.refresh(&mut batch, &mut current).unwrap());
    }

    #[test]
    fn exact_lookups_find_each_listener_until_it_closes() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let mut diag = Diag::open().unwrap();
        let mut all = Vec::new();
        diag.tcp_listeners(&mut all).unwrap();
        let me = all.into_iter().find(|d| d.inode == inode_of(&l)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let u = std::os::unix::net::UnixListener::bind(dir.path().join("x.sock")).unwrap();
        let unix = diag.unix_listener(inode_of(&u) as u32).unwrap().unwrap();
        // One batch, answered per request, in order.
        let both = [me.clone(), unix.clone()];
        assert_eq!(diag.lookup(&both).unwrap(), vec![Some(me), Some(unix)]);
        drop(l);
        drop(u);
        assert_eq!(diag.lookup(&both).unwrap(), vec![None, None]);
    }
}

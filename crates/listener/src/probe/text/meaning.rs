//! "What this means": why Linux reports listening sockets the way the tables show, with
//! the kernel functions involved, and what it implies for a process manager. The README's
//! epoll-socket-test section carries the same explanation.
//!
//! The function names come from reading the kernel source (net/ipv4/tcp_minisocks.c,
//! net/core/sock.c, net/unix/af_unix.c, fs/eventpoll.c, net/ipv4/inet_connection_sock.c,
//! net/core/datagram.c); the tables are what this kernel did.

/// The closing explanation of the text report (indented, newline-terminated).
pub const WHAT_THIS_MEANS: &str =
    "  Every new pending connection is a wakeup of the listener's wait queue, and epoll turns
  every wakeup into an event. TCP: when the handshake's last ACK arrives,
  tcp_child_process() moves the child socket out of SYN_RECV and calls
  parent->sk_data_ready(parent), which is sock_def_readable() -> __wake_up_sync_key().
  Unix: unix_stream_connect() queues the new connection on the listener and calls
  other->sk_data_ready(other), the same sock_def_readable(). Each epoll instance watching
  the listener has an entry on that wait queue whose callback, ep_poll_callback(), puts the
  item on the instance's ready list whenever it is not already there, EPOLLET or not.
  EPOLLET only changes what epoll_wait does after reporting an item: ep_send_events()
  puts a level-triggered item straight back on the ready list, an edge-triggered one not.
  So edge-triggered means \"one event per wakeup\", not \"one event per empty-to-non-empty
  transition\": each connect_2, connect_3 or burst is reported although the queue was never
  drained. Nothing wakes the listener on accept, on a drain, or when a queued client
  writes or closes (those touch the queued child socket, which nobody waits on yet).
  EPOLL_CTL_MOD re-polls the file (ep_modify()) and queues the item if it is ready, so it
  reports pending connections again and re-arms EPOLLONESHOT; the kernel refuses MOD for
  EPOLLEXCLUSIVE registrations (EINVAL).

  Several waiters: without EPOLLEXCLUSIVE every process with its own epoll instance is
  woken by one connect (a thundering herd; all but one find nothing to accept).
  EPOLLEXCLUSIVE puts the entries at the tail of the wait queue as exclusive waiters, and
  the wakeup stops at the first instance that has a sleeping waiter: one process wakes, and
  it tends to be the same one every time, not a rotation. With one epoll instance shared by
  all, an edge-triggered event wakes one waiter, while a level-triggered item is put back on
  the ready list and wakes the next waiter, and the next. Processes blocked in accept()
  sleep on an exclusive FIFO queue (prepare_to_wait_exclusive() in
  inet_csk_wait_for_connect() and __skb_wait_for_more_packets()): one wakes per
  connection, in the order they blocked. SO_REUSEPORT gives each socket its own queue and
  spreads connections by hash; unix sockets do not support it. A full backlog (the kernel
  tests length > backlog, so backlog + 1 fit) drops a TCP SYN, which the client retries
  about a second later, and makes a non-blocking unix connect fail with EAGAIN (a blocking
  one sleeps until there is room).

  For a process manager that forks on each event (PHP-FPM ondemand, epoll-listen-fork):
  edge-triggered, it gets one event per connection even while earlier ones are still
  queued, so it forks up to one child per connection rather than per burst, and a
  connection it fails to accept gets no new event until another connect arrives.
  Level-triggered, it sees the same pending connection on every wait until a child has
  accepted it, so it can fork several children for one connection unless it stops watching
  the listener until that child has accepted. Neither mode tells how many connections are
  queued: read the queue length (TCP_INFO, sock_diag), or accept until EAGAIN.
";

/* bench/watch/floor.c: the kernel floor of one listen-watch sample, as a baseline.
 *
 * Usage: floor SECONDS INTERVAL_US OWNER_PID PORT...
 *        floor SECONDS INTERVAL_US OWNER_PID unix
 *
 * Every INTERVAL_US, for SECONDS: sleeps to an absolute deadline (clock_nanosleep), reads
 * the listeners' queues, and reads /proc/OWNER_PID/wchan with one pread: the syscalls a
 * listen-watch sample of those listeners needs, with nothing else (no parsing, no
 * bookkeeping, no output). TCP: one exact sock_diag lookup per 127.0.0.1 listener on
 * PORT..., in one datagram, the replies read with one recvmmsg. unix: one dump of every
 * unix listener with its queue (UDIAG_SHOW_RQLEN), as listen-watch reads two or more. Prints the number of samples it took. Its CPU time per
 * sample, measured by the caller with wait4, is what the kernel charges for the reads
 * themselves on this machine; listen-watch's cost is quoted as a ratio to it.
 *
 * Loopback only: it looks listeners up, it never connects.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 64
#define TCP_LISTEN 10

struct lookup {
    struct nlmsghdr h;
    struct inet_diag_req_v2 r;
};

struct unix_dump {
    struct nlmsghdr h;
    struct unix_diag_req r;
};

/* One dump of the unix listeners, read to its NLMSG_DONE. */
static int unix_dump(int nl) {
    struct unix_dump q = {0};
    q.h.nlmsg_len = sizeof q;
    q.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    q.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    q.r.sdiag_family = AF_UNIX;
    q.r.udiag_states = 1u << TCP_LISTEN;
    q.r.udiag_show = UDIAG_SHOW_RQLEN;
    if (send(nl, &q, sizeof q, 0) < 0)
        return -1;
    static char buf[65536];
    for (;;) {
        int n = recv(nl, buf, sizeof buf, 0);
        if (n < 0)
            return -1;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n))
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
                return 0;
    }
}

static void add_ns(struct timespec *t, long ns) {
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

int main(int argc, char **argv) {
    if (argc < 5 || argc - 4 > MAX_PORTS) {
        fprintf(stderr, "usage: floor SECONDS INTERVAL_US OWNER_PID PORT... (at most %d)\n", MAX_PORTS);
        return 2;
    }
    double seconds = atof(argv[1]);
    long interval_ns = atol(argv[2]) * 1000L;
    int unix_mode = strcmp(argv[4], "unix") == 0;
    int n = unix_mode ? 0 : argc - 4;
    static struct lookup req[MAX_PORTS];
    for (int i = 0; i < n; i++) {
        req[i].h.nlmsg_len = sizeof req[i];
        req[i].h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
        req[i].h.nlmsg_flags = NLM_F_REQUEST;
        req[i].h.nlmsg_seq = i + 1;
        req[i].r.sdiag_family = AF_INET;
        req[i].r.sdiag_protocol = IPPROTO_TCP;
        req[i].r.idiag_states = 1u << TCP_LISTEN;
        req[i].r.id.idiag_sport = htons((unsigned short)atoi(argv[4 + i]));
        req[i].r.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
        req[i].r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
        req[i].r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    }
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/wchan", argv[3]);
    int wchan = open(path, O_RDONLY | O_CLOEXEC);
    if (nl < 0 || wchan < 0) {
        perror("floor: netlink socket or wchan");
        return 1;
    }
    static char slots[MAX_PORTS][1024];
    struct iovec iov[MAX_PORTS];
    struct mmsghdr msgs[MAX_PORTS];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = slots[i];
        iov[i].iov_len = sizeof slots[i];
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    struct timespec next, end;
    clock_gettime(CLOCK_MONOTONIC, &next);
    end = next;
    add_ns(&end, (long)(seconds * 1e9));
    long samples = 0;
    for (;;) {
        add_ns(&next, interval_ns);
        if (next.tv_sec > end.tv_sec || (next.tv_sec == end.tv_sec && next.tv_nsec > end.tv_nsec))
            break;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        if (unix_mode && unix_dump(nl) < 0) {
            perror("floor: unix dump");
            return 1;
        }
        if (n > 0 && send(nl, req, n * sizeof req[0], 0) < 0) {
            perror("floor: send");
            return 1;
        }
        for (int got = 0; got < n;) {
            int r = recvmmsg(nl, msgs + got, n - got, MSG_WAITFORONE, NULL);
            if (r < 0) {
                perror("floor: recvmmsg");
                return 1;
            }
            got += r;
        }
        char buf[128];
        if (pread(wchan, buf, sizeof buf, 0) < 0) {
            perror("floor: pread wchan");
            return 1;
        }
        samples++;
    }
    printf("%ld\n", samples);
    return 0;
}

/* Greeting server for bench/connect's first-byte row: accepts every connection and at
 * once writes one byte ("g") to it, then keeps it open until the process is killed, as a
 * server that speaks first (SMTP, FTP, MySQL) does. One blocking accept4() loop, no
 * threads, so the time from accept to the byte is one write().
 *
 * usage: greet_server IP   (binds IP:0 on TCP, prints "ready PORT")
 * The backlog is SOMAXCONN (capped by net.core.somaxconn). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: greet_server IP\n"); return 2; }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) die("inet_pton");
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) die("socket");
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
    if (listen(l, SOMAXCONN) < 0) die("listen");
    socklen_t len = sizeof sa;
    getsockname(l, (struct sockaddr *)&sa, &len);
    printf("ready %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0 && errno == EMFILE) { fprintf(stderr, "greet_server: out of fds\n"); pause(); }
        if (c >= 0 && write(c, "g", 1) != 1) { /* the client went away: nothing to do */ }
        /* Accepted descriptors are never closed: the kernel closes them at exit. */
    }
}

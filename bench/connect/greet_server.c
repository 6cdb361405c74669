/* Greeting server for bench/connect's first-byte row: accepts every connection and at
 * once writes one byte ("g") to it, then keeps it open until the process is killed, as a
 * server that speaks first (SMTP, FTP, MySQL) does. One blocking accept4() loop, no
 * threads, so the time from accept to the byte is one write().
 *
 * usage: greet_server IP   (binds IP:0 on TCP, prints "ready PORT")
 * The backlog is SOMAXCONN (capped by net.core.somaxconn). */
#include "listen.h"
#include <errno.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: greet_server IP\n"); return 2; }
    raise_nofile();
    int port;
    int l = listen_tcp(argv[1], &port);
    printf("ready %d\n", port);
    fflush(stdout);
    for (;;) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0 && errno == EMFILE) { fprintf(stderr, "greet_server: out of fds\n"); pause(); }
        if (c >= 0 && write(c, "g", 1) != 1) { /* the client went away: nothing to do */ }
        /* Accepted descriptors are never closed: the kernel closes them at exit. */
    }
}

/* Accept-and-hold server for bench/connect: accepts every connection as fast as it can
 * and keeps it open until the process is killed. No epoll, no threads: one blocking
 * accept4() loop, so it stays out of the dialers' way.
 *
 * usage: hold_server tcp IP      (binds IP:0, prints "ready PORT")
 *        hold_server unix PATH   (binds PATH, prints "ready PATH")
 * The backlog is SOMAXCONN (capped by net.core.somaxconn). */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: hold_server tcp IP | unix PATH\n"); return 2; }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    int l;
    if (strcmp(argv[1], "tcp") == 0) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
        if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) die("inet_pton");
        l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0) die("socket");
        if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
        if (listen(l, SOMAXCONN) < 0) die("listen");
        socklen_t len = sizeof sa;
        getsockname(l, (struct sockaddr *)&sa, &len);
        printf("ready %d\n", ntohs(sa.sin_port));
    } else {
        struct sockaddr_un su = { .sun_family = AF_UNIX };
        strncpy(su.sun_path, argv[2], sizeof su.sun_path - 1);
        l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0) die("socket");
        if (bind(l, (struct sockaddr *)&su, sizeof su) < 0) die("bind");
        if (listen(l, SOMAXCONN) < 0) die("listen");
        printf("ready %s\n", argv[2]);
    }
    fflush(stdout);
    for (;;) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0 && errno == EMFILE) { fprintf(stderr, "hold_server: out of fds\n"); pause(); }
        /* Accepted descriptors are simply never closed: the kernel closes them at exit. */
    }
}

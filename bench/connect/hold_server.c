/* Accept-and-hold server for bench/connect: accepts every connection as fast as it can
 * and keeps it open until the process is killed. No epoll, no threads: one blocking
 * accept4() loop, so it stays out of the dialers' way.
 *
 * usage: hold_server tcp IP      (binds IP:0, prints "ready PORT")
 *        hold_server unix PATH   (binds PATH, prints "ready PATH")
 * The backlog is SOMAXCONN (capped by net.core.somaxconn). */
#include "listen.h"
#include <errno.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: hold_server tcp IP | unix PATH\n"); return 2; }
    raise_nofile();
    int l;
    if (strcmp(argv[1], "tcp") == 0) {
        int port;
        l = listen_tcp(argv[2], &port);
        printf("ready %d\n", port);
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

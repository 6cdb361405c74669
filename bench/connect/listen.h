/* What the bench/connect servers share: raise the open-file limit to the hard limit, and
 * bind + listen a TCP socket on IP:0 with backlog SOMAXCONN (capped by
 * net.core.somaxconn), returning it and its port. Header-only: each server is one gcc
 * call in run.sh. */
#ifndef BENCH_CONNECT_LISTEN_H
#define BENCH_CONNECT_LISTEN_H
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>

static void die(const char *what) { perror(what); exit(1); }

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
}

static int listen_tcp(const char *ip, int *port) {
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) die("inet_pton");
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) die("socket");
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
    if (listen(l, SOMAXCONN) < 0) die("listen");
    socklen_t len = sizeof sa;
    getsockname(l, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return l;
}
#endif

/* The C reference for bench/connect's first-byte row: one connection at a time, each
 * timed with CLOCK_MONOTONIC from just before socket() to the return of the blocking
 * read() that gets the server's first byte: what socket-connect --read first-byte
 * reports as first_byte_latency_us, measured with nothing in between. Keeps every
 * connection open until the end, as socket-connect holds them.
 *
 * usage: greet_client IP PORT N
 * prints {"connected":C,"failed":F,"p50":US,"p99":US,"min":US,"max":US} (microseconds) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: greet_client IP PORT N\n"); return 2; }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) { perror("inet_pton"); return 2; }
    int n = atoi(argv[3]);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    double *us = malloc(sizeof(double) * n);
    int *fds = malloc(sizeof(int) * n);
    int ok = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        char b;
        double t0 = now_us();
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0 || read(s, &b, 1) != 1) {
            failed++;
            if (s >= 0) close(s);
            continue;
        }
        us[ok] = now_us() - t0;
        fds[ok++] = s;
    }
    if (ok == 0) { printf("{\"connected\":0,\"failed\":%d}\n", failed); return 1; }
    qsort(us, ok, sizeof us[0], by_value);
    /* The same rank HdrHistogram's value_at_quantile uses: the sample at or above q. */
    int p50 = (int)(0.50 * ok + 0.5), p99 = (int)(0.99 * ok + 0.5);
    if (p50 > 0) p50--;
    if (p99 > 0) p99--;
    printf("{\"connected\":%d,\"failed\":%d,\"p50\":%.1f,\"p99\":%.1f,\"min\":%.1f,\"max\":%.1f}\n",
           ok, failed, us[p50], us[p99], us[0], us[ok - 1]);
    return 0;
}

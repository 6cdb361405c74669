/*
 * The benchmark's client: opens N TCP connections to 127.0.0.1:PORT, at most C in flight,
 * and times each from connect() to the first byte the server's child writes (--greet),
 * i.e. how long a connection waited for a child. Prints one JSON object with the rate and
 * the latency percentiles in microseconds.
 *
 * A server may strand connections (per-event with edge triggering: connections that arrive
 * together make one epoll event, so one child, and the rest wait in the accept queue for
 * an event that never comes). After STALL_MS without progress the client stops and
 * reports them as "stranded"; the rate counts up to the last greeted connection.
 *
 * usage: fork-client PORT N C [STALL_MS]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static struct sockaddr_in target;

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&target, sizeof target) && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s PORT N C [STALL_MS]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    long n = atol(argv[2]), c = atol(argv[3]), stall_ms = argc == 5 ? atol(argv[4]) : 2000;
    target.sin_family = AF_INET;
    target.sin_port = htons(port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct pollfd *fds = calloc(c, sizeof *fds);
    double *started = calloc(c, sizeof *started), *lat = calloc(n, sizeof *lat);
    long launched = 0, finished = 0, errors = 0, active = 0;
    double t0 = now_us(), t_last = t0;
    for (long i = 0; i < c; i++) fds[i].fd = -1;
    while (finished + errors < n) {
        for (long i = 0; i < c && launched < n; i++) {
            if (fds[i].fd >= 0) continue;
            started[i] = now_us();
            fds[i].fd = dial();
            fds[i].events = POLLIN;
            launched++;
            if (fds[i].fd < 0) errors++; else active++;
        }
        if (!active) continue;
        if (poll(fds, c, stall_ms) <= 0) break; /* stalled: the rest are stranded */
        for (long i = 0; i < c; i++) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            char b;
            if (read(fds[i].fd, &b, 1) == 1) {
                t_last = now_us();
                lat[finished++] = t_last - started[i];
            } else {
                errors++;
            }
            close(fds[i].fd);
            fds[i].fd = -1;
            active--;
        }
    }
    long stranded = active;
    for (long i = 0; i < c; i++)
        if (fds[i].fd >= 0) close(fds[i].fd);
    double elapsed = (t_last - t0) / 1e6;
    qsort(lat, finished, sizeof *lat, cmp);
#define PCT(p) (finished ? lat[(long)((finished - 1) * (p))] : 0)
    printf("{\"connections\":%ld,\"errors\":%ld,\"stranded\":%ld,\"elapsed_s\":%.4f,"
           "\"rate_per_s\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
           finished, errors, stranded, elapsed, elapsed > 0 ? finished / elapsed : 0, PCT(0.5),
           PCT(0.9), PCT(0.99), PCT(1.0));
    return 0;
}

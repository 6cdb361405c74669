/* The C reference for bench/connect's pacer row: connect i is scheduled at start + i/RATE;
 * the client sleeps until then with clock_nanosleep(TIMER_ABSTIME) (high-resolution
 * timers, no tick), then connects (blocking) and times the connect from the scheduled
 * start, as socket-connect --rate counts its corrected latency. One connection at a time;
 * all are kept open until the end. What the machine gives a paced client with nothing
 * between the timer and the connect.
 *
 * usage: paced_client IP PORT N RATE
 * prints {"connected":C,"failed":F,"p50":US,"p99":US,"lag_p50":US} (microseconds) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double ts_us(const struct timespec *ts) { return ts->tv_sec * 1e6 + ts->tv_nsec / 1e3; }

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The sample at or above quantile q, as HdrHistogram's value_at_quantile picks it. */
static double at_quantile(double *v, int n, double q) {
    int i = (int)(q * n + 0.5);
    return v[i > 0 ? i - 1 : 0];
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: paced_client IP PORT N RATE\n"); return 2; }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) { perror("inet_pton"); return 2; }
    int n = atoi(argv[3]);
    double rate = atof(argv[4]);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    double *us = malloc(sizeof(double) * n), *lag = malloc(sizeof(double) * n);
    int ok = 0, failed = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < n; i++) {
        long long at_ns = (long long)start.tv_sec * 1000000000LL + start.tv_nsec
                          + (long long)(i / rate * 1e9);
        struct timespec at = { .tv_sec = at_ns / 1000000000LL, .tv_nsec = at_ns % 1000000000LL };
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) != 0) {}
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
            failed++;
            if (s >= 0) close(s);
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        us[ok] = ts_us(&t1) - ts_us(&at);
        lag[ok++] = ts_us(&t0) - ts_us(&at);
    }
    if (ok == 0) { printf("{\"connected\":0,\"failed\":%d}\n", failed); return 1; }
    qsort(us, ok, sizeof us[0], by_value);
    qsort(lag, ok, sizeof lag[0], by_value);
    printf("{\"connected\":%d,\"failed\":%d,\"p50\":%.1f,\"p99\":%.1f,\"lag_p50\":%.1f}\n",
           ok, failed, at_quantile(us, ok, 0.5), at_quantile(us, ok, 0.99), at_quantile(lag, ok, 0.5));
    return 0;
}

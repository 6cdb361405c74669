/*
 * The PHP-FPM sweep's client (bench/fork/fpm-sweep.sh): N connects to the unix socket
 * PATH, GAP_US microseconds apart (a busy wait on CLOCK_MONOTONIC, so sub-millisecond gaps
 * are kept; 0 = back to back). Right after each connect it writes one FastCGI GET request
 * for SCRIPT with QUERY_STRING "us=SLEEP_US" (BEGIN_REQUEST as responder, PARAMS, empty
 * PARAMS, empty STDIN), then reads every connection until the server closes it. Real
 * PHP-FPM runs the script; epoll-listen-fork ignores the bytes and closes after --sleep,
 * so both servers see the same traffic. Prints one JSON object: connections, done (closed
 * by the server), errors, the time the connects took and the whole run.
 *
 * Loopback only (a unix socket); bounded: each connection waits at most 30 s.
 * usage: fpm-client PATH N GAP_US SCRIPT SLEEP_US
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* One FastCGI record (request id 1, no padding) appended at out + *len. */
static void record(unsigned char *out, size_t *len, int type, const unsigned char *body, size_t n) {
    unsigned char h[8] = {1, (unsigned char)type, 0, 1, (unsigned char)(n >> 8), (unsigned char)n, 0, 0};
    memcpy(out + *len, h, 8);
    memcpy(out + *len + 8, body, n);
    *len += 8 + n;
}

/* One name-value pair; every name and value here is shorter than 128 bytes. */
static void pair(unsigned char *out, size_t *len, const char *name, const char *value) {
    size_t n = strlen(name), v = strlen(value);
    out[(*len)++] = (unsigned char)n;
    out[(*len)++] = (unsigned char)v;
    memcpy(out + *len, name, n);
    memcpy(out + *len + n, value, v);
    *len += n + v;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s PATH N GAP_US SCRIPT SLEEP_US\n", argv[0]);
        return 2;
    }
    const char *path = argv[1], *script = argv[4];
    long n = atol(argv[2]);
    double gap = atof(argv[3]);
    char query[64], uri[128];
    snprintf(query, sizeof query, "us=%ld", atol(argv[5]));
    snprintf(uri, sizeof uri, "/sleep.php?%s", query);
    if (n <= 0 || n > 10000 || strlen(script) > 120 || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "fpm-client: N must be 1-10000, SCRIPT at most 120 bytes, PATH a unix socket path\n");
        return 2;
    }
    unsigned char params[1024], req[2048];
    size_t plen = 0, rlen = 0;
    pair(params, &plen, "SCRIPT_FILENAME", script);
    pair(params, &plen, "SCRIPT_NAME", "/sleep.php");
    pair(params, &plen, "REQUEST_METHOD", "GET");
    pair(params, &plen, "QUERY_STRING", query);
    pair(params, &plen, "SERVER_PROTOCOL", "HTTP/1.1");
    pair(params, &plen, "GATEWAY_INTERFACE", "CGI/1.1");
    pair(params, &plen, "REQUEST_URI", uri);
    const unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0}; /* responder, close after */
    record(req, &rlen, 1, begin, 8);
    record(req, &rlen, 4, params, plen);
    record(req, &rlen, 4, NULL, 0);
    record(req, &rlen, 5, NULL, 0);

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, path);
    struct pollfd *fds = calloc(n, sizeof *fds);
    long errors = 0, done = 0, open = 0;
    double t0 = now_us();
    for (long i = 0; i < n; i++) {
        while (now_us() < t0 + i * gap) {} /* the gap, to the microsecond */
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) || write(fd, req, rlen) != (ssize_t)rlen) {
            if (fd >= 0) close(fd);
            fds[i].fd = -1;
            errors++;
            continue;
        }
        fds[i].fd = fd;
        fds[i].events = POLLIN;
        open++;
    }
    double connected = now_us();
    char buf[4096];
    while (open > 0) {
        if (poll(fds, n, 30000) <= 0) break; /* nothing for 30 s: give up on the rest */
        for (long i = 0; i < n; i++) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            ssize_t r = read(fds[i].fd, buf, sizeof buf);
            if (r > 0) continue;
            /* EOF, or ECONNRESET when the server closed with our request unread */
            if (r == 0 || errno == ECONNRESET) done++; else errors++;
            close(fds[i].fd);
            fds[i].fd = -1;
            open--;
        }
    }
    printf("{\"connections\":%ld,\"done\":%ld,\"errors\":%ld,\"unfinished\":%ld,"
           "\"connect_span_ms\":%.3f,\"elapsed_ms\":%.3f}\n",
           n, done, errors, open, (connected - t0) / 1e3, (now_us() - t0) / 1e3);
    return 0;
}

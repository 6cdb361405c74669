/* The minimal baseline dialer for bench/connect: blocking socket() + connect() in a loop,
 * no runtime, no event loop. Keeps every connection open, prints one JSON line, then
 * holds them until a byte or EOF arrives on stdin.
 *
 * usage: baseline tcp IP PORT N | baseline unix PATH N
 * prints {"connected":C,"failed":F,"elapsed_ms":MS,"connect_rate_per_s":R} */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    struct sockaddr_storage ss;
    socklen_t len;
    int family, n;
    memset(&ss, 0, sizeof ss);
    if (argc == 5 && strcmp(argv[1], "tcp") == 0) {
        struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
        sa->sin_family = family = AF_INET;
        sa->sin_port = htons(atoi(argv[3]));
        if (inet_pton(AF_INET, argv[2], &sa->sin_addr) != 1) { perror("inet_pton"); return 2; }
        len = sizeof *sa;
        n = atoi(argv[4]);
    } else if (argc == 4 && strcmp(argv[1], "unix") == 0) {
        struct sockaddr_un *su = (struct sockaddr_un *)&ss;
        su->sun_family = family = AF_UNIX;
        strncpy(su->sun_path, argv[2], sizeof su->sun_path - 1);
        len = sizeof *su;
        n = atoi(argv[3]);
    } else {
        fprintf(stderr, "usage: baseline tcp IP PORT N | unix PATH N\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    int *fds = malloc(sizeof(int) * n);
    int ok = 0, failed = 0;
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&ss, len) < 0) {
            failed++;
            if (s >= 0) close(s);
            continue;
        }
        fds[ok++] = s;
    }
    double ms = now_ms() - t0;
    printf("{\"connected\":%d,\"failed\":%d,\"elapsed_ms\":%.3f,\"connect_rate_per_s\":%.1f}\n",
           ok, failed, ms, ok / (ms / 1e3));
    fflush(stdout);
    char b;
    if (read(0, &b, 1) < 0) { /* EOF or error: release either way */ }
    return 0;
}

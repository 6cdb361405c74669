/*
 * The minimal fork-per-connection server the epoll-listen-fork benchmark compares with:
 * accept in the parent (blocking, no epoll), fork, the child greets, sleeps, closes, exits.
 * The parent reaps with WNOHANG after each fork and stops after N connections.
 *
 * usage: fork-baseline N SLEEP_MS GREET(0|1) [BACKLOG]
 * Prints {"event":"listening","addr":"127.0.0.1:PORT"} once listening (like the tool), and
 * {"event":"summary","forks":F,"fork_failures":E,"elapsed_ms":T} at the end.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s N SLEEP_MS GREET [BACKLOG]\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]), sleep_ms = atol(argv[2]);
    int greet = atoi(argv[3]), backlog = argc > 4 ? atoi(argv[4]) : 128;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) || listen(s, backlog) ||
        getsockname(s, (struct sockaddr *)&addr, &len)) {
        perror("listen");
        return 1;
    }
    printf("{\"event\":\"listening\",\"addr\":\"127.0.0.1:%d\"}\n", ntohs(addr.sin_port));
    fflush(stdout);
    double start = now_ms();
    long forks = 0, failures = 0;
    for (long done = 0; done < n;) {
        int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("accept");
            return 1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            if (greet && write(c, "!", 1) != 1) _exit(1);
            if (sleep_ms) usleep(sleep_ms * 1000);
            close(c);
            _exit(0);
        }
        if (pid < 0) failures++; else forks++;
        close(c);
        done++;
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
    }
    while (wait(NULL) > 0) {}
    printf("{\"event\":\"summary\",\"forks\":%ld,\"fork_failures\":%ld,\"elapsed_ms\":%.3f}\n",
           forks, failures, now_ms() - start);
    return 0;
}

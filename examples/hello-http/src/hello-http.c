/* hello-http: a small HTTP/1.0 server, written for compose's example of "your program in a minimal image".
 *
 *   GET /        -> "hello from compose\n"
 *   GET /time    -> the time now in $TZ (e.g. TZ=Asia/Kathmandu), read from /usr/share/zoneinfo
 *   GET /healthz -> "ok\n"
 *   anything else: 404; a method other than GET or HEAD: 405.
 *
 * One connection at a time, one request per connection, a 5 s read timeout: enough for an example, not a
 * production server. It listens on $PORT (default 8080) on all addresses, logs one line per request to
 * stdout, and exits 0 on SIGTERM or SIGINT (as PID 1 in a container, a signal without a handler is
 * ignored, so `podman stop` would wait 10 s and then kill it). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static void reply(int fd, int head_only, const char *status, const char *body) {
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.0 %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     status, strlen(body), head_only ? "" : body);
    if (n > 0 && (size_t)n < sizeof buf && write(fd, buf, (size_t)n) < 0)
        perror("hello-http: write");
}

static void serve(int fd) {
    char req[1024], method[8], path[256], now[96];
    size_t got = 0;
    /* Read until the end of the request line (a client sends its headers too; they are not needed). */
    while (got < sizeof req - 1 && !memchr(req, '\n', got)) {
        ssize_t n = read(fd, req + got, sizeof req - 1 - got);
        if (n <= 0)
            return;
        got += (size_t)n;
    }
    req[got] = '\0';
    if (sscanf(req, "%7s %255s", method, path) != 2) {
        reply(fd, 0, "400 Bad Request", "bad request\n");
        return;
    }
    int head = strcmp(method, "HEAD") == 0;
    const char *status = "200 OK", *body;
    if (!head && strcmp(method, "GET") != 0) {
        status = "405 Method Not Allowed";
        body = "only GET and HEAD\n";
    } else if (strcmp(path, "/") == 0) {
        body = "hello from compose\n";
    } else if (strcmp(path, "/healthz") == 0) {
        body = "ok\n";
    } else if (strcmp(path, "/time") == 0) {
        time_t t = time(NULL);
        struct tm tm;
        tzset();
        if (!localtime_r(&t, &tm) || !strftime(now, sizeof now - 1, "%Y-%m-%d %H:%M:%S %z %Z", &tm))
            strcpy(now, "unknown");
        strcat(now, "\n");
        body = now;
    } else {
        status = "404 Not Found";
        body = "not found\n";
    }
    reply(fd, head, status, body);
    printf("%s %s %.3s\n", method, path, status);
    fflush(stdout);
}

int main(void) {
    const char *p = getenv("PORT");
    long port = p && *p ? strtol(p, NULL, 10) : 8080;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "hello-http: PORT=%s is not a port number\n", p);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: accept() returns EINTR and the loop ends */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int s = socket(AF_INET6, SOCK_STREAM, 0), off = 0, on = 1;
    struct sockaddr_in6 addr;
    memset(&addr, 0, sizeof addr);
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    addr.sin6_port = htons((unsigned short)port);
    if (s >= 0)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off); /* IPv4 too, where IPv6 exists */
    if (s < 0) {
        /* No IPv6 in this network namespace: IPv4 only. */
        struct sockaddr_in a4;
        memset(&a4, 0, sizeof a4);
        a4.sin_family = AF_INET;
        a4.sin_addr.s_addr = htonl(INADDR_ANY);
        a4.sin_port = htons((unsigned short)port);
        s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
            bind(s, (struct sockaddr *)&a4, sizeof a4) < 0) {
            perror("hello-http: bind");
            return 1;
        }
    } else if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
               bind(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("hello-http: bind");
        return 1;
    }
    if (listen(s, 16) < 0) {
        perror("hello-http: listen");
        return 1;
    }
    printf("hello-http: listening on port %ld\n", port);
    fflush(stdout);
    while (!stopping) {
        int c = accept(s, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            perror("hello-http: accept");
            return 1;
        }
        struct timeval tv = {5, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        serve(c);
        close(c);
    }
    printf("hello-http: stopping\n");
    return 0;
}

/* TCP echo server on raw epoll (level-triggered, one thread): the C
 * baseline of benches/compare. Usage: echo_epoll PORT (binds 127.0.0.1). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define BUF 65536

/* Bytes read but not yet written back, per connection (fd-indexed). */
struct pending {
    char *data;
    size_t len;
};

static struct pending *pending;
static int npending;

static void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void drop_conn(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    if (fd < npending) {
        free(pending[fd].data);
        pending[fd].data = NULL;
        pending[fd].len = 0;
    }
}

/* Writes buf; keeps what the socket would not take. 0 ok, -1 drop. */
static int send_all(int ep, int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (fd >= npending) {
                int grow = fd * 2 + 16;
                pending = realloc(pending, sizeof(*pending) * grow);
                memset(pending + npending, 0, sizeof(*pending) * (grow - npending));
                npending = grow;
            }
            pending[fd].data = realloc(pending[fd].data, pending[fd].len + len);
            memcpy(pending[fd].data + pending[fd].len, buf, len);
            pending[fd].len += len;
            struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
            epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
            return 0;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    /* A peer gone mid-write must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
        perror("listen");
        return 1;
    }
    set_nonblocking(lfd);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event events[MAX_EVENTS];
    static char buf[BUF];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept(lfd, NULL, NULL)) >= 0) {
                    set_nonblocking(c);
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            if (events[i].events & EPOLLOUT) {
                struct pending p = pending[fd];
                pending[fd].data = NULL;
                pending[fd].len = 0;
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = fd};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
                int bad = send_all(ep, fd, p.data, p.len);
                free(p.data);
                if (bad) drop_conn(ep, fd);
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r > 0) {
                if (send_all(ep, fd, buf, (size_t)r) < 0) drop_conn(ep, fd);
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                drop_conn(ep, fd);
            }
        }
    }
}

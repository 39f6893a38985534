/* TCP echo server on libevent 2, written as its documentation's echo
 * server is: evconnlistener and a bufferevent per connection whose input
 * is moved to its output. Usage: echo_libevent PORT. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void echo_read(struct bufferevent *bev, void *ctx) {
    (void)ctx;
    bufferevent_write_buffer(bev, bufferevent_get_input(bev));
}

static void echo_event(struct bufferevent *bev, short events, void *ctx) {
    (void)ctx;
    if (events & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) bufferevent_free(bev);
}

static void accept_conn(struct evconnlistener *listener, evutil_socket_t fd,
                        struct sockaddr *address, int socklen, void *ctx) {
    (void)address;
    (void)socklen;
    (void)ctx;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct event_base *base = evconnlistener_get_base(listener);
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, echo_read, NULL, echo_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int main(int argc, char **argv) {
    /* A peer gone mid-write must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    struct event_base *base = event_base_new();
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(atoi(argv[1]));
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    struct evconnlistener *listener = evconnlistener_new_bind(
        base, accept_conn, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
        (struct sockaddr *)&sin, sizeof sin);
    if (!listener) {
        perror("listen");
        return 1;
    }
    return event_base_dispatch(base);
}

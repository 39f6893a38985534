/* TCP echo server on libuv, written as libuv's own echo example is: a
 * buffer per read, a write request per echo. Usage: echo_libuv PORT. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} write_req_t;

static uv_loop_t *loop;

static void alloc_buffer(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
    (void)handle;
    buf->base = malloc(suggested);
    buf->len = suggested;
}

static void on_close(uv_handle_t *handle) { free(handle); }

static void on_write(uv_write_t *req, int status) {
    (void)status;
    write_req_t *w = (write_req_t *)req;
    free(w->buf.base);
    free(w);
}

static void on_read(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf) {
    if (nread > 0) {
        write_req_t *w = malloc(sizeof *w);
        w->buf = uv_buf_init(buf->base, (unsigned)nread);
        uv_write(&w->req, client, &w->buf, 1, on_write);
        return;
    }
    if (nread < 0) uv_close((uv_handle_t *)client, on_close);
    free(buf->base);
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) return;
    uv_tcp_t *client = malloc(sizeof *client);
    uv_tcp_init(loop, client);
    if (uv_accept(server, (uv_stream_t *)client) == 0) {
        uv_tcp_nodelay(client, 1);
        uv_read_start((uv_stream_t *)client, alloc_buffer, on_read);
    } else {
        uv_close((uv_handle_t *)client, on_close);
    }
}

int main(int argc, char **argv) {
    /* A peer gone mid-write must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
    uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    int r = uv_listen((uv_stream_t *)&server, 4096, on_connection);
    if (r) {
        fprintf(stderr, "listen: %s\n", uv_strerror(r));
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}

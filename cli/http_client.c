/* http_client.c - blocking HTTP/1.1 requests over a TCP socket, with timeouts.
 *
 * The request is written whole, the connection half-stays open until the server closes it
 * (Connection: close), and the answer is split into status line, headers and body. A chunked
 * body is de-chunked; otherwise Content-Length, when present, bounds the body. Every wait goes
 * through poll() against one deadline, so a silent server cannot hang the command. */
#include "http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vp_json.h"

static void seterr(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && cap) vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_split_hostport(const char *s, char *host, size_t host_cap, uint16_t *port)
{
    const char *colon;
    size_t hl;
    if (!s || !*s) return -1;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') return -1;
        hl = (size_t)(close - s - 1);
        s++;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return -1;
        hl = (size_t)(colon - s);
    }
    if (!hl || hl >= host_cap) return -1;
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p > 65535) return -1;
    memcpy(host, s, hl);
    host[hl] = 0;
    *port = (uint16_t)p;
    return 0;
}

static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
        if (r > 0) return 0;
        if (r < 0 && errno != EINTR) return -errno;
    }
}

static int connect_to(const char *host, uint16_t port, long long deadline, char *err, size_t cap)
{
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc) {
        seterr(err, cap, "%s:%u: %s", host, port, gai_strerror(rc));
        return -1;
    }
    int fd = -1, last = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (!w && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) && !soerr) break;
            last = w ? -w : soerr;
        } else {
            last = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) seterr(err, cap, "%s:%u: cannot connect: %s", host, port, strerror(last));
    return fd;
}

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = wait_fd(fd, POLLOUT, deadline);
            if (w) return w;
            continue;
        }
        return n < 0 ? -errno : -EPIPE;
    }
    return 0;
}

/* Finds header `name` in hdr[0..len) (case-insensitive); copies its value. */
static int header_value(const char *hdr, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = hdr, *end = hdr + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            size_t vl = (size_t)(eol - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            if (vl >= cap) vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = 0;
            return 0;
        }
        p = eol + 1;
    }
    return -1;
}

/* De-chunks body in place; returns its new length or -1 when malformed. */
static long long dechunk(char *b, size_t len)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        if (in >= len) return -1;
        errno = 0;
        unsigned long long n = strtoull(b + in, &end, 16);
        if (errno || end == b + in) return -1;
        char *eol = memchr(end, '\n', len - (size_t)(end - b));
        if (!eol) return -1;
        in = (size_t)(eol - b) + 1;
        if (n == 0) return (long long)out;
        if (n > len - in) return -1;
        memmove(b + out, b + in, n);
        out += n;
        in += n;
        if (in < len && b[in] == '\r') in++;
        if (in < len && b[in] == '\n') in++;
    }
}

int cli_http_request(const char *addr, const char *method, const char *path, const char *token,
                     const char *body, size_t body_len, int timeout_ms, cli_http_resp *out,
                     char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    char host[256];
    uint16_t port;
    if (cli_split_hostport(addr, host, sizeof host, &port)) {
        seterr(err, err_cap, "'%s' is not HOST:PORT", addr ? addr : "");
        return -1;
    }
    long long deadline = now_ms() + timeout_ms;
    int fd = connect_to(host, port, deadline, err, err_cap);
    if (fd < 0) return -1;
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vrampack/0.1.0\r\n"
                      "Accept: application/json\r\nConnection: close\r\n",
                      method, path, addr);
    if (token && *token)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "Authorization: Bearer %s\r\n", token);
    if (body)
        hl += snprintf(head + hl, sizeof head - (size_t)hl,
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
    hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
    if (hl >= (int)sizeof head) {
        close(fd);
        seterr(err, err_cap, "request header too long");
        return -1;
    }
    int rc = send_all(fd, head, (size_t)hl, deadline);
    if (!rc && body) rc = send_all(fd, body, body_len, deadline);
    /* A server may answer (413, 401) and close before reading the whole body: read anyway. */
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        seterr(err, err_cap, "out of memory");
        return -1;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= CLI_HTTP_MAX_RESPONSE) {
                rc = -E2BIG;
                break;
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0) {
            rc = 0;
            break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(fd, POLLIN, deadline);
            if (w) {
                rc = w;
                break;
            }
            continue;
        }
        /* A reset after a complete answer (server closed with unread body) still counts. */
        rc = len ? 0 : -errno;
        break;
    }
    close(fd);
    buf[len] = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    int status = 0;
    if (rc || !sep || sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        if (rc == -ETIMEDOUT)
            seterr(err, err_cap, "%s: no answer within %d ms", addr, timeout_ms);
        else if (rc)
            seterr(err, err_cap, "%s: %s", addr, strerror(-rc));
        else
            seterr(err, err_cap, "%s: not an HTTP answer", addr);
        free(buf);
        return -1;
    }
    size_t hdr_len = (size_t)(sep - buf), off = hdr_len + 4, blen = len - off;
    char v[64];
    if (!header_value(buf, hdr_len, "Transfer-Encoding", v, sizeof v) && strstr(v, "chunked")) {
        long long n = dechunk(buf + off, blen);
        if (n < 0) {
            seterr(err, err_cap, "%s: malformed chunked answer", addr);
            free(buf);
            return -1;
        }
        blen = (size_t)n;
    } else if (!header_value(buf, hdr_len, "Content-Length", v, sizeof v)) {
        unsigned long long cl = strtoull(v, NULL, 10);
        if (cl < blen) blen = (size_t)cl;
    }
    memmove(buf, buf + off, blen);
    buf[blen] = 0;
    out->status = status;
    out->body = buf;
    out->len = blen;
    return 0;
}

void cli_http_resp_free(cli_http_resp *r)
{
    if (!r) return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

int cli_token_load(const char *path, char *out, size_t cap)
{
    char *buf;
    size_t len;
    vp_err e = {0};
    if (vp_read_file(path, 64 * 1024, &buf, &len, &e)) {
        fprintf(stderr, "vrampack: --token-file: %s\n", e.msg);
        return -1;
    }
    char *p = buf;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    size_t n = strcspn(p, "\r\n");
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (!n || n >= cap) {
        fprintf(stderr, "vrampack: --token-file: %s: the token must be one line of 1..%zu bytes\n",
                path, cap - 1);
        free(buf);
        return -1;
    }
    memcpy(out, p, n);
    out[n] = 0;
    free(buf);
    return 0;
}

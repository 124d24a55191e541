/* proxy.c - the partition relay (proxy.h). */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_target(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
}

static void drop_pair(h_proxy *p, int i)
{
    close(p->pairs[i][0]);
    close(p->pairs[i][1]);
    p->pairs[i][0] = p->pairs[--p->n_pairs][0];
    p->pairs[i][1] = p->pairs[p->n_pairs][1];
}

/* Relays what fd has to its peer; false when the pair is finished. */
static bool relay(int from, int to)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0) return false;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        off += w;
    }
    return true;
}

static void *run(void *arg)
{
    h_proxy *p = arg;
    while (!p->stop) {
        struct pollfd fds[1 + 2 * PROXY_MAX_PAIRS];
        int n = 0;
        bool open = !p->blackhole;
        if (open && p->n_pairs < PROXY_MAX_PAIRS)
            fds[n++] = (struct pollfd){p->listen_fd, POLLIN, 0};
        int base = n;
        for (int i = 0; open && i < p->n_pairs; i++) {
            fds[n++] = (struct pollfd){p->pairs[i][0], POLLIN, 0};
            fds[n++] = (struct pollfd){p->pairs[i][1], POLLIN, 0};
        }
        if (poll(fds, (nfds_t)n, 50) <= 0 || p->blackhole) continue;
        if (base && (fds[0].revents & POLLIN)) {
            int c = accept(p->listen_fd, NULL, NULL);
            int t = c >= 0 ? connect_target(p->target_port) : -1;
            if (c >= 0 && t >= 0) {
                p->pairs[p->n_pairs][0] = c;
                p->pairs[p->n_pairs][1] = t;
                p->n_pairs++;
            } else {
                if (c >= 0) close(c);
                if (t >= 0) close(t);
            }
        }
        for (int i = (n - base) / 2 - 1; i >= 0; i--) {
            const struct pollfd *a = &fds[base + 2 * i], *b = &fds[base + 2 * i + 1];
            bool ok = true;
            if (a->revents & (POLLIN | POLLHUP | POLLERR)) ok = relay(a->fd, b->fd);
            if (ok && (b->revents & (POLLIN | POLLHUP | POLLERR))) ok = relay(b->fd, a->fd);
            if (!ok) drop_pair(p, i);
        }
    }
    return NULL;
}

int h_proxy_start(h_proxy *p, uint16_t target_port)
{
    memset(p, 0, sizeof *p);
    p->target_port = target_port;
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    socklen_t len = sizeof sa;
    if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&sa, sizeof sa) ||
        listen(p->listen_fd, 64) || getsockname(p->listen_fd, (struct sockaddr *)&sa, &len))
        return -1;
    p->port = ntohs(sa.sin_port);
    if (pthread_create(&p->thread, NULL, run, p)) return -1;
    p->started = true;
    return 0;
}

void h_proxy_blackhole(h_proxy *p, bool on)
{
    p->blackhole = on;
}

void h_proxy_stop(h_proxy *p)
{
    if (!p->started) return;
    p->stop = 1;
    pthread_join(p->thread, NULL);
    while (p->n_pairs)
        drop_pair(p, 0);
    close(p->listen_fd);
    p->started = false;
}

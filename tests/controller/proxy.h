/* proxy.h - a TCP relay for partition tests: agents connect to it, it relays to the controller,
 * and on request it becomes a black hole (nothing is relayed either way and new connections
 * wait unanswered in the backlog) until it is healed. Runs on a thread of its own. */
#ifndef TEST_PROXY_H
#define TEST_PROXY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PROXY_MAX_PAIRS 32

typedef struct h_proxy {
    int listen_fd;
    uint16_t port;        /* where agents connect */
    uint16_t target_port; /* the controller's agent port on 127.0.0.1 */
    pthread_t thread;
    bool started;
    volatile int stop, blackhole;
    int pairs[PROXY_MAX_PAIRS][2]; /* proxy thread only */
    int n_pairs;
} h_proxy;

int h_proxy_start(h_proxy *p, uint16_t target_port);
void h_proxy_blackhole(h_proxy *p, bool on);
void h_proxy_stop(h_proxy *p);

#endif

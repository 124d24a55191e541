/* http_client.h - a minimal blocking HTTP/1.1 client for `vrampack submit` and `status`.
 *
 * One request per connection (Connection: close), a hard timeout on connect, send and receive,
 * and a cap on the response size. Enough for talking to the controller's API; not a general
 * client (no TLS, no redirects, no keep-alive). */
#ifndef CLI_HTTP_CLIENT_H
#define CLI_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define CLI_HTTP_MAX_RESPONSE (256u << 20)

typedef struct cli_http_resp {
    int status; /* HTTP status code */
    char *body; /* NUL-terminated; caller frees with cli_http_resp_free */
    size_t len;
} cli_http_resp;

/* Splits "HOST:PORT" or "[V6]:PORT" into host and port. Returns 0 or -1 (malformed). */
int cli_split_hostport(const char *s, char *host, size_t host_cap, uint16_t *port);

/* Sends one request to addr ("HOST:PORT") and reads the whole answer. token (may be NULL) goes
 * in `Authorization: Bearer`; body may be NULL. Returns 0 with *out filled (any status), or -1
 * with a one-line reason in err (cannot connect, timeout, malformed answer). */
int cli_http_request(const char *addr, const char *method, const char *path, const char *token,
                     const char *body, size_t body_len, int timeout_ms, cli_http_resp *out,
                     char *err, size_t err_cap);

void cli_http_resp_free(cli_http_resp *r);

/* Reads a token file (its first line, trimmed, 1..cap-1 bytes) into out; prints the reason to
 * stderr and returns -1 when it cannot. */
int cli_token_load(const char *path, char *out, size_t cap);

#endif

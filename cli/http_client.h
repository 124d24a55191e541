/* http_client.h - blocking HTTP requests for `vrampack submit` and `status`, over libcurl.
 *
 * One request per call, with a hard timeout on the whole exchange, a cap on the response size,
 * an optional bearer token, and a one-line reason when no answer came (cannot connect, timeout,
 * not HTTP). The controller's address is "HOST:PORT", "[V6]:PORT" or an http:// or https:// URL
 * (HTTPS is verified against the system's CA store). Proxies from the environment are honoured
 * as curl does, except for loopback addresses. Not thread-safe on one response; distinct calls
 * may run on distinct threads. */
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

/* Sends one request to addr and reads the whole answer. token (may be NULL or "") goes in
 * `Authorization: Bearer`; body (may be NULL) is sent as application/json. Returns 0 with *out
 * filled (any status), or -1 with a one-line reason in err that names addr:
 *   "127.0.0.1:7071: cannot connect: Connection refused"
 *   "127.0.0.1:7071: no answer within 30000 ms" */
int cli_http_request(const char *addr, const char *method, const char *path, const char *token,
                     const char *body, size_t body_len, int timeout_ms, cli_http_resp *out,
                     char *err, size_t err_cap);

void cli_http_resp_free(cli_http_resp *r);

/* The server's own words for a failed request: the "error" string of a JSON answer, else the
 * answer's first line, else the status's reason phrase; at most cap-1 bytes, control bytes
 * replaced by spaces. Returns buf. */
const char *cli_http_error_text(const cli_http_resp *r, char *buf, size_t cap);

/* Reads a token file (its first line, trimmed, 1..cap-1 bytes) into out; prints the reason to
 * stderr and returns -1 when it cannot. */
int cli_token_load(const char *path, char *out, size_t cap);

#endif

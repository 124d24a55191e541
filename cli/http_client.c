/* http_client.c - blocking HTTP requests over libcurl (http_client.h).
 *
 * Each call builds one easy handle, runs it to completion and frees it: the CLI makes one or two
 * requests per run, so a connection cache would buy nothing. libcurl owns the protocol (chunked
 * bodies, Expect: 100-continue for large bodies, so a 413 comes back without the body being sent,
 * TLS); this file owns what the CLI promises: the whole exchange bounded by one timeout, the
 * answer bounded in size, and a failure told in one line that names the address. */
#include "http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vp_json.h"

static void seterr(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && cap) vsnprintf(err, cap, fmt, ap);
    va_end(ap);
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

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The request's base URL ("http://HOST:PORT", no trailing slash) and its host, from addr. */
static int base_url(const char *addr, char *url, size_t cap, char *host, size_t host_cap)
{
    const char *hp = addr;
    const char *scheme = "http://";
    if (!strncmp(addr, "http://", 7)) {
        hp = addr + 7;
    } else if (!strncmp(addr, "https://", 8)) {
        hp = addr + 8;
        scheme = "https://";
    }
    size_t n = strlen(hp);
    while (n && hp[n - 1] == '/')
        n--;
    char bare[300];
    uint16_t port;
    if (n >= sizeof bare) return -1;
    memcpy(bare, hp, n);
    bare[n] = 0;
    if (cli_split_hostport(bare, host, host_cap, &port)) return -1;
    int w = snprintf(url, cap, "%s%s", scheme, bare);
    return w < 0 || (size_t)w >= cap ? -1 : 0;
}

/* Environment proxies never apply to loopback: the user's NO_PROXY plus the loopback names. */
static void no_proxy_list(char *out, size_t cap)
{
    const char *env = getenv("NO_PROXY");
    if (!env || !*env) env = getenv("no_proxy");
    snprintf(out, cap, "%s%slocalhost,127.0.0.1,::1", env && *env ? env : "",
             env && *env ? "," : "");
}

typedef struct sink {
    char *buf;
    size_t len, cap;
    bool too_big;
} sink;

static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t add = size * n;
    if (s->len + add > CLI_HTTP_MAX_RESPONSE) {
        s->too_big = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    if (s->len + add + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64 * 1024;
        while (cap < s->len + add + 1)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, add);
    s->len += add;
    s->buf[s->len] = 0;
    return add;
}

/* The one line for a failed transfer. */
static void transfer_error(CURL *h, CURLcode rc, const sink *s, const char *addr, int timeout_ms,
                           const char *detail, char *err, size_t cap)
{
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        seterr(err, cap, "%s: cannot connect: %s", addr,
               os_errno ? strerror((int)os_errno) : (detail[0] ? detail : "refused"));
        break;
    case CURLE_OPERATION_TIMEDOUT:
        seterr(err, cap, "%s: no answer within %d ms", addr, timeout_ms);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        seterr(err, cap, "%s: cannot resolve the host name", addr);
        break;
    case CURLE_WRITE_ERROR:
        if (s->too_big) {
            seterr(err, cap, "%s: answer larger than %u MiB", addr, CLI_HTTP_MAX_RESPONSE >> 20);
            break;
        }
        seterr(err, cap, "%s: out of memory reading the answer", addr);
        break;
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
        seterr(err, cap, "%s: not an HTTP answer", addr);
        break;
    default:
        seterr(err, cap, "%s: %s", addr, detail[0] ? detail : curl_easy_strerror(rc));
    }
}

int cli_http_request(const char *addr, const char *method, const char *path, const char *token,
                     const char *body, size_t body_len, int timeout_ms, cli_http_resp *out,
                     char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    char base[320], host[256], url[2048], noproxy[1024], auth[320];
    if (!addr || base_url(addr, base, sizeof base, host, sizeof host)) {
        seterr(err, err_cap, "'%s' is not HOST:PORT or http://HOST:PORT", addr ? addr : "");
        return -1;
    }
    if (token && strlen(token) > 256) {
        seterr(err, err_cap, "the token is longer than 256 bytes");
        return -1;
    }
    int n = snprintf(url, sizeof url, "%s%s", base, path);
    if (n < 0 || (size_t)n >= sizeof url) {
        seterr(err, err_cap, "%s: path too long", addr);
        return -1;
    }
    pthread_once(&curl_once, curl_init);
    CURL *h = curl_init_rc == CURLE_OK ? curl_easy_init() : NULL;
    if (!h) {
        seterr(err, err_cap, "cannot start libcurl");
        return -1;
    }
    struct curl_slist *hdrs = NULL, *tmp;
    static const char *const fixed[] = {"Accept: application/json",
                                        "Content-Type: application/json"};
    bool hdr_ok = true;
    for (size_t i = 0; i < 2 && hdr_ok; i++) {
        if (i == 1 && !body) break;
        hdr_ok = (tmp = curl_slist_append(hdrs, fixed[i])) != NULL;
        if (hdr_ok) hdrs = tmp;
    }
    if (hdr_ok && token && *token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdr_ok = (tmp = curl_slist_append(hdrs, auth)) != NULL;
        if (hdr_ok) hdrs = tmp;
    }
    no_proxy_list(noproxy, sizeof noproxy);
    char detail[CURL_ERROR_SIZE] = "";
    sink s = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "vrampack/" VP_VERSION);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOPROXY, noproxy);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, body ? "POST" : "GET"))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = hdr_ok ? curl_easy_perform(h) : CURLE_OUT_OF_MEMORY;
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) transfer_error(h, rc, &s, addr, timeout_ms, detail, err, err_cap);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        free(s.buf);
        return -1;
    }
    if (!s.buf && !(s.buf = calloc(1, 1))) {
        seterr(err, err_cap, "out of memory");
        return -1;
    }
    out->status = (int)status;
    out->body = s.buf;
    out->len = s.len;
    return 0;
}

void cli_http_resp_free(cli_http_resp *r)
{
    if (!r) return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "no message";
    }
}

const char *cli_http_error_text(const cli_http_resp *r, char *buf, size_t cap)
{
    if (!cap) return buf;
    buf[0] = 0;
    cJSON *j = r->body && r->len ? cJSON_ParseWithLength(r->body, r->len) : NULL;
    const cJSON *msg = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    if (cJSON_IsString(msg) && msg->valuestring[0])
        snprintf(buf, cap, "%s", msg->valuestring);
    else if (!j && r->body && r->len)
        snprintf(buf, cap, "%.*s", (int)strcspn(r->body, "\r\n"), r->body);
    cJSON_Delete(j);
    if (!buf[0]) snprintf(buf, cap, "%s", reason_phrase(r->status));
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f) *p = ' ';
    return buf;
}

int cli_token_load(const char *path, char *out, size_t cap)
{
    char *buf;
    size_t len;
    vp_err e = {0};
    if (vp_read_file(path, 64 * 1024, &buf, &len, &e)) {
        fprintf(stderr, "vrampack: token file: %s\n", e.msg);
        return -1;
    }
    char *p = buf;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    size_t n = strcspn(p, "\r\n");
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (!n || n >= cap) {
        fprintf(stderr, "vrampack: token file: %s: the token must be one line of 1..%zu bytes\n",
                path, cap - 1);
        free(buf);
        return -1;
    }
    memcpy(out, p, n);
    out[n] = 0;
    free(buf);
    return 0;
}

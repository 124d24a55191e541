/* reader.c - a byte accumulator that turns a connection's reads into whole messages.
 *
 * Pure: the I/O layer feeds it whatever recv() returned and pulls messages out. Unread bytes
 * live in buf[off..len); consumed bytes are dropped by moving the tail to the front before the
 * buffer grows, so the buffer stays around one maximal frame plus one read even for a peer that
 * streams frames continuously. */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int proto_reader_feed(proto_reader *r, const void *data, size_t n)
{
    if (n == 0) return 0;
    if (r->off > 0 && r->len + n > r->cap) {
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n) {
            if (cap > SIZE_MAX / 2) return -ENOMEM;
            cap *= 2;
        }
        uint8_t *p = realloc(r->buf, cap);
        if (!p) return -ENOMEM;
        r->buf = p;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    return 0;
}

int proto_reader_next(proto_reader *r, proto_msg *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    size_t consumed = 0, plen = 0;
    const uint8_t *payload = NULL;
    int rc = proto_frame_decode(r->buf ? r->buf + r->off : NULL, r->len - r->off, &consumed,
                                &payload, &plen);
    if (rc == VP_EAGAIN) return rc;
    if (rc == VP_ETOOBIG)
        return vp_errf(e, rc, "frame: announced length over the %u-byte limit", PROTO_MAX_FRAME);
    if (rc) return vp_errf(e, rc, "frame: zero-length frame");
    r->off += consumed;
    if (r->off == r->len) r->off = r->len = 0;
    return proto_msg_decode(payload, plen, out, e);
}

void proto_reader_free(proto_reader *r)
{
    if (!r) return;
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* frame.c - length-prefixed framing and the token comparison (see proto.h).
 *
 * The decoder reads the 4-byte big-endian header first and refuses an oversize or empty frame
 * from the header alone, so a peer can never make us buffer more than one maximal frame. It
 * never copies and never allocates: the payload pointer aims into the caller's buffer. */
#include "proto.h"

#include <errno.h>
#include <string.h>

int proto_frame_decode(const uint8_t *buf, size_t len, size_t *consumed, const uint8_t **payload,
                       size_t *payload_len)
{
    if (len < PROTO_HEADER_BYTES) return VP_EAGAIN;
    uint32_t n =
        (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | (uint32_t)buf[3];
    if (n == 0) return VP_EPROTO;
    if (n > PROTO_MAX_FRAME) return VP_ETOOBIG;
    if (len - PROTO_HEADER_BYTES < n) return VP_EAGAIN;
    *payload = buf + PROTO_HEADER_BYTES;
    *payload_len = n;
    *consumed = PROTO_HEADER_BYTES + (size_t)n;
    return 0;
}

int proto_frame_encode(const void *payload, size_t len, vp_sb *out)
{
    if (len == 0 || len > PROTO_MAX_FRAME) return VP_ETOOBIG;
    if (out->oom) return -ENOMEM;
    size_t before = out->len;
    char hdr[PROTO_HEADER_BYTES] = {(char)(len >> 24), (char)(len >> 16), (char)(len >> 8),
                                    (char)len};
    vp_sb_append(out, hdr, sizeof hdr);
    vp_sb_append(out, payload, len);
    if (!vp_sb_ok(out)) {
        /* Keep what the builder had: a half frame would corrupt the stream. */
        out->oom = 0;
        out->len = before;
        if (out->buf) out->buf[before] = '\0';
        return -ENOMEM;
    }
    return 0;
}

bool proto_token_equal(const char *a, const char *b)
{
    if (!a) a = "";
    if (!b) b = "";
    /* Walk the full cap on both strings regardless of content, so timing reveals neither the
     * position of the first difference nor the secret's length. */
    volatile unsigned char diff = 0;
    bool ended_a = false, ended_b = false;
    for (size_t i = 0; i < PROTO_TOKEN_MAX; i++) {
        unsigned char ca = ended_a ? 0 : (unsigned char)a[i];
        unsigned char cb = ended_b ? 0 : (unsigned char)b[i];
        diff |= ca ^ cb;
        ended_a = ended_a || ca == 0;
        ended_b = ended_b || cb == 0;
    }
    /* Tokens longer than the cap never match anything (the decoder refuses them anyway). */
    if (!ended_a || !ended_b) return false;
    return diff == 0;
}

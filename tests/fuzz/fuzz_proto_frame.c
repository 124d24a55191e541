/* fuzz_proto_frame.c - libFuzzer target for the wire decoder: arbitrary bytes go through the
 * stream reader (framing + message decode) in chunks whose sizes the input chooses; every
 * message that decodes must re-encode and decode to the same JSON, and nothing may crash,
 * leak or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static void check_reencode(const proto_msg *m)
{
    vp_sb a = {0}, b = {0};
    if (proto_msg_to_json(m, &a, NULL) != 0) abort(); /* a decoded message is always valid */
    proto_msg again;
    vp_err e;
    if (proto_msg_decode((const uint8_t *)a.buf, a.len, &again, &e) != 0) abort();
    if (proto_msg_to_json(&again, &b, NULL) != 0) abort();
    if (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0) abort();
    proto_msg_free(&again);
    vp_sb_free(&a);
    vp_sb_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte picks the chunk size, so partial frames are exercised too. */
    size_t chunk = size ? (size_t)data[0] % 64 + 1 : 1;
    if (size) {
        data++;
        size--;
    }
    proto_reader r = {0};
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (proto_reader_feed(&r, data + off, n)) break;
        for (;;) {
            proto_msg m;
            vp_err e;
            int rc = proto_reader_next(&r, &m, &e);
            if (rc == 0) {
                check_reencode(&m);
                proto_msg_free(&m);
                continue;
            }
            if (rc == VP_EAGAIN) break;
            /* Fatal framing errors and bad messages both end the stream: the daemons close the
             * connection on either. */
            goto done;
        }
    }
done:
    /* Also hit the payload decoder directly with the raw bytes. */
    {
        proto_msg m;
        vp_err e;
        if (proto_msg_decode(data, size, &m, &e) == 0) check_reencode(&m);
        proto_msg_free(&m);
    }
    proto_reader_free(&r);
    return 0;
}

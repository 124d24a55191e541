/* proto_int.h - what the proto files share among themselves (not part of the module's face). */
#ifndef PROTO_INT_H
#define PROTO_INT_H

#include "proto.h"

#define PROTO_LAST PROTO_LEASE /* highest message type */
#define PROTO_MAX_PP 16        /* pipeline stages of one replica */

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_) return rc_;                                                                       \
    } while (0)

/* The one validator: 0, or `code` with e naming the message and field. msg.c. */
int proto_check(const proto_msg *m, int code, vp_err *e);
/* Frees an assign's heap lists (command, engine_args). msg.c. */
void proto_assign_free_parts(proto_assign *a);

#endif

/* proto.h - the controller <-> agent wire format: framing, messages, encode and decode.
 *
 * A frame is a 4-byte big-endian payload length followed by that many bytes of one JSON object.
 * Payloads are 1..PROTO_MAX_FRAME bytes; a longer announced length is refused before any payload
 * arrives (the connection must then be closed: the stream cannot be resynchronised). Every
 * object carries "type" and "v" (PROTO_VERSION); a receiver refuses any other version.
 *
 * The module is pure in the picohttpparser sense: bytes in, messages out, no sockets, no clocks,
 * no global state, and every function may be called from any thread on distinct objects. The
 * decoder copies everything it keeps out of the JSON tree, so a proto_msg owns its data: fixed
 * arrays with hard caps for the small parts, heap arrays (report placements, assign command)
 * released by proto_msg_free. Fields unknown to this version are ignored so that newer peers can
 * add optional ones; a missing required field, a wrong type or an out-of-range value is
 * VP_EPROTO with a message naming the message type and the field. */
#ifndef PROTO_H
#define PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vp.h"

#define PROTO_VERSION 2 /* 2: engines, revisions, ports, leases */
#define PROTO_HEADER_BYTES 4
#define PROTO_MAX_FRAME (1024u * 1024u) /* payload bytes, header excluded */

/* Hard caps (a string cap includes the NUL). */
#define PROTO_MAX_GPUS 16         /* GPUs per node; GPU indices are 0..15 */
#define PROTO_MAX_PLACEMENTS 4096 /* placements in one report */
#define PROTO_MAX_ARGV 64         /* items of an assign's worker command */
#define PROTO_ARG_MAX 4096        /* one command item or engine argument */
#define PROTO_NAME_MAX 64         /* node names and model names */
#define PROTO_ID_MAX 96           /* placement ids ("model/replica[/stage]") */
#define PROTO_GPU_MODEL_MAX 96    /* GPU model names (NVML names are long) */
#define PROTO_UUID_MAX 96
#define PROTO_TOKEN_MAX 256
#define PROTO_VERSION_STR_MAX 32 /* software version in hello, e.g. "0.1.0" */
#define PROTO_CODE_MAX 32        /* error codes, e.g. "auth" */
#define PROTO_TEXT_MAX 512       /* error messages and placement errors */
#define PROTO_REV_MAX 17         /* placement revisions: 16 hex digits */
#define PROTO_ENGINE_MAX 16      /* engine names ("llama.cpp") */
#define PROTO_SOURCE_MAX 512     /* what an engine loads: repository id or path */
#define PROTO_TYPE_MAX 48        /* instance types ("p5.48xlarge") */
#define PROTO_DTYPE_MAX 16       /* dtype names ("q4_k_m") */
#define PROTO_MAX_LORAS 100000   /* LoRA adapters resident at once (a manifest's cap) */
#define PROTO_MAX_LORA_RANK 4096 /* LoRA rank */
#define PROTO_MAX_SPEC_TOKENS 64 /* tokens a speculative draft proposes per step */
#define PROTO_MAX_LEASE_MS 3600000u
#define PROTO_MAX_READY_S 86400u

#define PROTO_MAX_HEARTBEAT_MS 3600000u
#define PROTO_MAX_PID 4194304 /* Linux pid_max limit */

/* Error codes used in `error` messages (a peer may send others; they are free text). */
#define PROTO_CODE_AUTH "auth"             /* missing or wrong token */
#define PROTO_CODE_VERSION "version"       /* unsupported protocol version */
#define PROTO_CODE_PROTOCOL "protocol"     /* malformed or unexpected frame */
#define PROTO_CODE_OVERCOMMIT "overcommit" /* an assign that exceeds a GPU's usable bytes */
#define PROTO_CODE_BAD_ASSIGN "bad_assign" /* an assign naming missing GPUs, conflicting id, ...   \
                                            */
#define PROTO_CODE_SPAWN "spawn"           /* the worker could not be started */

typedef enum proto_type {
    PROTO_HELLO = 1, /* agent -> controller, first frame on a connection */
    PROTO_REPORT,    /* agent -> controller, the FULL list of the agent's placements */
    PROTO_HEARTBEAT, /* agent -> controller */
    PROTO_WELCOME,   /* controller -> agent, answer to a hello it accepted */
    PROTO_ASSIGN,    /* controller -> agent */
    PROTO_RELEASE,   /* controller -> agent */
    PROTO_ERROR,     /* either way */
    PROTO_LEASE,     /* controller -> agent, answer to a heartbeat: the lease is renewed */
} proto_type;

typedef enum proto_state {
    PROTO_STARTING = 0, /* worker spawned, not yet ready */
    PROTO_RUNNING,      /* worker said "ready" */
    PROTO_FAILED,       /* refused, crashed or could not start; `error` says why */
    PROTO_STOPPED,      /* released and stopped; dropped from the next report */
} proto_state;

typedef struct proto_gpu {
    uint32_t index;                  /* 0..PROTO_MAX_GPUS-1, distinct within a hello */
    char uuid[PROTO_UUID_MAX];       /* may be empty (simulated GPUs get a made-up one) */
    char model[PROTO_GPU_MODEL_MAX]; /* e.g. "H100-80GB" */
    uint64_t total_bytes;            /* physical memory, > 0 */
} proto_gpu;

/* {"type":"hello","v":2,"node":...,"version":...,"token":...,"gpus":[...]
 *  [,"instance_type":...][,"lease_ms":N]} */
typedef struct proto_hello {
    char node[PROTO_NAME_MAX];           /* required, non-empty */
    char version[PROTO_VERSION_STR_MAX]; /* agent software version; may be empty */
    char token[PROTO_TOKEN_MAX];         /* may be empty (no token configured) */
    int n_gpus;                          /* 0..PROTO_MAX_GPUS */
    proto_gpu gpus[PROTO_MAX_GPUS];
    char instance_type[PROTO_TYPE_MAX];  /* `agent --type`, for the node's price; may be empty */
    uint32_t lease_ms; /* the agent stops its workers after this long without a renewal; 0: none */
} proto_hello;

/* One entry of a report. An agent may run two instances of one id at once (a roll in place):
 * they differ by revision. */
typedef struct proto_placement {
    char id[PROTO_ID_MAX];      /* required, non-empty */
    char rev[PROTO_REV_MAX];    /* revision of the assign it runs; may be empty */
    char model[PROTO_NAME_MAX]; /* may be empty */
    proto_state state;
    int32_t pid;         /* worker pid, 0 when none is running */
    uint64_t bytes_used; /* bytes per GPU the placement holds (its slice) */
    int n_gpus;          /* 0..PROTO_MAX_GPUS */
    uint8_t gpus[PROTO_MAX_GPUS];
    uint32_t port;       /* serving port, 0 when none */
    uint32_t failures;   /* times its worker failed (died, or not ready in time) since assigned */
    char error[PROTO_TEXT_MAX]; /* last error, "" when none */
} proto_placement;

/* {"type":"report","v":1,"node":...,"placements":[...]}. placements is a heap array of
 * n_placements entries (cap_placements allocated) owned by the message. */
typedef struct proto_report {
    char node[PROTO_NAME_MAX];
    size_t n_placements, cap_placements;
    proto_placement *placements;
} proto_report;

/* {"type":"heartbeat","v":1,"node":...,"seq":N} */
typedef struct proto_heartbeat {
    char node[PROTO_NAME_MAX];
    uint64_t seq; /* increases by one per heartbeat on a connection; <= 2^53 */
} proto_heartbeat;

/* {"type":"welcome","v":2,"heartbeat_ms":N[,"gpu_memory_utilization":F][,"lease_ms":N]} */
typedef struct proto_welcome {
    uint32_t heartbeat_ms; /* 1..PROTO_MAX_HEARTBEAT_MS */
    uint32_t lease_ms;     /* the lease the controller grants (renewed by `lease`); 0: none */
    /* Fraction of each GPU's total bytes the agent may hand out, in (0, 1]. 0 means "not
     * given": it is then left out of the frame and the agent uses its default (0.90, as in
     * DESIGN.md "usable GPU memory"). */
    double gpu_memory_utilization;
} proto_welcome;

/* {"type":"assign","v":2,"id":...,"rev":...,"model":...,"replica":R,"gpus":[...],
 *  "bytes_per_gpu":N,"fraction":F,"engine":...,"source":...,"command":[argv...]|null,
 *  "engine_args":[...],"max_seq_len":N,"max_batch":N,"kv_dtype":...,"kv_bytes":N,"pp":N,
 *  "stage":N,"ready_timeout_s":N[,"max_loras":N,"max_lora_rank":N][,"draft":...,
 *  "spec_tokens":N]}. The agent builds the command line from the engine's launch profile
 * (engine.h) and picks the port itself. The workload fields are optional (left out when 0 or
 * ""): an agent of this version that predates them ignores them and launches without them. */
typedef struct proto_assign {
    char id[PROTO_ID_MAX];      /* required, non-empty */
    char rev[PROTO_REV_MAX];    /* the controller's revision of this placement; may be empty */
    char model[PROTO_NAME_MAX]; /* required, non-empty */
    uint32_t replica;
    int n_gpus; /* 1..PROTO_MAX_GPUS, distinct indices */
    uint8_t gpus[PROTO_MAX_GPUS];
    uint64_t bytes_per_gpu; /* > 0 */
    double fraction;        /* the slice as a fraction of one GPU's total, in (0, 1] */
    char engine[PROTO_ENGINE_MAX]; /* engine name; "" is the built-in worker */
    char source[PROTO_SOURCE_MAX]; /* what the engine loads; "" is the model name */
    /* Worker command template (engine "command"), NULL/0 otherwise (encoded as null). Heap
     * array of n_command heap strings, owned by the message. */
    char **command;
    size_t n_command; /* 0..PROTO_MAX_ARGV; 0 iff command is NULL */
    /* Extra arguments appended verbatim; heap array owned by the message, like command. */
    char **engine_args;
    size_t n_engine_args; /* 0..PROTO_MAX_ARGV */
    uint64_t max_seq_len, max_batch; /* 0: not given */
    char kv_dtype[PROTO_DTYPE_MAX];  /* "" is fp16 */
    uint64_t kv_bytes;               /* KV cache bytes per GPU the plan counted; 0: unknown */
    uint32_t pp, stage;              /* pipeline stages (0 or 1: none) and this one */
    uint32_t ready_timeout_s;        /* 0: the engine profile's default */
    /* LoRA adapters served on the base: resident at once (1..PROTO_MAX_LORAS; 0: none) and
     * their rank (1..PROTO_MAX_LORA_RANK, given iff max_loras is). */
    uint32_t max_loras, max_lora_rank;
    char draft[PROTO_SOURCE_MAX]; /* what the engine loads as a speculative draft; "": none */
    uint32_t spec_tokens;         /* tokens the draft proposes (0: the engine's 5; only with one) */
} proto_assign;

/* {"type":"release","v":2,"id":...[,"rev":...]}: rev "" releases every instance of the id. */
typedef struct proto_release {
    char id[PROTO_ID_MAX];
    char rev[PROTO_REV_MAX];
} proto_release;

/* {"type":"lease","v":2,"seq":N,"lease_ms":N}: renews the agent's lease; seq echoes the
 * heartbeat it answers. */
typedef struct proto_lease {
    uint64_t seq;
    uint32_t lease_ms; /* 1..PROTO_MAX_LEASE_MS */
} proto_lease;

/* {"type":"error","v":1,"code":...,"message":...[,"id":...]} */
typedef struct proto_error {
    char code[PROTO_CODE_MAX];    /* required, non-empty; see PROTO_CODE_* */
    char message[PROTO_TEXT_MAX]; /* may be empty */
    char id[PROTO_ID_MAX];        /* placement the error is about, "" when none (omitted) */
} proto_error;

typedef struct proto_msg {
    proto_type type;
    union {
        proto_hello hello;
        proto_report report;
        proto_heartbeat heartbeat;
        proto_welcome welcome;
        proto_assign assign;
        proto_release release;
        proto_error error;
        proto_lease lease;
    } u;
} proto_msg;

/* ---- framing ---------------------------------------------------------------------------- */

/* Looks for one complete frame at the start of buf[0..len).
 * Returns 0 with *payload pointing INTO buf (not copied), *payload_len its length and *consumed
 * the bytes the frame occupies (header + payload); VP_EAGAIN when more bytes are needed (outputs
 * untouched; call again with the same bytes plus more); VP_ETOOBIG when the announced length
 * exceeds PROTO_MAX_FRAME (known from the header alone); VP_EPROTO for a zero length. After
 * VP_ETOOBIG or VP_EPROTO the stream is unusable and the connection must be closed. */
int proto_frame_decode(const uint8_t *buf, size_t len, size_t *consumed, const uint8_t **payload,
                       size_t *payload_len);

/* Appends header + payload to out. VP_ETOOBIG when len is 0 or over PROTO_MAX_FRAME, -ENOMEM
 * when out ran out of memory (out keeps what it had). */
int proto_frame_encode(const void *payload, size_t len, vp_sb *out);

/* ---- messages --------------------------------------------------------------------------- */

/* Zeroes m and sets its type. */
void proto_msg_init(proto_msg *m, proto_type type);

/* Releases the heap parts (report placements, assign command) and zeroes m; NULL is fine.
 * Safe on a zeroed or init'ed message and after a failed decode. */
void proto_msg_free(proto_msg *m);

/* Decodes one frame payload (the JSON object, no header) into out, which the caller then owns
 * and frees with proto_msg_free (also on failure: out is left zeroed then, so freeing is a
 * no-op). Errors: VP_EPROTO for malformed JSON, a missing or unknown "type", a "v" other than
 * PROTO_VERSION, and any missing, wrong-typed or out-of-range field or over-cap array/string;
 * e->msg names the field, e.g. "assign.gpus[3]: must be an integer in [0, 15]". VP_ETOOBIG
 * when len > PROTO_MAX_FRAME. -ENOMEM on allocation failure. */
int proto_msg_decode(const uint8_t *payload, size_t len, proto_msg *out, vp_err *e);

/* Appends m as one frame (header + JSON) to out. Validates what the decoder would refuse
 * (VP_EINPUT with e naming the field, so a bad message is caught at the sender), VP_ETOOBIG when
 * the JSON exceeds PROTO_MAX_FRAME, -ENOMEM. On failure out keeps what it had. e may be NULL. */
int proto_msg_encode(const proto_msg *m, vp_sb *out, vp_err *e);

/* Same as proto_msg_encode but appends only the JSON text (no header): for logs and tests. */
int proto_msg_to_json(const proto_msg *m, vp_sb *out, vp_err *e);

/* Convenience: encodes m into a fresh malloc'd frame the caller frees; *len gets its size. */
int proto_msg_encode_alloc(const proto_msg *m, uint8_t **frame, size_t *len, vp_err *e);

/* ---- builders for the heap parts --------------------------------------------------------- */

/* Appends a copy of p to r->placements (growing it). VP_ETOOBIG past PROTO_MAX_PLACEMENTS,
 * -ENOMEM. */
int proto_report_add(proto_report *r, const proto_placement *p);

/* Replaces a->command with copies of argv[0..n) (n == 0 or argv NULL: none).
 * VP_ETOOBIG past PROTO_MAX_ARGV items or an item of PROTO_ARG_MAX bytes or more, -ENOMEM. */
int proto_assign_set_command(proto_assign *a, const char *const *argv, size_t n);
/* The same for a->engine_args. */
int proto_assign_set_engine_args(proto_assign *a, const char *const *argv, size_t n);
/* Deep copy of src into *dst (which is overwritten, not freed): 0 or -ENOMEM (dst zeroed). */
int proto_assign_copy(proto_assign *dst, const proto_assign *src);

/* ---- names and helpers ------------------------------------------------------------------- */

const char *proto_type_name(proto_type t);   /* "hello", ...; "?" when unknown */
const char *proto_state_name(proto_state s); /* "starting", ...; "?" when unknown */
/* Parses a state name; 0 or VP_EINPUT. */
int proto_state_parse(const char *s, proto_state *out);

/* Compares two NUL-terminated tokens in time that depends only on their lengths' maximum
 * (up to PROTO_TOKEN_MAX), never on where they first differ. NULL counts as "". */
bool proto_token_equal(const char *a, const char *b);

/* ---- stream reader (pure: the I/O layer feeds it what it read) --------------------------- */

/* Accumulates bytes from a connection and hands out whole messages. Zero-initialise; release
 * with proto_reader_free. One owner, one thread. */
typedef struct proto_reader {
    uint8_t *buf;
    size_t len, cap, off; /* unread bytes are buf[off..len) */
} proto_reader;

/* Copies data[0..n) in. -ENOMEM on allocation failure (the reader keeps what it had). */
int proto_reader_feed(proto_reader *r, const void *data, size_t n);

/* Takes the next complete message out: 0 (caller owns *out, frees with proto_msg_free),
 * VP_EAGAIN (need more bytes), or a fatal error (VP_ETOOBIG, VP_EPROTO, -ENOMEM) after which the
 * connection must be closed. */
int proto_reader_next(proto_reader *r, proto_msg *out, vp_err *e);

void proto_reader_free(proto_reader *r);

#endif

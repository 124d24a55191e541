/* store.c - the controller's durable state in SQLite: manifest, models, plan nodes, placements,
 * unplaced replicas, registered nodes and an event log.
 *
 * The file runs in WAL mode with synchronous=FULL, so a commit that returned survives a crash of
 * the process or the machine. The desired state (manifest + plan) is always replaced in ONE
 * transaction together with the event that explains it; the controller calls it before it sends
 * any assign derived from that state, which is what makes a restart lose or double nothing.
 * Node rows (liveness, GPUs) are observations, written in batches. Only the loop thread uses
 * the connection. Corrupt or inconsistent rows are refused at load with a message naming the
 * file, table and row, never patched silently. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_internal.h"
#include "vp_json.h"

#define SCHEMA_VERSION "1"
#define EVENTS_KEEP "100000" /* rows of the event log kept */

struct ctl_store {
    sqlite3 *db;
    char path[1024];
    uint64_t inserts_since_prune;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS models(name TEXT PRIMARY KEY, position INTEGER NOT NULL,"
    "  spec TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS nodes(name TEXT PRIMARY KEY,"
    "  state TEXT NOT NULL CHECK(state IN ('ready','lost')), version TEXT NOT NULL,"
    "  gpus TEXT NOT NULL, registered_ms INTEGER NOT NULL, last_heartbeat_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS plan_nodes(position INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL, price_per_hour REAL NOT NULL, inventory INTEGER NOT NULL,"
    "  gpus TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS placements(id TEXT PRIMARY KEY, model TEXT NOT NULL,"
    "  replica INTEGER NOT NULL, stage INTEGER NOT NULL, n_stages INTEGER NOT NULL,"
    "  node TEXT NOT NULL, gpus TEXT NOT NULL, bytes_per_gpu INTEGER NOT NULL,"
    "  desired TEXT NOT NULL CHECK(desired IN ('run','stop')));"
    "CREATE TABLE IF NOT EXISTS unplaced(position INTEGER PRIMARY KEY, model TEXT NOT NULL,"
    "  replica INTEGER NOT NULL, reason TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts_ms INTEGER NOT NULL, kind TEXT NOT NULL, node TEXT NOT NULL, detail TEXT NOT NULL);";

static int db_err(ctl_store *s, vp_err *e, const char *what)
{
    return vp_errf(e, VP_ESTATE, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int exec(ctl_store *s, const char *sql, vp_err *e)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = vp_errf(e, VP_ESTATE, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

int ctl_store_open(const char *path, ctl_store **out, vp_err *e)
{
    ctl_store *s = calloc(1, sizeof *s);
    if (!s) return vp_errf(e, -ENOMEM, "%s: out of memory", path);
    snprintf(s->path, sizeof s->path, "%s", path);
    /* The state names nodes, placements and models: readable by its owner only (SQLite gives
     * its -wal and -shm files the same mode). */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        int err = errno;
        if (fd >= 0) close(fd);
        free(s);
        return vp_errf(e, VP_ESTATE, "%s: cannot open: %s", path, strerror(err));
    }
    close(fd);
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = vp_errf(e, VP_ESTATE, "%s: cannot open: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite3_close(s->db);
        free(s);
        return rc;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* journal_mode answers with a row; a file that cannot switch to WAL says "delete". */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = db_err(s, e, "journal_mode=WAL");
        sqlite3_finalize(st);
        goto fail;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal")) {
        rc = vp_errf(e, VP_ESTATE, "%s: cannot use WAL mode (journal_mode is %s)", path,
                     mode ? mode : "?");
        sqlite3_finalize(st);
        goto fail;
    }
    sqlite3_finalize(st);
    if ((rc = exec(s, "PRAGMA synchronous=FULL", e))) goto fail;
    if ((rc = exec(s, "BEGIN IMMEDIATE", e))) goto fail;
    if ((rc = exec(s, schema, e))) {
        exec(s, "ROLLBACK", NULL);
        goto fail;
    }
    if ((rc =
             exec(s,
                  "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '" SCHEMA_VERSION
                  "')",
                  e)) ||
        (rc = exec(s, "COMMIT", e))) {
        exec(s, "ROLLBACK", NULL);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    sqlite3_close(s->db);
    free(s);
    return rc;
}

void ctl_store_close(ctl_store *s)
{
    if (!s) return;
    sqlite3_close(s->db);
    free(s);
}

/* ---- encoding helpers ---- */

static char *gpus_json(const ctl_node *n)
{
    vp_sb sb = {0};
    vp_sb_append(&sb, "[", 1);
    for (int i = 0; i < n->n_gpus; i++) {
        vp_sb_printf(&sb, "%s{\"index\":%u,\"model\":", i ? "," : "", n->gpus[i].index);
        ctl_json_str(&sb, n->gpus[i].model);
        if (n->gpus[i].uuid[0]) {
            vp_sb_append(&sb, ",\"uuid\":", 8);
            ctl_json_str(&sb, n->gpus[i].uuid);
        }
        vp_sb_printf(&sb, ",\"total_bytes\":%" PRIu64 "}", n->gpus[i].total_bytes);
    }
    vp_sb_append(&sb, "]", 1);
    if (!vp_sb_ok(&sb)) {
        vp_sb_free(&sb);
        return NULL;
    }
    return vp_sb_steal(&sb);
}

static char *plan_gpus_json(const place_node *n)
{
    vp_sb sb = {0};
    vp_sb_append(&sb, "[", 1);
    for (int i = 0; i < n->n_gpus; i++) {
        vp_sb_printf(&sb, "%s{\"model\":", i ? "," : "");
        ctl_json_str(&sb, n->gpus[i].model);
        vp_sb_printf(&sb, ",\"usable_bytes\":%" PRIu64 ",\"bandwidth_gbs\":%u}",
                     n->gpus[i].usable_bytes, n->gpus[i].bandwidth_gbs);
    }
    vp_sb_append(&sb, "]", 1);
    if (!vp_sb_ok(&sb)) {
        vp_sb_free(&sb);
        return NULL;
    }
    return vp_sb_steal(&sb);
}

static void idx_list(char *buf, size_t cap, const uint8_t *g, int n)
{
    size_t len = 0;
    buf[0] = 0;
    len += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%u", i ? "," : "", g[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* ---- writes ---- */

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static int put_meta(ctl_store *s, const char *key, const char *value, vp_err *e)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
        return db_err(s, e, "meta");
    bind_text(st, 1, key);
    bind_text(st, 2, value);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(s, e, "meta");
    sqlite3_finalize(st);
    return rc;
}

static int insert_event(ctl_store *s, const ctl_event *ev, vp_err *e)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO events(ts_ms, kind, node, detail) VALUES(?, ?, ?, ?)", -1,
                           &st, NULL) != SQLITE_OK)
        return db_err(s, e, "events");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)ev->ts_ms);
    bind_text(st, 2, ev->kind);
    bind_text(st, 3, ev->node);
    bind_text(st, 4, ev->detail);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(s, e, "events");
    sqlite3_finalize(st);
    s->inserts_since_prune++;
    return rc;
}

static int prune_events(ctl_store *s, vp_err *e)
{
    if (s->inserts_since_prune < 1000) return 0;
    s->inserts_since_prune = 0;
    return exec(s, "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - " EVENTS_KEEP, e);
}

/* One row per model for people inspecting the file: its name, its position in the manifest and
 * how it runs, from the parsed manifest (the text itself is the meta row "manifest"). */
static int write_models(ctl_store *s, const plan_manifest *m, vp_err *e)
{
    int rc = exec(s, "DELETE FROM models", e);
    if (rc || !m) return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO models(name, position, spec) "
                           "VALUES(?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(s, e, "models");
    for (size_t i = 0; i < m->n_models && !rc; i++) {
        const plan_model *pm = &m->models[i];
        vp_sb spec = {0};
        vp_sb_printf(&spec, "{\"engine\":\"%s\",\"source\":", eng_name(pm->engine));
        vp_sb_json_str(&spec, pm->source);
        vp_sb_printf(&spec,
                     ",\"replicas\":%u,\"dtype\":\"%s\",\"kv_dtype\":\"%s\","
                     "\"max_seq_len\":%llu,\"max_batch\":%llu}",
                     pm->replicas, plan_dtype_name(pm->opts.dtype),
                     plan_dtype_name(pm->opts.kv_dtype), (unsigned long long)pm->opts.seq_len,
                     (unsigned long long)pm->opts.batch);
        sqlite3_reset(st);
        bind_text(st, 1, pm->name);
        sqlite3_bind_int(st, 2, (int)i);
        bind_text(st, 3, vp_sb_ok(&spec) ? vp_sb_str(&spec) : "{}");
        if (sqlite3_step(st) != SQLITE_DONE) rc = db_err(s, e, "models");
        vp_sb_free(&spec);
    }
    sqlite3_finalize(st);
    return rc;
}

static int write_plan(ctl_store *s, const place_plan *p, vp_err *e)
{
    int rc;
    if ((rc = exec(s, "DELETE FROM plan_nodes; DELETE FROM placements; DELETE FROM unplaced", e)))
        return rc;
    sqlite3_stmt *sn = NULL, *sp = NULL, *su = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO plan_nodes(position, name, type, price_per_hour, "
                           "inventory, gpus) VALUES(?, ?, ?, ?, ?, ?)",
                           -1, &sn, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT INTO placements(id, model, replica, stage, n_stages, "
                           "node, gpus, bytes_per_gpu, desired) "
                           "VALUES(?, ?, ?, ?, ?, ?, ?, ?, 'run')",
                           -1, &sp, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT INTO unplaced(position, model, replica, reason) "
                           "VALUES(?, ?, ?, ?)",
                           -1, &su, NULL) != SQLITE_OK) {
        rc = db_err(s, e, "plan");
        goto done;
    }
    for (size_t i = 0; i < p->n_nodes; i++) {
        const place_node *n = &p->nodes[i];
        char *g = plan_gpus_json(n);
        if (!g) {
            rc = vp_errf(e, -ENOMEM, "%s: out of memory", s->path);
            goto done;
        }
        sqlite3_reset(sn);
        sqlite3_bind_int64(sn, 1, (sqlite3_int64)i);
        bind_text(sn, 2, n->name);
        bind_text(sn, 3, n->type);
        sqlite3_bind_double(sn, 4, n->price_per_hour);
        sqlite3_bind_int(sn, 5, n->inventory ? 1 : 0);
        bind_text(sn, 6, g);
        free(g);
        if (sqlite3_step(sn) != SQLITE_DONE) {
            rc = db_err(s, e, "plan_nodes");
            goto done;
        }
    }
    for (size_t i = 0; i < p->n_placements; i++) {
        const place_placement *q = &p->placements[i];
        char g[PLACE_MAX_GPUS * 4 + 4];
        idx_list(g, sizeof g, q->gpus, q->n_gpus);
        sqlite3_reset(sp);
        bind_text(sp, 1, q->id);
        bind_text(sp, 2, q->model);
        sqlite3_bind_int64(sp, 3, q->replica);
        sqlite3_bind_int(sp, 4, q->stage);
        sqlite3_bind_int(sp, 5, q->n_stages);
        bind_text(sp, 6, p->nodes[q->node].name);
        bind_text(sp, 7, g);
        sqlite3_bind_int64(sp, 8, (sqlite3_int64)q->bytes_per_gpu);
        if (sqlite3_step(sp) != SQLITE_DONE) {
            rc = db_err(s, e, "placements");
            goto done;
        }
    }
    for (size_t i = 0; i < p->n_unplaced; i++) {
        sqlite3_reset(su);
        sqlite3_bind_int64(su, 1, (sqlite3_int64)i);
        bind_text(su, 2, p->unplaced[i].model);
        sqlite3_bind_int64(su, 3, p->unplaced[i].replica);
        bind_text(su, 4, p->unplaced[i].reason);
        if (sqlite3_step(su) != SQLITE_DONE) {
            rc = db_err(s, e, "unplaced");
            goto done;
        }
    }
    vp_sb h = {0};
    vp_sb_append(&h, "{\"solver\":", 10);
    ctl_json_str(&h, p->solver);
    vp_sb_append(&h, ",\"status\":", 10);
    ctl_json_str(&h, p->status);
    vp_sb_printf(&h,
                 ",\"cost_per_hour\":%.17g,\"lower_bound_per_hour\":%.17g,\"gap\":%.17g,"
                 "\"solve_ms\":%" PRIu64 "}",
                 p->cost_per_hour, p->lower_bound_per_hour, p->gap, p->solve_ms);
    if (!vp_sb_ok(&h))
        rc = vp_errf(e, -ENOMEM, "%s: out of memory", s->path);
    else
        rc = put_meta(s, "plan", vp_sb_str(&h), e);
    vp_sb_free(&h);
done:
    sqlite3_finalize(sn);
    sqlite3_finalize(sp);
    sqlite3_finalize(su);
    return rc;
}

static int upsert_nodes(ctl_store *s, ctl_node *const *nodes, size_t n_nodes, vp_err *e)
{
    if (!n_nodes) return 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO nodes(name, state, version, gpus, "
                           "registered_ms, last_heartbeat_ms) VALUES(?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(s, e, "nodes");
    int rc = 0;
    for (size_t i = 0; i < n_nodes && !rc; i++) {
        const ctl_node *n = nodes[i];
        char *g = gpus_json(n);
        if (!g) {
            rc = vp_errf(e, -ENOMEM, "%s: out of memory", s->path);
            break;
        }
        sqlite3_reset(st);
        bind_text(st, 1, n->name);
        bind_text(st, 2, n->state == CTL_NODE_LOST ? "lost" : "ready");
        bind_text(st, 3, n->version);
        bind_text(st, 4, g);
        free(g);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)n->registered_wall_ms);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)n->last_hb_wall_ms);
        if (sqlite3_step(st) != SQLITE_DONE) rc = db_err(s, e, "nodes");
    }
    sqlite3_finalize(st);
    return rc;
}

int ctl_store_save_desired(ctl_store *s, const char *manifest_text, const plan_manifest *manifest,
                           const place_plan *plan, ctl_node *const *nodes, size_t n_nodes,
                           uint64_t replans_total, const char *event_kind, const char *event_detail,
                           vp_err *e)
{
    int rc = exec(s, "BEGIN IMMEDIATE", e);
    if (rc) return rc;
    if ((rc = upsert_nodes(s, nodes, n_nodes, e))) goto fail;
    if (manifest_text) {
        if ((rc = put_meta(s, "manifest", manifest_text, e))) goto fail;
        if ((rc = write_models(s, manifest, e))) goto fail;
    }
    if (plan && (rc = write_plan(s, plan, e))) goto fail;
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, replans_total);
    if ((rc = put_meta(s, "replans_total", num, e))) goto fail;
    if (event_kind) {
        ctl_event ev = {.ts_ms = ctl_wall_ms()};
        snprintf(ev.kind, sizeof ev.kind, "%s", event_kind);
        snprintf(ev.detail, sizeof ev.detail, "%s", event_detail ? event_detail : "");
        if ((rc = insert_event(s, &ev, e))) goto fail;
    }
    if ((rc = exec(s, "COMMIT", e))) goto fail;
    return 0;
fail:
    exec(s, "ROLLBACK", NULL);
    return rc;
}

int ctl_store_flush(ctl_store *s, ctl_node *const *nodes, size_t n_nodes, const ctl_event *ev,
                    size_t n_ev, vp_err *e)
{
    if (!n_nodes && !n_ev) return 0;
    int rc = exec(s, "BEGIN IMMEDIATE", e);
    if (rc) return rc;
    if ((rc = upsert_nodes(s, nodes, n_nodes, e))) goto fail;
    for (size_t i = 0; i < n_ev; i++)
        if ((rc = insert_event(s, &ev[i], e))) goto fail;
    if ((rc = prune_events(s, e))) goto fail;
    if ((rc = exec(s, "COMMIT", e))) goto fail;
    return 0;
fail:
    exec(s, "ROLLBACK", NULL);
    return rc;
}

/* ---- reads ---- */

static int get_meta(ctl_store *s, const char *key, char **out, vp_err *e)
{
    *out = NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return db_err(s, e, "meta");
    bind_text(st, 1, key);
    int rc = 0, step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v && !(*out = strdup(v))) rc = vp_errf(e, -ENOMEM, "%s: out of memory", s->path);
    } else if (step != SQLITE_DONE) {
        rc = db_err(s, e, "meta");
    }
    sqlite3_finalize(st);
    return rc;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? t : "";
}

static int copy_name(char *dst, size_t cap, const char *src, const char *ctx, vp_err *e)
{
    if (!*src || strlen(src) >= cap)
        return vp_errf(e, VP_ESTATE, "%s: must be 1..%zu bytes", ctx, cap - 1);
    strcpy(dst, src);
    return 0;
}

static int parse_idx_list(const char *txt, uint8_t *g, int *n, const char *ctx, vp_err *e)
{
    cJSON *a = cJSON_Parse(txt);
    int rc = 0;
    *n = 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > PLACE_MAX_GPUS) {
        rc = vp_errf(e, VP_ESTATE, "%s.gpus: must be an array of 1..%d GPU indices", ctx,
                     PLACE_MAX_GPUS);
        goto done;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= PLACE_MAX_GPUS ||
            it->valuedouble != (int)it->valuedouble) {
            rc = vp_errf(e, VP_ESTATE, "%s.gpus: bad GPU index", ctx);
            goto done;
        }
        g[(*n)++] = (uint8_t)it->valuedouble;
    }
done:
    cJSON_Delete(a);
    return rc;
}

static int load_plan(ctl_store *s, const char *header, place_plan **out, vp_err *e)
{
    char ctx[1200];
    place_plan *p = place_plan_new();
    if (!p) return vp_errf(e, -ENOMEM, "%s: out of memory", s->path);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    cJSON *h = cJSON_Parse(header);
    if (!cJSON_IsObject(h)) {
        rc = vp_errf(e, VP_ESTATE, "%s: meta.plan: not a JSON object", s->path);
        goto done;
    }
    snprintf(ctx, sizeof ctx, "%s: meta.plan", s->path);
    char solver[sizeof p->solver] = "", status[sizeof p->status] = "";
    vp_json_str(h, "solver", ctx, false, solver, sizeof solver, NULL);
    vp_json_str(h, "status", ctx, false, status, sizeof status, NULL);
    strcpy(p->solver, solver);
    strcpy(p->status, status);
    vp_json_double(h, "cost_per_hour", ctx, false, 0, 1e18, &p->cost_per_hour, NULL);
    vp_json_double(h, "lower_bound_per_hour", ctx, false, 0, 1e18, &p->lower_bound_per_hour, NULL);
    vp_json_double(h, "gap", ctx, false, -1e18, 1e18, &p->gap, NULL);
    vp_json_u64(h, "solve_ms", ctx, false, 0, VP_JSON_MAX_EXACT, &p->solve_ms, NULL);

    if (sqlite3_prepare_v2(s->db,
                           "SELECT name, type, price_per_hour, inventory, gpus FROM "
                           "plan_nodes ORDER BY position",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, e, "plan_nodes");
        goto done;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        place_node n;
        memset(&n, 0, sizeof n);
        snprintf(ctx, sizeof ctx, "%s: plan_nodes[%s]", s->path, col_text(st, 0));
        if ((rc = copy_name(n.name, sizeof n.name, col_text(st, 0), ctx, e))) goto done;
        snprintf(n.type, sizeof n.type, "%s", col_text(st, 1));
        n.price_per_hour = sqlite3_column_double(st, 2);
        n.inventory = sqlite3_column_int(st, 3) != 0;
        cJSON *g = cJSON_Parse(col_text(st, 4));
        if (!cJSON_IsArray(g) || cJSON_GetArraySize(g) > PLACE_MAX_GPUS) {
            cJSON_Delete(g);
            rc = vp_errf(e, VP_ESTATE, "%s.gpus: must be an array of at most %d GPUs", ctx,
                         PLACE_MAX_GPUS);
            goto done;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, g)
        {
            place_gpu *pg = &n.gpus[n.n_gpus++];
            vp_err ge = {0};
            if (vp_json_str(it, "model", ctx, true, pg->model, sizeof pg->model, &ge) ||
                vp_json_u64(it, "usable_bytes", ctx, true, 0, INT64_MAX, &pg->usable_bytes, &ge) <
                    0 ||
                vp_json_u32(it, "bandwidth_gbs", ctx, false, 0, UINT32_MAX, &pg->bandwidth_gbs,
                            &ge) < 0) {
                cJSON_Delete(g);
                rc = vp_errf(e, VP_ESTATE, "%s", ge.msg);
                goto done;
            }
        }
        cJSON_Delete(g);
        if ((rc = place_plan_add_node(p, &n)) < 0) {
            rc = vp_errf(e, VP_ESTATE, "%s: cannot add (%s)", ctx, vp_strerror(rc));
            goto done;
        }
        rc = 0;
    }
    if (step != SQLITE_DONE) {
        rc = db_err(s, e, "plan_nodes");
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;

    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, model, replica, stage, n_stages, node, gpus, "
                           "bytes_per_gpu FROM placements WHERE desired = 'run' "
                           "ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, e, "placements");
        goto done;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        snprintf(ctx, sizeof ctx, "%s: placements[%s]", s->path, col_text(st, 0));
        const char *node = col_text(st, 5);
        int ni = -1;
        for (size_t i = 0; i < p->n_nodes; i++)
            if (!strcmp(p->nodes[i].name, node)) ni = (int)i;
        if (ni < 0) {
            rc = vp_errf(e, VP_ESTATE, "%s.node: \"%s\" is not a plan node", ctx, node);
            goto done;
        }
        uint8_t g[PLACE_MAX_GPUS];
        int ng;
        if ((rc = parse_idx_list(col_text(st, 6), g, &ng, ctx, e))) goto done;
        sqlite3_int64 replica = sqlite3_column_int64(st, 2);
        sqlite3_int64 bytes = sqlite3_column_int64(st, 7);
        int stage = sqlite3_column_int(st, 3), n_stages = sqlite3_column_int(st, 4);
        if (replica < 0 || replica > UINT32_MAX || bytes <= 0 || stage < -1 ||
            stage >= PLAN_MAX_PP || n_stages < 1 || n_stages > PLAN_MAX_PP) {
            rc = vp_errf(e, VP_ESTATE, "%s: replica, stage or bytes_per_gpu out of range", ctx);
            goto done;
        }
        int k = place_plan_assign(p, col_text(st, 1), (uint32_t)replica, stage, n_stages, ni, g, ng,
                                  (uint64_t)bytes);
        if (k < 0) {
            rc = vp_errf(e, VP_ESTATE, "%s: does not fit its node (%s)", ctx, vp_strerror(k));
            goto done;
        }
        if (strcmp(p->placements[k].id, col_text(st, 0))) {
            rc = vp_errf(e, VP_ESTATE, "%s.id: does not match model/replica/stage (%s)", ctx,
                         p->placements[k].id);
            goto done;
        }
    }
    if (step != SQLITE_DONE) {
        rc = db_err(s, e, "placements");
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;

    if (sqlite3_prepare_v2(s->db, "SELECT model, replica, reason FROM unplaced ORDER BY position",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, e, "unplaced");
        goto done;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 replica = sqlite3_column_int64(st, 1);
        if (replica < 0 || replica > UINT32_MAX ||
            place_plan_add_unplaced(p, col_text(st, 0), (uint32_t)replica, col_text(st, 2)) < 0) {
            rc = vp_errf(e, VP_ESTATE, "%s: unplaced[%s]: bad row", s->path, col_text(st, 0));
            goto done;
        }
    }
    if (step != SQLITE_DONE) {
        rc = db_err(s, e, "unplaced");
        goto done;
    }
    char why[512];
    if (place_plan_validate(p, why, sizeof why)) {
        rc = vp_errf(e, VP_ESTATE, "%s: stored plan is inconsistent: %s", s->path, why);
        goto done;
    }
done:
    sqlite3_finalize(st);
    cJSON_Delete(h);
    if (rc)
        place_plan_free(p);
    else
        *out = p;
    return rc;
}

static int load_nodes(ctl_store *s, ctl_loaded *out, vp_err *e)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT name, state, version, gpus, registered_ms, "
                           "last_heartbeat_ms FROM nodes ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(s, e, "nodes");
    int rc = 0, step;
    char ctx[1200];
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        snprintf(ctx, sizeof ctx, "%s: nodes[%s]", s->path, col_text(st, 0));
        ctl_node *n = calloc(1, sizeof *n);
        ctl_node **v = realloc(out->nodes, (out->n_nodes + 1) * sizeof *v);
        if (!n || !v) {
            free(n);
            if (v) out->nodes = v;
            rc = vp_errf(e, -ENOMEM, "%s: out of memory", s->path);
            break;
        }
        out->nodes = v;
        out->nodes[out->n_nodes++] = n;
        if ((rc = copy_name(n->name, sizeof n->name, col_text(st, 0), ctx, e))) break;
        n->state = strcmp(col_text(st, 1), "lost") ? CTL_NODE_READY : CTL_NODE_LOST;
        snprintf(n->version, sizeof n->version, "%s", col_text(st, 2));
        n->registered_wall_ms = (uint64_t)sqlite3_column_int64(st, 4);
        n->last_hb_wall_ms = (uint64_t)sqlite3_column_int64(st, 5);
        cJSON *g = cJSON_Parse(col_text(st, 3));
        if (!cJSON_IsArray(g) || cJSON_GetArraySize(g) > PROTO_MAX_GPUS) {
            cJSON_Delete(g);
            rc = vp_errf(e, VP_ESTATE, "%s.gpus: must be an array of at most %d GPUs", ctx,
                         PROTO_MAX_GPUS);
            break;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, g)
        {
            ctl_gpu *cg = &n->gpus[n->n_gpus++];
            if (vp_json_u32(it, "index", ctx, true, 0, PROTO_MAX_GPUS - 1, &cg->index, e) ||
                vp_json_str(it, "model", ctx, true, cg->model, sizeof cg->model, e) ||
                vp_json_str(it, "uuid", ctx, false, cg->uuid, sizeof cg->uuid, e) < 0 ||
                vp_json_u64(it, "total_bytes", ctx, true, 1, INT64_MAX, &cg->total_bytes, e)) {
                rc = VP_ESTATE;
                e->code = rc;
                break;
            }
        }
        cJSON_Delete(g);
        if (rc) break;
    }
    if (!rc && step != SQLITE_DONE) rc = db_err(s, e, "nodes");
    sqlite3_finalize(st);
    return rc;
}

int ctl_store_load(ctl_store *s, ctl_loaded *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    char *header = NULL, *replans = NULL, *version = NULL;
    int rc;
    if ((rc = get_meta(s, "schema_version", &version, e))) goto done;
    if (!version || strcmp(version, SCHEMA_VERSION)) {
        rc = vp_errf(e, VP_ESTATE, "%s: schema version %s, this vrampack reads %s", s->path,
                     version ? version : "(none)", SCHEMA_VERSION);
        goto done;
    }
    if ((rc = get_meta(s, "manifest", &out->manifest_text, e))) goto done;
    if ((rc = get_meta(s, "plan", &header, e))) goto done;
    if ((rc = get_meta(s, "replans_total", &replans, e))) goto done;
    if (replans) out->replans_total = strtoull(replans, NULL, 10);
    if (header && (rc = load_plan(s, header, &out->plan, e))) goto done;
    rc = load_nodes(s, out, e);
done:
    free(header);
    free(replans);
    free(version);
    if (rc) ctl_loaded_free(out);
    return rc;
}

void ctl_loaded_free(ctl_loaded *l)
{
    if (!l) return;
    free(l->manifest_text);
    place_plan_free(l->plan);
    for (size_t i = 0; i < l->n_nodes; i++) {
        ctl_node_free_parts(l->nodes[i]);
        free(l->nodes[i]);
    }
    free(l->nodes);
    memset(l, 0, sizeof *l);
}

int ctl_store_events(ctl_store *s, size_t max, ctl_event **out, size_t *n, vp_err *e)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT ts_ms, kind, node, detail FROM (SELECT * FROM events "
                           "ORDER BY id DESC LIMIT ?) ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(s, e, "events");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    ctl_event *v = max ? calloc(max, sizeof *v) : NULL;
    if (max && !v) {
        sqlite3_finalize(st);
        return vp_errf(e, -ENOMEM, "%s: out of memory", s->path);
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        ctl_event *ev = &v[(*n)++];
        ev->ts_ms = (uint64_t)sqlite3_column_int64(st, 0);
        snprintf(ev->kind, sizeof ev->kind, "%s", col_text(st, 1));
        snprintf(ev->node, sizeof ev->node, "%s", col_text(st, 2));
        snprintf(ev->detail, sizeof ev->detail, "%s", col_text(st, 3));
    }
    int rc = (step == SQLITE_DONE || step == SQLITE_ROW) ? 0 : db_err(s, e, "events");
    sqlite3_finalize(st);
    if (rc) {
        free(v);
        *n = 0;
    } else
        *out = v;
    return rc;
}

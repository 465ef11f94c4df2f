/* tally-replay rebuild (see rebuild.h). */
#include "rebuild.h"

#include "grid.h"
#include "log.h"
#include "project.h"
#include "readmodel.h"
#include "shadow.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "replay"
#define SAMPLES 10

typedef struct rebuild_t {
    const tally_replay_opts_t *o;
    const char *topics[TALLY_PROJECT_ROLES];
    tally_replay_reader_t *reader;
    tally_project_t *project;
    tally_replay_ranges_t plan;         /* the first read: every partition */
    uint64_t records, caught_up;        /* read by the first read, and by catching up */
    tally_shadow_diff_t *diffs;
    size_t n_diffs;
    size_t live_behind;                 /* partitions where the live group is behind the rebuild */
    int views;
    bool swapped;
} rebuild_t;

static int role_of(const rebuild_t *b, const char *topic)
{
    for (int r = 0; r < TALLY_PROJECT_ROLES; r++)
        if (b->topics[r] != NULL && strcmp(b->topics[r], topic) == 0)
            return r;
    return -1;
}

static int read_into_shadow(rebuild_t *b, tally_replay_ranges_t *ranges, char *errbuf, size_t errsize)
{
    int rc = tally_replay_reader_run(b->reader, ranges, tally_project_record, b->project, b->o->stop, errbuf, errsize);
    if (rc != 0) {
        /* A failed write stopped the read: the projection says why. */
        const char *why = tally_project_error(b->project);
        if (*why)
            snprintf(errbuf, errsize, "%s", why);
        return -1;
    }
    return tally_project_flush(b->project, errbuf, errsize);
}

/* Projects what the live materializer group has stored beyond the
 * rebuild's own offsets. conn may be inside the swap transaction. */
static int catch_up(rebuild_t *b, PGconn *conn, char *errbuf, size_t errsize)
{
    tally_readmodel_offset_t *live = NULL;
    size_t n = 0;
    tally_replay_ranges_t ranges = {0};
    int rc = -1;
    if (tally_readmodel_offsets(conn, b->o->live_schema, b->o->materializer_group, &live, &n, errbuf, errsize) != 0)
        return -1;
    b->live_behind = 0;
    for (size_t i = 0; i < n; i++) {
        int role = role_of(b, live[i].topic);
        if (role < 0)
            continue;
        int64_t mine = tally_project_next_offset(b->project, role, live[i].partition);
        if (mine < 0) {
            /* Nothing projected there yet: from its first retained offset. */
            mine = 0;
            for (size_t k = 0; k < b->plan.n; k++)
                if (b->plan.v[k].tag == role && b->plan.v[k].partition == live[i].partition)
                    mine = b->plan.v[k].log_start;
        }
        if (live[i].next_offset < mine)
            b->live_behind++;
        if (live[i].next_offset <= mine)
            continue;
        tally_replay_range_t r = {.topic = b->topics[role], .partition = live[i].partition, .tag = role,
                                  .log_start = mine, .start = mine, .end = live[i].next_offset,
                                  .first_offset = -1, .last_offset = -1, .first_timestamp = -1};
        tally_replay_ranges_add(&ranges, &r);
    }
    if (ranges.n > 0) {
        tally_log_info(COMPONENT, "rebuild: catching up on %" PRIu64 " offset(s) the live materializer wrote",
                       tally_replay_ranges_span(&ranges));
        if (read_into_shadow(b, &ranges, errbuf, errsize) != 0)
            goto cleanup;
        b->caught_up += tally_replay_ranges_records(&ranges);
    }
    rc = 0;
cleanup:
    tally_replay_ranges_free(&ranges);
    free(live);
    return rc;
}

static size_t differing(const rebuild_t *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n_diffs; i++)
        n += b->diffs[i].only_live > 0 || b->diffs[i].only_shadow > 0;
    return n;
}

static void print_table(const rebuild_t *b)
{
    const tally_replay_opts_t *o = b->o;
    tally_project_stats_t st;
    tally_project_stats(b->project, &st);
    fprintf(o->out, "rebuild of schema %s from %s, %s, %s%s%s (group %s)\n", o->shadow_schema, b->topics[0],
            b->topics[1], b->topics[2], b->topics[3] ? ", " : "", b->topics[3] ? b->topics[3] : "",
            o->materializer_group);
    fprintf(o->out, "  read:      %" PRIu64 " record(s) (%" PRIu64 " rollups, %" PRIu64 " product, %" PRIu64
            " Control Panel, %" PRIu64 " alerts), %" PRIu64 " of them caught up from the live materializer; %" PRIu64
            " refused as the materializer would (dead letters), %" PRIu64 " skipped (unknown_branch)\n",
            st.records[0] + st.records[1] + st.records[2] + st.records[3], st.records[0], st.records[1],
            st.records[2], st.records[3], b->caught_up, st.refused, st.skipped);
    if (b->live_behind)
        fprintf(o->out, "  note:      the live materializer is behind the log on %zu partition(s): differences "
                "there may be records it has not written yet\n", b->live_behind);
    static const char *const header[] = {"TABLE", "LIVE ROWS", "REBUILT ROWS", "ONLY LIVE", "ONLY REBUILT"};
    tally_replay_grid_t *g = tally_replay_grid_new(5, header);
    for (size_t i = 0; i < b->n_diffs; i++) {
        const tally_shadow_diff_t *d = &b->diffs[i];
        char c[4][24];
        snprintf(c[0], sizeof c[0], "%" PRId64, d->live_rows);
        snprintf(c[1], sizeof c[1], "%" PRId64, d->shadow_rows);
        snprintf(c[2], sizeof c[2], "%" PRId64, d->only_live);
        snprintf(c[3], sizeof c[3], "%" PRId64, d->only_shadow);
        const char *cells[5] = {d->table, c[0], c[1], c[2], c[3]};
        tally_replay_grid_add(g, cells);
    }
    fputc('\n', o->out);
    tally_replay_grid_print(g, o->out);
    tally_replay_grid_free(g);
    for (size_t i = 0; i < b->n_diffs; i++)
        if (b->diffs[i].samples && *b->diffs[i].samples)
            fprintf(o->out, "\n%s (first %d each way):\n%s", b->diffs[i].table, SAMPLES, b->diffs[i].samples);
    size_t nd = differing(b);
    if (nd == 0)
        fprintf(o->out, "\nRESULT: identical to schema %s\n", o->live_schema);
    else
        fprintf(o->out, "\nRESULT: %zu table(s) differ from schema %s\n", nd, o->live_schema);
    if (b->swapped)
        fprintf(o->out, "SWAPPED: the rebuilt tables are live in schema %s (%d view(s) now read them); the previous "
                "ones are in schema %s\n", o->live_schema, b->views, o->shadow_schema);
}

static void print_json(const rebuild_t *b)
{
    const tally_replay_opts_t *o = b->o;
    tally_project_stats_t st;
    tally_project_stats(b->project, &st);
    json_t *root = json_object(), *tables = json_array();
    json_object_set_new(root, "command", json_string("rebuild"));
    json_object_set_new(root, "schema", json_string(o->shadow_schema));
    json_object_set_new(root, "live_schema", json_string(o->live_schema));
    json_object_set_new(root, "group", json_string(o->materializer_group));
    json_object_set_new(root, "records",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rollups", (json_int_t)st.records[0],
                                  "product", (json_int_t)st.records[1], "controlpanel", (json_int_t)st.records[2],
                                  "alerts", (json_int_t)st.records[3],
                                  "caught_up", (json_int_t)b->caught_up, "refused", (json_int_t)st.refused,
                                  "skipped", (json_int_t)st.skipped));
    for (size_t i = 0; i < b->n_diffs; i++) {
        const tally_shadow_diff_t *d = &b->diffs[i];
        json_array_append_new(tables, json_pack("{s:s, s:I, s:I, s:I, s:I, s:s?}", "table", d->table, "live_rows",
                                                (json_int_t)d->live_rows, "rebuilt_rows", (json_int_t)d->shadow_rows,
                                                "only_live", (json_int_t)d->only_live, "only_rebuilt",
                                                (json_int_t)d->only_shadow, "samples", d->samples));
    }
    json_object_set_new(root, "tables", tables);
    json_object_set_new(root, "live_behind_partitions", json_integer((json_int_t)b->live_behind));
    json_object_set_new(root, "identical", json_boolean(differing(b) == 0));
    json_object_set_new(root, "swapped", json_boolean(b->swapped));
    json_object_set_new(root, "views_replaced", json_integer(b->views));
    json_dumpf(root, o->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', o->out);
    json_decref(root);
}

int tally_replay_rebuild(const tally_replay_opts_t *o)
{
    char err[2048];
    int rc = TALLY_REPLAY_EXIT_FAILED;
    rebuild_t b;
    memset(&b, 0, sizeof b);
    b.o = o;
    b.topics[0] = o->rollups_topic;
    b.topics[1] = o->product_topic;
    b.topics[2] = o->controlpanel_topic;
    b.topics[3] = o->alerts_topic;
    PGconn *conn = tally_replay_pg_connect(o, "tally-replay-rebuild");
    if (conn == NULL)
        goto cleanup;
    if (tally_readmodel_check(conn, o->live_schema, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "%s", err);
        goto cleanup;
    }
    /* The broker first: a missing topic must not leave an empty schema. */
    if ((b.reader = tally_replay_reader_open(o, "rebuild")) == NULL)
        goto cleanup;
    for (int r = 0; r < TALLY_PROJECT_ROLES; r++)
        if (b.topics[r] != NULL && tally_replay_reader_plan(b.reader, b.topics[r], r, -1, &b.plan, err, sizeof err) != 0) {
            tally_log_error(COMPONENT, "%s", err);
            goto cleanup;
        }
    int crc = tally_shadow_create(conn, o->live_schema, o->shadow_schema, err, sizeof err);
    if (crc != 0) {
        tally_log_error(COMPONENT, "%s", err);
        if (crc == -2)
            rc = TALLY_REPLAY_EXIT_USAGE;
        goto cleanup;
    }
    tally_project_opts_t po = {.pg_url = o->pg_url, .schema = o->shadow_schema, .group = o->materializer_group,
                               .topics = {b.topics[0], b.topics[1], b.topics[2], b.topics[3]}, .catalog = o->catalog,
                               .batch_max_records = o->batch_max_records};
    if ((b.project = tally_project_new(&po, err, sizeof err)) == NULL) {
        tally_log_error(COMPONENT, "%s", err);
        goto cleanup;
    }
    tally_log_info(COMPONENT, "rebuild: projecting %" PRIu64 " offset(s) into schema %s",
                   tally_replay_ranges_span(&b.plan), o->shadow_schema);
    if (read_into_shadow(&b, &b.plan, err, sizeof err) != 0 || catch_up(&b, conn, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "rebuild: %s", err);
        goto cleanup;
    }
    b.records = tally_replay_ranges_records(&b.plan);
    if (tally_shadow_compare(conn, o->live_schema, o->shadow_schema, SAMPLES, &b.diffs, &b.n_diffs, err,
                             sizeof err) != 0) {
        tally_log_error(COMPONENT, "rebuild: %s", err);
        goto cleanup;
    }
    if (o->swap) {
        /* Catch up once more without the lock (the comparison took time),
         * so that what remains to do under the lock is small. */
        if (catch_up(&b, conn, err, sizeof err) != 0) {
            tally_log_error(COMPONENT, "rebuild: %s", err);
            goto cleanup;
        }
        tally_log_info(COMPONENT, "rebuild: swapping schema %s into %s", o->shadow_schema, o->live_schema);
        if (tally_shadow_swap_begin(conn, o->live_schema, o->lock_timeout_ms, err, sizeof err) != 0 ||
            catch_up(&b, conn, err, sizeof err) != 0 ||
            tally_shadow_swap_finish(conn, o->live_schema, o->shadow_schema, &b.views, err, sizeof err) != 0) {
            tally_shadow_swap_abort(conn);
            tally_log_error(COMPONENT, "rebuild: swap failed, nothing changed: %s", err);
            goto cleanup;
        }
        b.swapped = true;
    }
    if (o->format == TALLY_REPLAY_FORMAT_JSON)
        print_json(&b);
    else
        print_table(&b);
    if (fflush(o->out) != 0 || ferror(o->out)) {
        tally_log_error(COMPONENT, "cannot write the report");
        goto cleanup;
    }
    tally_log_info(COMPONENT, "rebuild: %s%s", differing(&b) ? "differences found" : "identical",
                   b.swapped ? "; swapped" : "");
    rc = b.swapped || differing(&b) == 0 ? TALLY_REPLAY_EXIT_OK : TALLY_REPLAY_EXIT_DIFFERENT;
cleanup:
    tally_shadow_diffs_free(b.diffs, b.n_diffs);
    tally_project_free(b.project);
    tally_replay_reader_free(b.reader);
    tally_replay_ranges_free(&b.plan);
    PQfinish(conn);
    return rc;
}

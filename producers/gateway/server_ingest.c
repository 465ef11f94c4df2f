#include "server_ingest.h"

#include "server_answer.h"
#include "server_wait.h"
#include "ingest.h"
#include "textbuf.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const reason_names[TALLY_SERVER_N_REASONS] = {"schema", "catalog", "timestamp", "counter",
                                                                 "other"};

/* A converted event waiting to be produced: where its key and value sit
 * in the workspace's arena. */
typedef struct {
    size_t index;                    /* in the body */
    size_t key_off, key_len, value_off, len;
} staged_t;

/* Per MHD thread: the ingest, the inflate buffer, the item slots and the
 * records of one request (every event is converted and encoded into the
 * arena before any is produced, so a request that must be refused as a
 * whole produces nothing), so a request allocates none of them. The
 * arena grows to the largest request's records and is kept. */
typedef struct thread_ws_t {
    tally_ingest_t *ingest;
    char *inflated;
    tally_body_item_t *items;
    staged_t *staged;                /* max_batch */
    tally_pub_record_t *records;     /* max_batch */
    char *arena;
    size_t arena_cap;
    struct thread_ws_t *next;        /* in the server's list, freed with it */
} thread_ws_t;
static _Thread_local thread_ws_t *tls;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static thread_ws_t *workspace(tally_server_t *srv)
{
    if (tls == NULL) {
        thread_ws_t *ws = tally_xcalloc(1, sizeof *ws);
        ws->ingest = tally_ingest_new(&srv->o.rules);
        ws->inflated = tally_xcalloc(1, srv->o.max_inflated + 1);
        ws->items = tally_xcalloc(srv->o.max_batch, sizeof *ws->items);
        ws->staged = tally_xcalloc(srv->o.max_batch, sizeof *ws->staged);
        ws->records = tally_xcalloc(srv->o.max_batch, sizeof *ws->records);
        pthread_mutex_lock(&srv->ws_lock);
        ws->next = srv->workspaces;
        srv->workspaces = ws;
        pthread_mutex_unlock(&srv->ws_lock);
        tls = ws;
    }
    return tls;
}

static int route_of(endpoint_t ep)
{
    switch (ep) {
    case EP_PRODUCT: return TALLY_ROUTE_PRODUCT;
    case EP_USAGE: return TALLY_ROUTE_USAGE;
    case EP_SEATS: return TALLY_ROUTE_SEATS;
    case EP_CONTROLPANEL: return TALLY_ROUTE_CONTROLPANEL;
    default: return -1;
    }
}

void tally_server_ingest_init(tally_server_t *srv)
{
    tally_metrics_t *m = srv->o.metrics;
    static const char *const route_names[TALLY_ROUTE_COUNT] = {"product", "usage", "seats", "controlpanel"};
    for (int rt = 0; rt < TALLY_ROUTE_COUNT; rt++) {
        char labels[64];
        snprintf(labels, sizeof labels, "route=\"%s\"", route_names[rt]);
        srv->accepted[rt] = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_gateway_events_accepted_total",
                                              "Events accepted, by route", labels, NULL, 0);
    }
    for (int k = 0; k < TALLY_SERVER_N_REASONS; k++) {
        char labels[64];
        snprintf(labels, sizeof labels, "reason=\"%s\"", reason_names[k]);
        srv->rejected[k] = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_gateway_events_rejected_total",
                                             "Events rejected, by reason", labels, NULL, 0);
    }
    srv->optout_dropped = tally_metrics_get(m, TALLY_METRIC_COUNTER, "tally_gateway_optout_dropped_total",
                                            "Product events of opted-out projects, dropped", "", NULL, 0);
}

void tally_server_ingest_free(tally_server_t *srv)
{
    for (thread_ws_t *ws = srv->workspaces, *next; ws; ws = next) {
        next = ws->next;
        tally_ingest_free(ws->ingest);
        free(ws->inflated);
        free(ws->items);
        free(ws->staged);
        free(ws->records);
        free(ws->arena);
        free(ws);
    }
    srv->workspaces = NULL;
}

static void on_acked(void *arg)
{
    req_t *r = arg;
    MHD_resume_connection(r->conn);
}

/* s as a JSON string: the gateway's own messages (ASCII, never a value
 * from the request), quotes and control characters escaped. */
static void text_json_string(tally_textbuf_t *t, const char *s)
{
    tally_textbuf_append(t, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '\0' && c != '"' && c != '\\' && c >= 0x20)
            continue;
        tally_textbuf_append(t, run, (size_t)(s - run));
        if (c == '\0')
            break;
        char esc[8];
        snprintf(esc, sizeof esc, c == '"' || c == '\\' ? "\\%c" : "\\u%04x", c);
        tally_textbuf_puts(t, esc);
        run = s + 1;
    }
    tally_textbuf_append(t, "\"", 1);
}

/* The answer of a processed body: {"accepted":n,"rejected":[{"index":i,
 * "error":"..."}...]} (202), or, when every event was rejected, the same
 * under {"error":"invalid events","detail":<the first one's error>} (422).
 * Rejected items are those without text, in index order. */
static void render_result(req_t *r, const tally_body_item_t *items, size_t count)
{
    tally_textbuf_t t = {0};
    const char *first = NULL;
    for (size_t i = 0; i < count && first == NULL; i++)
        if (items[i].text == NULL)
            first = items[i].error;
    if (r->accepted == 0 && first != NULL) {
        r->result.status = 422;
        tally_textbuf_puts(&t, "{\"error\":\"invalid events\",\"detail\":");
        text_json_string(&t, first);
        tally_textbuf_puts(&t, ",\"accepted\":0,\"rejected\":[");
    } else {
        r->result.status = 202;
        tally_textbuf_printf(&t, "{\"accepted\":%zu,\"rejected\":[", r->accepted);
    }
    for (size_t i = 0, n = 0; i < count; i++) {
        if (items[i].text != NULL)
            continue;
        tally_textbuf_printf(&t, "%s{\"index\":%zu,\"error\":", n++ ? "," : "", i);
        text_json_string(&t, items[i].error);
        tally_textbuf_append(&t, "}", 1);
    }
    tally_textbuf_puts(&t, "]}");
    r->result.text = t.data;
    r->result.len = t.len;
}

static enum MHD_Result answer_result(req_t *r)
{
    char *text = r->result.text;
    r->result.text = NULL;
    return tally_server_answer_json_text(r, r->result.status, text, r->result.len);
}

static void reject_item(tally_body_item_t *it, const char *why)
{
    it->text = NULL;
    snprintf(it->error, sizeof it->error, "%s", why);
}

/* Copies a converted record into the workspace's arena. */
static void stage(thread_ws_t *ws, size_t at, size_t *used, size_t index, const tally_ingest_record_t *rec)
{
    size_t need = *used + rec->key_len + rec->len;
    if (need > ws->arena_cap) {
        size_t cap = ws->arena_cap ? ws->arena_cap : 64 * 1024;
        while (cap < need)
            cap *= 2;
        ws->arena = tally_xrealloc(ws->arena, cap, 1);
        ws->arena_cap = cap;
    }
    staged_t *st = &ws->staged[at];
    st->index = index;
    st->key_off = *used;
    st->key_len = rec->key_len;
    memcpy(ws->arena + *used, rec->key, rec->key_len);
    *used += rec->key_len;
    st->value_off = *used;
    st->len = rec->len;
    memcpy(ws->arena + *used, rec->value, rec->len);
    *used += rec->len;
}

/* Splits, converts every event, then produces. */
enum MHD_Result tally_server_ingest_process(req_t *r)
{
    tally_server_t *srv = r->srv;
    thread_ws_t *ws = workspace(srv);
    char why[256];
    const char *body = r->body ? r->body : "";
    size_t len = r->len;
    if (r->gzip) {
        int g = tally_body_gunzip(body, len, ws->inflated, srv->o.max_inflated, &len, why, sizeof why);
        if (g != 0)
            return tally_server_answer_error(r, g == TALLY_BODY_ERR_TOO_LARGE ? 413 : 400,
                                             g == TALLY_BODY_ERR_TOO_LARGE ? "body too large" : "malformed body",
                                             why, 0);
        body = ws->inflated;
    }
    size_t count = 0;
    int s = tally_body_split(body, len, r->media, ws->items, srv->o.max_batch, &count, why, sizeof why);
    if (s != 0)
        return tally_server_answer_error(r, s == TALLY_BODY_ERR_TOO_LARGE ? 413 : 400,
                                         s == TALLY_BODY_ERR_TOO_LARGE ? "batch too large" : "malformed body",
                                         why, 0);
    tally_route_t route = (tally_route_t)route_of(r->ep);
    /* Scope: a body that speaks for another tenant produces nothing, so
     * every event is converted before any is produced. */
    tally_ingest_scope_t scope = {r->tenant, r->env};
    const tally_ingest_scope_t *in_scope =
        route == TALLY_ROUTE_USAGE || route == TALLY_ROUTE_SEATS ? &scope : NULL;
    int64_t now = now_ms();
    uint64_t rejected_by[TALLY_SERVER_N_REASONS] = {0};
    size_t staged = 0, used = 0, dropped = 0;
    tally_gw_topic_t topic = TALLY_TOPIC_PRODUCT_RAW;
    for (size_t i = 0; i < count; i++) {
        tally_body_item_t *it = &ws->items[i];
        if (it->text == NULL)
            continue;
        tally_ingest_record_t rec;
        const char *reason = NULL;
        int e = tally_ingest_event(ws->ingest, route, it->text, it->len, now, in_scope, &rec, &reason, why,
                                   sizeof why);
        if (e == TALLY_INGEST_FORBIDDEN) {
            snprintf(why, sizeof why, "event %zu is for another tenant or environment than the API key's", i);
            return tally_server_answer_error(r, 403, "forbidden", why, 0);
        }
        if (e == TALLY_INGEST_DROPPED) {
            dropped++;
            continue;
        }
        if (e != 0) {
            size_t k = 0;
            while (k < TALLY_SERVER_N_REASONS - 1 && (reason == NULL || strcmp(reason, reason_names[k]) != 0))
                k++;
            rejected_by[k]++;
            reject_item(it, why);
            continue;
        }
        topic = rec.topic;
        stage(ws, staged++, &used, i, &rec);
    }
    for (int k = 0; k < TALLY_SERVER_N_REASONS; k++)
        if (rejected_by[k])
            tally_metric_add(srv->rejected[k], rejected_by[k]);
    tally_metric_add(srv->optout_dropped, dropped);
    r->accepted = dropped;

    int ack = route != TALLY_ROUTE_PRODUCT;
    if (ack)
        r->wait = tally_pub_wait_new(on_acked, r);
    for (size_t j = 0; j < staged; j++) {
        const staged_t *st = &ws->staged[j];
        ws->records[j] = (tally_pub_record_t){ws->arena + st->key_off, st->key_len, ws->arena + st->value_off,
                                              st->len, 0};
    }
    r->sent = staged ? tally_publisher_send_batch(srv->o.publisher, topic, ws->records, staged,
                                                  ack ? r->wait : NULL)
                     : 0;
    int overloaded = 0;
    for (size_t j = 0; j < staged; j++) {
        if (ws->records[j].failed) {
            overloaded = 1;
            reject_item(&ws->items[ws->staged[j].index], "overloaded: the event queue is full; retry this event");
        }
    }
    r->accepted += r->sent;
    tally_metric_add(srv->accepted[route], r->accepted);
    if (overloaded && r->accepted == 0)
        return tally_server_answer_error(r, 503, "overloaded", "the event queue is full; retry later", 1);
    render_result(r, ws->items, count);
    if (!ack || r->sent == 0)
        return answer_result(r);
    /* Wait for the broker (server_wait.c). */
    if (tally_server_wait_begin(r))
        MHD_resume_connection(r->conn);
    return MHD_YES;
}

enum MHD_Result tally_server_ingest_acked(req_t *r)
{
    if (atomic_load(&r->abandoned))
        return tally_server_answer_error(r, 503, "shutting down",
                                         "this gateway stopped before Kafka acknowledged the events; they may or "
                                         "may not be stored: retry the whole request",
                                         1);
    int failed = tally_pub_wait_failed(r->wait);
    if (failed > 0) {
        char why[160];
        snprintf(why, sizeof why, "%d of %zu records were not acknowledged by Kafka; retry the whole request",
                 failed, r->sent);
        return tally_server_answer_error(r, 503, "not acknowledged", why, 2);
    }
    return answer_result(r);
}


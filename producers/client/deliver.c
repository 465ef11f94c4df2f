#include "deliver.h"

#include "ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* deliver_segment: go on with the next segment, stop the run, or skip the
 * segments of a refused credential. */
enum { GO_ON = 0, STOP = 1, SKIP_CREDENTIAL = 2 };

void tally_deliver_reset(tally_deliver_t *d)
{
    memset(&d->stats, 0, sizeof d->stats);
    d->stats.retry_after_ms = -1;
}

/* "error: detail" of a gateway error body, or its first bytes. */
static void error_text(const tally_response_t *resp, char *out, size_t size)
{
    json_t *j = json_loads(resp->body, 0, NULL);
    const char *e = json_string_value(json_object_get(j, "error"));
    const char *d = json_string_value(json_object_get(j, "detail"));
    if (e != NULL)
        snprintf(out, size, "%s%s%s", e, d ? ": " : "", d ? d : "");
    else
        snprintf(out, size, "%.120s", resp->body);
    json_decref(j);
}

static void all(size_t n, tally_outcome_t *outcomes, json_t *reasons, tally_outcome_t o, const char *why)
{
    for (size_t i = 0; i < n; i++) {
        outcomes[i] = o;
        json_array_append_new(reasons, why ? json_string(why) : json_null());
    }
}

tally_outcome_t tally_deliver_classify(const tally_response_t *resp, size_t n, tally_outcome_t *outcomes,
                                       json_t *reasons, char *summary, size_t summarysize)
{
    char text[200];
    json_array_clear(reasons);
    if (!resp->transport_ok) {
        snprintf(summary, summarysize, "%s", resp->error);
        all(n, outcomes, reasons, TALLY_OUTCOME_DEFERRED, NULL);
        return TALLY_OUTCOME_DEFERRED;
    }
    long st = resp->status;
    error_text(resp, text, sizeof text);
    snprintf(summary, summarysize, "HTTP %ld: %s", st, text);
    if (st == 202 || st == 422) {
        json_t *j = json_loads(resp->body, 0, NULL);
        json_t *rejected = json_object_get(j, "rejected");
        if (!json_is_array(rejected)) {
            /* A 202 without its usual body was still an acceptance. */
            all(n, outcomes, reasons, st == 202 ? TALLY_OUTCOME_DELIVERED : TALLY_OUTCOME_REJECTED,
                st == 202 ? NULL : text);
            json_decref(j);
            return TALLY_OUTCOME_DELIVERED;
        }
        all(n, outcomes, reasons, TALLY_OUTCOME_DELIVERED, NULL);
        tally_outcome_t worst = TALLY_OUTCOME_DELIVERED;
        size_t i;
        json_t *r;
        json_array_foreach(rejected, i, r) {
            json_int_t index = json_integer_value(json_object_get(r, "index"));
            const char *why = json_string_value(json_object_get(r, "error"));
            if (index < 0 || (size_t)index >= n)
                continue;
            bool overloaded = why != NULL && strncmp(why, "overloaded", 10) == 0;
            outcomes[index] = overloaded ? TALLY_OUTCOME_DEFERRED : TALLY_OUTCOME_REJECTED;
            json_array_set_new(reasons, (size_t)index, json_string(why ? why : "rejected"));
            if (overloaded) {
                worst = TALLY_OUTCOME_DEFERRED;
                snprintf(summary, summarysize, "HTTP %ld: %s", st, why);
            }
        }
        json_decref(j);
        return worst;
    }
    if (st >= 200 && st < 300) {
        all(n, outcomes, reasons, TALLY_OUTCOME_DELIVERED, NULL);
        return TALLY_OUTCOME_DELIVERED;
    }
    if (st == 408 || st == 429 || st >= 500) {
        all(n, outcomes, reasons, TALLY_OUTCOME_DEFERRED, NULL);
        return TALLY_OUTCOME_DEFERRED;
    }
    if (st == 401 || st == 403 || st == 404 || st == 405 || (st >= 300 && st < 400) || st < 200) {
        all(n, outcomes, reasons, TALLY_OUTCOME_REFUSED, NULL);
        return TALLY_OUTCOME_REFUSED;
    }
    all(n, outcomes, reasons, TALLY_OUTCOME_REJECTED, text);
    return TALLY_OUTCOME_DELIVERED;
}

static const char *secret_for(const tally_deliver_t *d, tally_kind_t kind)
{
    switch (tally_kind_credential(kind)) {
    case TALLY_CREDENTIAL_API_KEY:
        return d->api_key;
    case TALLY_CREDENTIAL_ADMIN_TOKEN:
        return d->admin_token;
    case TALLY_CREDENTIAL_NONE:
        break;
    }
    return NULL;
}

static const char *credential_name(tally_kind_t kind)
{
    switch (tally_kind_credential(kind)) {
    case TALLY_CREDENTIAL_API_KEY:
        return "API key";
    case TALLY_CREDENTIAL_ADMIN_TOKEN:
        return "admin token";
    case TALLY_CREDENTIAL_NONE:
        break;
    }
    return NULL;
}

/* How a message names one event: its event_id, or a usage report's seq. */
static void describe(json_t *ev, size_t index, char *out, size_t size)
{
    const char *id = json_string_value(json_object_get(ev, "event_id"));
    json_t *seq = json_object_get(ev, "seq");
    if (id != NULL)
        snprintf(out, size, "event %s", id);
    else if (json_is_integer(seq))
        snprintf(out, size, "report seq %lld", (long long)json_integer_value(seq));
    else
        snprintf(out, size, "event #%zu of the batch", index);
}

/* Records keep[] for seg: on disk for a spooled segment, in memory for one
 * that could not be spooled (path NULL). */
static int settle(tally_deliver_t *d, tally_segment_t *seg, const bool *keep)
{
    char err[512];
    if (seg->path == NULL) {
        json_t *rest = json_array();
        for (size_t i = 0; i < json_array_size(seg->events); i++)
            if (keep[i])
                json_array_append(rest, json_array_get(seg->events, i));
        json_decref(seg->events);
        seg->events = rest;
        return 0;
    }
    if (tally_spool_settle(d->spool, seg, keep, err, sizeof err) != 0) {
        /* The events stay in the spool as they were: a later run resends
         * them, with the same ids. */
        fprintf(stderr, "tally: warning: %s\n", err);
        return -1;
    }
    return 0;
}

static char *batch_body(json_t *events, size_t first, size_t count)
{
    json_t *slice = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append(slice, json_array_get(events, first + i));
    char *body = json_dumps(slice, JSON_COMPACT);
    if (body == NULL)
        abort();
    json_decref(slice);
    return body;
}

static void print_dry_run(tally_deliver_t *d, tally_kind_t kind, json_t *events, size_t first, size_t count)
{
    char *body = batch_body(events, first, count);
    tally_transport_print_request(d->dry_run, d->base_url, tally_kind_path(kind), credential_name(kind), body,
                                  strlen(body));
    free(body);
}

static void print_events(FILE *out, json_t *events, size_t first, size_t count)
{
    char *body = batch_body(events, first, count);
    fprintf(out, "%s\n", body);
    fflush(out);
    free(body);
}

/* Sends a held segment in batches until it is empty or a request must stop
 * the run. Events not attempted after a stop count with the stop's kind.
 * Returns GO_ON, STOP (the gateway is unavailable, or --gateway is wrong),
 * or SKIP_CREDENTIAL (the credential was refused: 401 or 403). */
static int deliver_segment(tally_deliver_t *d, tally_segment_t *seg)
{
    tally_deliver_stats_t *st = &d->stats;
    const char *secret = secret_for(d, seg->kind);
    size_t chunk = d->batch_size ? d->batch_size : 1;
    json_t *reasons = json_array();
    int rc = GO_ON;
    while (json_array_size(seg->events) > 0) {
        size_t n = json_array_size(seg->events);
        if (d->stop != NULL && *d->stop) {
            st->deferred += n;
            st->interrupted = true;
            rc = STOP;
            break;
        }
        size_t m = n < chunk ? n : chunk;
        json_t *slice = json_array();
        for (size_t i = 0; i < m; i++)
            json_array_append(slice, json_array_get(seg->events, i));
        char *body = json_dumps(slice, JSON_COMPACT);
        json_decref(slice);
        if (body == NULL)
            abort();
        tally_response_t resp;
        /* No answer shows in resp (transport_ok 0) and classifies as DEFERRED. */
        if (tally_transport_post(d->transport, tally_kind_path(seg->kind), secret, credential_name(seg->kind), body,
                                 strlen(body), &resp) != 0 &&
            d->verbose)
            fprintf(stderr, "tally: no answer from the gateway: %s\n", resp.error);
        free(body);
        st->requests++;
        if (resp.transport_ok && resp.status == 413 && m > 1) {
            chunk = m / 2;
            tally_response_clear(&resp);
            continue;
        }
        tally_outcome_t *outcomes = malloc(m * sizeof *outcomes);
        bool *keep = malloc(n * sizeof *keep);
        if (outcomes == NULL || keep == NULL)
            abort();
        char summary[256];
        tally_outcome_t worst = tally_deliver_classify(&resp, m, outcomes, reasons, summary, sizeof summary);
        if (resp.retry_after_ms > st->retry_after_ms)
            st->retry_after_ms = resp.retry_after_ms;
        for (size_t i = 0; i < n; i++) {
            keep[i] = true;
            if (i >= m)
                continue;
            char what[80];
            switch (outcomes[i]) {
            case TALLY_OUTCOME_DELIVERED:
                keep[i] = false;
                st->delivered++;
                break;
            case TALLY_OUTCOME_REJECTED:
                keep[i] = false;
                st->rejected++;
                describe(json_array_get(seg->events, i), i, what, sizeof what);
                fprintf(stderr, "tally: %s %s rejected by the gateway (%s); dropped\n", tally_kind_name(seg->kind),
                        what, json_string_value(json_array_get(reasons, i)));
                break;
            case TALLY_OUTCOME_DEFERRED:
                st->deferred++;
                break;
            case TALLY_OUTCOME_REFUSED:
                st->refused++;
                break;
            }
        }
        if (worst != TALLY_OUTCOME_DELIVERED) {
            snprintf(st->last_error, sizeof st->last_error, "%s", summary);
            if (n > m) {
                if (worst == TALLY_OUTCOME_REFUSED)
                    st->refused += n - m;
                else
                    st->deferred += n - m;
            }
        }
        bool credential_refused = worst == TALLY_OUTCOME_REFUSED && (resp.status == 401 || resp.status == 403);
        tally_response_clear(&resp);
        int s = settle(d, seg, keep);
        free(outcomes);
        free(keep);
        if (credential_refused) {
            /* Its own credential is wrong (or it belongs to another tenant):
             * from now on any credential given to a flush may try it. */
            char err[512], fp[TALLY_FINGERPRINT_SIZE];
            tally_ids_fingerprint(secret, fp);
            if (seg->path != NULL && tally_spool_refuse(d->spool, seg, fp, err, sizeof err) != 0)
                fprintf(stderr, "tally: warning: %s\n", err);
            rc = SKIP_CREDENTIAL;
            break;
        }
        if (worst != TALLY_OUTCOME_DELIVERED || s != 0) {
            rc = STOP;
            break;
        }
    }
    json_decref(reasons);
    return rc;
}

int tally_deliver_new(tally_deliver_t *d, tally_kind_t kind, json_t *events, int64_t now_ms, bool attempt)
{
    char auth[TALLY_FINGERPRINT_SIZE], err[512];
    size_t n = json_array_size(events), chunk = d->batch_size ? d->batch_size : 1;
    /* After a stop the rest only goes to the spool, counted like the stop. */
    int stopped = attempt ? GO_ON : STOP;
    bool warned = false;
    int rc = 0;
    tally_ids_fingerprint(secret_for(d, kind), auth);
    for (size_t first = 0; first < n; first += chunk) {
        size_t m = n - first < chunk ? n - first : chunk;
        if (d->dry_run != NULL) {
            print_dry_run(d, kind, events, first, m);
            continue;
        }
        tally_segment_t *seg = NULL;
        if (d->spool != NULL && tally_spool_add(d->spool, kind, auth, events, first, m, now_ms, &seg, err,
                                                sizeof err) != 0) {
            if (!warned)
                fprintf(stderr, "tally: warning: cannot spool (%s): sending without a safety net\n", err);
            warned = true;
            seg = NULL;
        }
        tally_segment_t mem = {.fd = -1, .kind = kind};
        if (seg == NULL) {
            /* Not durable: deliver from memory; what fails is lost. */
            mem.events = json_array();
            for (size_t i = 0; i < m; i++)
                json_array_append(mem.events, json_array_get(events, first + i));
            seg = &mem;
        }
        size_t deferred = d->stats.deferred, refused = d->stats.refused;
        if (stopped != GO_ON && d->debug != NULL) {
            fprintf(d->debug, "(spooled without a try: %s)\n",
                    stopped == SKIP_CREDENTIAL ? "the credential was refused" : "the gateway is unavailable");
            print_events(d->debug, events, first, m);
        }
        if (stopped == GO_ON)
            stopped = deliver_segment(d, seg);
        else if (stopped == SKIP_CREDENTIAL)
            d->stats.refused += m;
        else
            d->stats.deferred += m;
        if (seg == &mem) {
            /* Nothing is kept anywhere: what is left is lost. */
            d->stats.deferred = deferred;
            d->stats.refused = refused;
            size_t left = json_array_size(mem.events);
            if (left > 0) {
                d->stats.lost += left;
                rc = -1;
            }
            json_decref(mem.events);
        } else {
            tally_spool_release(seg);
        }
    }
    return rc;
}

/* Drops every event of a held segment (analytics were turned off). */
static int discard(tally_deliver_t *d, tally_segment_t *seg)
{
    size_t count = json_array_size(seg->events);
    bool *keep = calloc(count ? count : 1, sizeof *keep);
    if (keep == NULL)
        abort();
    int rc = settle(d, seg, keep);
    if (rc == 0)
        d->stats.discarded += count;
    free(keep);
    return rc;
}

int tally_deliver_flush(tally_deliver_t *d)
{
    char **names = NULL, err[512], fp[TALLY_FINGERPRINT_SIZE];
    size_t n = 0;
    bool refused[3] = {false, false, false}; /* by tally_credential_t, this run */
    if (d->spool == NULL)
        return 0;
    if (tally_spool_list(d->spool, &names, &n, err, sizeof err) != 0) {
        fprintf(stderr, "tally: %s\n", err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (d->stop != NULL && *d->stop) {
            d->stats.interrupted = true;
            break;
        }
        tally_segment_t *seg;
        int c = tally_spool_claim(d->spool, names[i], &seg, err, sizeof err);
        if (c == TALLY_SPOOL_CORRUPT || c < 0)
            fprintf(stderr, "tally: warning: %s\n", err);
        if (c != 0)
            continue;
        size_t count = json_array_size(seg->events);
        tally_credential_t cred = tally_kind_credential(seg->kind);
        const char *secret = secret_for(d, seg->kind);
        tally_ids_fingerprint(secret, fp);
        int r = GO_ON;
        if (seg->kind == TALLY_KIND_PRODUCT && !d->product_allowed) {
            if (d->dry_run == NULL)
                (void)discard(d, seg);
        } else if (cred != TALLY_CREDENTIAL_NONE &&
                   (secret == NULL ||
                    (!d->any_credential && (seg->auth[0] != '\0' ? strcmp(fp, seg->auth) != 0
                                                                   : tally_spool_refused_by(seg, fp))))) {
            d->stats.waiting += count;
        } else if (refused[cred]) {
            d->stats.refused += count;
        } else if (d->dry_run != NULL) {
            print_dry_run(d, seg->kind, seg->events, 0, count);
        } else {
            r = deliver_segment(d, seg);
        }
        tally_spool_release(seg);
        if (r == SKIP_CREDENTIAL && cred != TALLY_CREDENTIAL_NONE)
            refused[cred] = true;
        if (r == STOP || (r == SKIP_CREDENTIAL && cred == TALLY_CREDENTIAL_NONE))
            break;
    }
    tally_spool_names_free(names, n);
    return 0;
}

int tally_deliver_purge_product(tally_deliver_t *d)
{
    char **names = NULL, err[512];
    size_t n = 0;
    int rc = 0;
    if (d->spool == NULL || d->dry_run != NULL)
        return 0;
    if (tally_spool_list(d->spool, &names, &n, err, sizeof err) != 0) {
        fprintf(stderr, "tally: %s\n", err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        tally_segment_t *seg;
        if (tally_spool_claim(d->spool, names[i], &seg, err, sizeof err) != 0)
            continue;
        if (seg->kind == TALLY_KIND_PRODUCT && discard(d, seg) != 0)
            rc = -1;
        tally_spool_release(seg);
    }
    tally_spool_names_free(names, n);
    return rc;
}

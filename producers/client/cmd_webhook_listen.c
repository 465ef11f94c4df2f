/* tally webhook-listen PORT --secret-file F: a small local receiver of
 * Tally's signed webhooks (tally-webhooks, Standard Webhooks signatures,
 * common/webhook_sign.h), for the local demo and for testing an endpoint.
 *
 * It listens on 127.0.0.1:PORT (0: any free port; the port is in the
 * "listening on 127.0.0.1:PORT" line on stderr) and answers every POST:
 *   - 413 when the body is larger than WEBHOOK_BODY_MAX (by Content-Length
 *     at once, or when a chunked body grows past it);
 *   - 401 when a webhook header is missing or malformed, the timestamp is
 *     more than 5 minutes from the clock, or no v1 signature matches;
 *   - 204 otherwise, printing ONE line on stdout for a webhook-id not seen
 *     before ("ALERT ..." for a usage.alert body, "WEBHOOK ..." for other
 *     JSON): a retry or a replay of the same webhook-id is answered 204
 *     and printed no more (the receiver's duty under Standard Webhooks);
 *   - 405 for other methods.
 * It remembers the last WEBHOOK_SEEN_MAX ids. It runs until SIGINT or
 * SIGTERM, then exits 0; 2 for a bad command line or secret file. */
#include "app.h"
#include "commands.h"
#include "http_answer.h"
#include "http_server.h"
#include "textbuf.h"
#include "webhook_sign.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WEBHOOK_BODY_MAX (64 * 1024)
#define WEBHOOK_SEEN_MAX 100000
#define WEBHOOK_TOLERANCE_S 300

typedef struct listener_t {
    tally_webhook_secret_t secret;
    pthread_mutex_t lock; /* seen, order, printing */
    json_t *seen;         /* object: webhook-id -> true */
    char **order;         /* ring of the ids in seen, oldest first */
    size_t next;
    unsigned long printed, duplicates, refused;
} listener_t;

typedef struct request_t {
    tally_textbuf_t body;
    int too_big;
} request_t;

/* Whether id is new; remembers it (forgetting the oldest past the cap). */
static int remember(listener_t *l, const char *id)
{
    if (json_object_get(l->seen, id) != NULL)
        return 0;
    char **slot = &l->order[l->next];
    if (*slot != NULL) {
        json_object_del(l->seen, *slot);
        free(*slot);
    }
    *slot = strdup(id);
    if (*slot == NULL)
        abort();
    l->next = (l->next + 1) % WEBHOOK_SEEN_MAX;
    json_object_set_new(l->seen, id, json_true());
    return 1;
}

static void print_webhook(const char *id, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, len, 0, &jerr);
    const char *type = j ? json_string_value(json_object_get(j, "type")) : NULL;
    if (type != NULL && strcmp(type, "usage.alert") == 0) {
        const char *env = json_string_value(json_object_get(j, "environment_id"));
        printf("ALERT %s tenant=%s metric=%s threshold=%" JSON_INTEGER_FORMAT "%% value=%" JSON_INTEGER_FORMAT
               " limit=%" JSON_INTEGER_FORMAT " period=%s%s%s id=%s\n",
               json_string_value(json_object_get(j, "state")) ? json_string_value(json_object_get(j, "state")) : "?",
               json_string_value(json_object_get(j, "tenant_id")) ? json_string_value(json_object_get(j, "tenant_id"))
                                                                  : "?",
               json_string_value(json_object_get(j, "metric")) ? json_string_value(json_object_get(j, "metric")) : "?",
               json_integer_value(json_object_get(j, "threshold")), json_integer_value(json_object_get(j, "value")),
               json_integer_value(json_object_get(j, "limit")),
               json_string_value(json_object_get(j, "period")) ? json_string_value(json_object_get(j, "period")) : "?",
               env ? " environment=" : "", env ? env : "", id);
    } else if (j != NULL) {
        char *compact = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
        printf("WEBHOOK id=%s %s\n", id, compact ? compact : "");
        free(compact);
    } else {
        printf("WEBHOOK id=%s (%zu bytes, not JSON)\n", id, len);
    }
    json_decref(j);
    fflush(stdout);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)version;
    listener_t *l = cls;
    request_t *r = *con_cls;
    if (r == NULL) {
        if (strcmp(method, "POST") != 0)
            return tally_http_answer_method(c, "POST");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > WEBHOOK_BODY_MAX)
            return tally_http_answer_error(c, 413, "payload_too_large", "a webhook body is at most 65536 bytes",
                                           NULL);
        r = calloc(1, sizeof *r);
        if (r == NULL)
            abort();
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!r->too_big && r->body.len + *upload_size <= WEBHOOK_BODY_MAX)
            tally_textbuf_append(&r->body, upload, *upload_size);
        else
            r->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return tally_http_answer_error(c, 413, "payload_too_large", "a webhook body is at most 65536 bytes", NULL);
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id");
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp");
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature");
    tally_webhook_verdict_t v = tally_webhook_verify(&l->secret, id, ts, sig, r->body.data ? r->body.data : "",
                                                     r->body.len, (int64_t)time(NULL), WEBHOOK_TOLERANCE_S);
    pthread_mutex_lock(&l->lock);
    if (v != TALLY_WEBHOOK_VALID) {
        l->refused++;
        pthread_mutex_unlock(&l->lock);
        fprintf(stderr, "tally webhook-listen: refused (401): %s\n", tally_webhook_verdict_text(v));
        return tally_http_answer_error(c, 401, "unauthorized", tally_webhook_verdict_text(v), NULL);
    }
    if (remember(l, id)) {
        l->printed++;
        print_webhook(id, r->body.data ? r->body.data : "", r->body.len);
    } else {
        l->duplicates++;
    }
    pthread_mutex_unlock(&l->lock);
    return tally_http_answer_bytes(c, 204, "text/plain", "", 0, MHD_RESPMEM_PERSISTENT, NULL);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request_t *r = *con_cls;
    if (r != NULL) {
        tally_textbuf_free(&r->body);
        free(r);
        *con_cls = NULL;
    }
}

int tally_cmd_webhook_listen(const tally_client_settings_t *s, size_t argc, const char *const argv[],
                             volatile sig_atomic_t *stop)
{
    char err[512];
    if (argc != 1) {
        fprintf(stderr, "tally: webhook-listen PORT --secret-file FILE (see tally --help)\n");
        return TALLY_EXIT_USAGE;
    }
    char *end = NULL;
    long port = strtol(argv[0], &end, 10);
    if (end == argv[0] || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "tally: webhook-listen: PORT is 0 to 65535, not \"%.40s\"\n", argv[0]);
        return TALLY_EXIT_USAGE;
    }
    if (s->secret_file == NULL) {
        fprintf(stderr, "tally: webhook-listen needs --secret-file FILE (one \"whsec_...\" line, mode 0600)\n");
        return TALLY_EXIT_USAGE;
    }
    listener_t l;
    memset(&l, 0, sizeof l);
    if (tally_webhook_secret_load(s->secret_file, &l.secret, err, sizeof err) != 0) {
        fprintf(stderr, "tally: webhook-listen: %s\n", err);
        return TALLY_EXIT_USAGE;
    }
    pthread_mutex_init(&l.lock, NULL);
    l.seen = json_object();
    l.order = calloc(WEBHOOK_SEEN_MAX, sizeof *l.order);
    if (l.seen == NULL || l.order == NULL)
        abort();
    tally_http_opts_t opts = {
        .bind = "127.0.0.1",
        .port = (int)port,
        .name = "webhook-listen",
        .handler = handle,
        .handler_cls = &l,
        .completed = completed,
    };
    int bound = 0, rc = TALLY_EXIT_OK;
    struct MHD_Daemon *d = tally_http_start(&opts, &bound, err, sizeof err);
    if (d == NULL) {
        fprintf(stderr, "tally: webhook-listen: %s\n", err);
        rc = TALLY_EXIT_ERROR;
    } else {
        fprintf(stderr, "tally webhook-listen: listening on 127.0.0.1:%d\n", bound);
        while (!*stop)
            usleep(100 * 1000);
        tally_http_stop(d);
        fprintf(stderr, "tally webhook-listen: %lu printed, %lu duplicates, %lu refused\n", l.printed, l.duplicates,
                l.refused);
    }
    for (size_t i = 0; i < WEBHOOK_SEEN_MAX; i++)
        free(l.order[i]);
    free(l.order);
    json_decref(l.seen);
    pthread_mutex_destroy(&l.lock);
    tally_webhook_secret_clear(&l.secret);
    return rc;
}

#include "webhook_receiver.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "textbuf.h"
#include "webhook_sign.h"

#define MAX_IDS 4096

struct tally_test_receiver_t {
    tally_webhook_secret_t secret;
    struct MHD_Daemon *d;
    int port;
    char url[64];
    pthread_mutex_t lock;
    tally_test_recv_mode_t mode;
    int hang_ms;
    size_t attempts, duplicates, bad;
    json_t *per_id; /* id -> [attempts, accepted] */
    char *ids[MAX_IDS];
    size_t n_ids;
};

typedef struct {
    tally_textbuf_t body;
} req_t;

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)method;
    (void)version;
    tally_test_receiver_t *r = cls;
    req_t *q = *con_cls;
    if (q == NULL) {
        *con_cls = calloc(1, sizeof(req_t));
        return MHD_YES;
    }
    if (*upload_size > 0) {
        tally_textbuf_append(&q->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id");
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp");
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature");
    tally_webhook_verdict_t v = tally_webhook_verify(&r->secret, id, ts, sig, q->body.data ? q->body.data : "",
                                                     q->body.len, (int64_t)time(NULL), 300);
    pthread_mutex_lock(&r->lock);
    r->attempts++;
    if (v != TALLY_WEBHOOK_VALID) {
        r->bad++;
        pthread_mutex_unlock(&r->lock);
        return answer(c, 401);
    }
    json_t *e = json_object_get(r->per_id, id);
    if (e == NULL) {
        e = json_pack("[i,i]", 0, 0);
        json_object_set_new(r->per_id, id, e);
    }
    json_array_set_new(e, 0, json_integer(json_integer_value(json_array_get(e, 0)) + 1));
    tally_test_recv_mode_t mode = r->mode;
    int hang = r->hang_ms;
    pthread_mutex_unlock(&r->lock);
    if (mode == TALLY_TEST_RECV_500)
        return answer(c, 500);
    if (mode == TALLY_TEST_RECV_HANG) {
        usleep((useconds_t)hang * 1000);
        return answer(c, 500);
    }
    pthread_mutex_lock(&r->lock);
    json_int_t accepted = json_integer_value(json_array_get(e, 1));
    if (accepted > 0)
        r->duplicates++;
    else if (r->n_ids < MAX_IDS)
        r->ids[r->n_ids++] = strdup(id);
    json_array_set_new(e, 1, json_integer(accepted + 1));
    pthread_mutex_unlock(&r->lock);
    return answer(c, 204);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req_t *q = *con_cls;
    if (q != NULL) {
        tally_textbuf_free(&q->body);
        free(q);
    }
    *con_cls = NULL;
}

static void listen_on(tally_test_receiver_t *r, int port)
{
    for (int tries = 0; tries < 100; tries++) {
        r->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                                (uint16_t)port, NULL, NULL, handle, r, MHD_OPTION_NOTIFY_COMPLETED, completed, r,
                                MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
        if (r->d != NULL)
            break;
        usleep(50000);
    }
    cr_assert_not_null(r->d, "the webhook receiver cannot listen on %d", port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT);
    r->port = info->port;
}

tally_test_receiver_t *tally_test_receiver_start(const char *secret)
{
    tally_test_receiver_t *r = calloc(1, sizeof *r);
    char err[256];
    cr_assert_eq(tally_webhook_secret_parse(secret, strlen(secret), &r->secret, err, sizeof err), 0, "%s", err);
    pthread_mutex_init(&r->lock, NULL);
    r->per_id = json_object();
    listen_on(r, 0);
    snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d/hook", r->port);
    return r;
}

const char *tally_test_receiver_url(const tally_test_receiver_t *r)
{
    return r->url;
}

void tally_test_receiver_set_mode(tally_test_receiver_t *r, tally_test_recv_mode_t mode, int hang_ms)
{
    pthread_mutex_lock(&r->lock);
    tally_test_recv_mode_t was = r->mode;
    r->mode = mode;
    r->hang_ms = hang_ms;
    pthread_mutex_unlock(&r->lock);
    if (mode == TALLY_TEST_RECV_REFUSE && was != TALLY_TEST_RECV_REFUSE) {
        MHD_stop_daemon(r->d);
        r->d = NULL;
    } else if (mode != TALLY_TEST_RECV_REFUSE && was == TALLY_TEST_RECV_REFUSE) {
        listen_on(r, r->port);
    }
}

#define GETTER(name, field)                                                                                         \
    size_t name(tally_test_receiver_t *r)                                                                            \
    {                                                                                                                \
        pthread_mutex_lock(&r->lock);                                                                                \
        size_t v = r->field;                                                                                         \
        pthread_mutex_unlock(&r->lock);                                                                              \
        return v;                                                                                                    \
    }
GETTER(tally_test_receiver_attempts, attempts)
GETTER(tally_test_receiver_accepted, n_ids)
GETTER(tally_test_receiver_duplicates, duplicates)
GETTER(tally_test_receiver_bad, bad)

static size_t of(tally_test_receiver_t *r, const char *id, size_t i)
{
    pthread_mutex_lock(&r->lock);
    json_t *e = json_object_get(r->per_id, id);
    size_t v = e ? (size_t)json_integer_value(json_array_get(e, i)) : 0;
    pthread_mutex_unlock(&r->lock);
    return v;
}

size_t tally_test_receiver_attempts_of(tally_test_receiver_t *r, const char *id)
{
    return of(r, id, 0);
}

size_t tally_test_receiver_accepted_of(tally_test_receiver_t *r, const char *id)
{
    return of(r, id, 1);
}

const char *const *tally_test_receiver_ids(tally_test_receiver_t *r, size_t *n)
{
    pthread_mutex_lock(&r->lock);
    *n = r->n_ids;
    pthread_mutex_unlock(&r->lock);
    return (const char *const *)r->ids;
}

void tally_test_receiver_free(tally_test_receiver_t *r)
{
    if (r == NULL)
        return;
    if (r->d != NULL)
        MHD_stop_daemon(r->d);
    for (size_t i = 0; i < r->n_ids; i++)
        free(r->ids[i]);
    json_decref(r->per_id);
    pthread_mutex_destroy(&r->lock);
    tally_webhook_secret_clear(&r->secret);
    free(r);
}

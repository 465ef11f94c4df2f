#include "sender.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "xalloc.h"

typedef struct transfer_t {
    struct transfer_t *prev, *next; /* the sender's list of transfers in flight */
    CURL *easy;
    char key[384];
    char *url, *body;
    struct curl_slist *headers, *resolve;
    char error[CURL_ERROR_SIZE];
} transfer_t;

struct tally_sender_t {
    CURLM *multi;
    long timeout_ms;
    char *user_agent;
    size_t in_flight;
    transfer_t *head;
};

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

tally_sender_t *tally_sender_new(long timeout_ms, const char *user_agent)
{
    tally_sender_t *s = tally_xcalloc(1, sizeof *s);
    s->multi = curl_multi_init();
    if (s->multi == NULL)
        abort();
    s->timeout_ms = timeout_ms;
    s->user_agent = tally_xstrdup(user_agent);
    return s;
}

static void transfer_free(transfer_t *t)
{
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    curl_slist_free_all(t->resolve);
    free(t->url);
    free(t->body);
    free(t);
}

void tally_sender_free(tally_sender_t *s)
{
    if (s == NULL)
        return;
    /* Cancel what is in flight. */
    while (s->head != NULL) {
        transfer_t *t = s->head;
        s->head = t->next;
        curl_multi_remove_handle(s->multi, t->easy);
        transfer_free(t);
    }
    curl_multi_cleanup(s->multi);
    free(s->user_agent);
    free(s);
}

static struct curl_slist *append(struct curl_slist *l, const char *line)
{
    struct curl_slist *n = curl_slist_append(l, line);
    if (n == NULL)
        abort();
    return n;
}

int tally_sender_start(tally_sender_t *s, const char *key, const char *url, int https, const char *pin,
                       const tally_webhook_secret_t *secret, const char *id, int64_t now_s, const char *body,
                       char *errbuf, size_t errsize)
{
    if (!tally_webhook_id_valid(id)) {
        tally_errbuf_set(errbuf, errsize, "the alert id cannot be a webhook-id");
        return -1;
    }
    transfer_t *t = tally_xcalloc(1, sizeof *t);
    t->easy = curl_easy_init();
    if (t->easy == NULL)
        abort();
    snprintf(t->key, sizeof t->key, "%s", key);
    t->url = tally_xstrdup(url);
    t->body = tally_xstrdup(body);
    char line[512], sig[TALLY_WEBHOOK_SIGNATURE_SIZE];
    tally_webhook_sign(secret, id, now_s, t->body, strlen(t->body), sig);
    snprintf(line, sizeof line, "webhook-id: %s", id);
    t->headers = append(t->headers, line);
    snprintf(line, sizeof line, "webhook-timestamp: %" PRId64, now_s);
    t->headers = append(t->headers, line);
    snprintf(line, sizeof line, "webhook-signature: %s", sig);
    t->headers = append(t->headers, line);
    t->headers = append(t->headers, "Content-Type: application/json");
    t->headers = append(t->headers, "Expect:");
    if (pin != NULL && *pin != '\0')
        t->resolve = append(NULL, pin);
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, t->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, https ? "https" : "http");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(t->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    if (t->resolve != NULL)
        curl_easy_setopt(e, CURLOPT_RESOLVE, t->resolve);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(e, CURLOPT_USERAGENT, s->user_agent);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        tally_errbuf_set(errbuf, errsize, "libcurl refused the transfer");
        transfer_free(t);
        return -1;
    }
    t->next = s->head;
    if (s->head != NULL)
        s->head->prev = t;
    s->head = t;
    s->in_flight++;
    return 0;
}

size_t tally_sender_in_flight(const tally_sender_t *s)
{
    return s->in_flight;
}

void tally_sender_run(tally_sender_t *s, int wait_ms)
{
    int running = 0;
    curl_multi_perform(s->multi, &running);
    if (s->in_flight == 0) {
        if (wait_ms > 0)
            usleep((useconds_t)wait_ms * 1000);
        return;
    }
    int fds = 0;
    curl_multi_poll(s->multi, NULL, 0, wait_ms, &fds);
    curl_multi_perform(s->multi, &running);
}

int tally_sender_next_result(tally_sender_t *s, tally_sender_result_t *out)
{
    int left = 0;
    CURLMsg *m;
    while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        transfer_t *t = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
        memset(out, 0, sizeof *out);
        snprintf(out->key, sizeof out->key, "%s", t->key);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->http_status);
        } else {
            snprintf(out->error, sizeof out->error, "%.190s", t->error[0] ? t->error : curl_easy_strerror(rc));
        }
        curl_multi_remove_handle(s->multi, e);
        if (t->prev != NULL)
            t->prev->next = t->next;
        else
            s->head = t->next;
        if (t->next != NULL)
            t->next->prev = t->prev;
        transfer_free(t);
        s->in_flight--;
        return 1;
    }
    return 0;
}

#include "gateway_event.h"

#include <ctype.h>
#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE "/v1/controlpanel/events"
#define ANSWER_MAX 65536        /* more than any gateway answer to one event */

typedef struct answer_t {
    char buf[ANSWER_MAX + 1];
    size_t len;
    int overflow;
} answer_t;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    answer_t *a = arg;
    size_t k = size * n;
    if (k > ANSWER_MAX - a->len) {
        a->overflow = 1;
        k = ANSWER_MAX - a->len;
    }
    memcpy(a->buf + a->len, data, k);
    a->len += k;
    a->buf[a->len] = '\0';
    return size * n;   /* read on, keep the first part */
}

/* The start of the gateway's answer, printable, for an error text. */
static void excerpt(const answer_t *a, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < a->len && k + 1 < size && k < 200; i++)
        out[k++] = isprint((unsigned char)a->buf[i]) ? a->buf[i] : '?';
    out[k] = '\0';
}

char *tally_gateway_event_text(const char *tenant_id, int64_t occurred_at_ms, json_t *payload, char *errbuf,
                               size_t errsize)
{
    json_t *ev = payload ? json_pack("{s:s, s:I, s:o}", "tenant_id", tenant_id, "occurred_at",
                                     (json_int_t)occurred_at_ms, "payload", payload)
                         : NULL;
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (text == NULL)
        snprintf(errbuf, errsize, "an id of the event is not UTF-8 text");
    return text;
}

static int post_event(const char *gateway_url, const char *admin_token, long timeout_ms, const char *body,
                      int invalid_apart, char *errbuf, size_t errsize)
{
    char url[2048], auth[1024], said[256];
    int rc = TALLY_GATEWAY_EVENT_ERR_REFUSED;
    answer_t *a = NULL;
    struct curl_slist *headers = NULL;
    CURL *curl = NULL;
    json_t *j = NULL;

    if (gateway_url == NULL || *gateway_url == '\0' || admin_token == NULL || *admin_token == '\0') {
        snprintf(errbuf, errsize, "%s is required",
                 gateway_url == NULL || *gateway_url == '\0' ? "the gateway URL" : "the admin token");
        return TALLY_GATEWAY_EVENT_ERR_USAGE;
    }
    size_t base = strlen(gateway_url);
    while (base > 0 && gateway_url[base - 1] == '/')
        base--;
    if (base + strlen(ROUTE) >= sizeof url || strlen(admin_token) + 32 >= sizeof auth) {
        snprintf(errbuf, errsize, "gateway URL or admin token too long");
        return TALLY_GATEWAY_EVENT_ERR_USAGE;
    }
    if ((a = calloc(1, sizeof *a)) == NULL) {
        fprintf(stderr, "tally-console: out of memory\n");
        abort();
    }
    snprintf(url, sizeof url, "%.*s%s", (int)base, gateway_url, ROUTE);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", admin_token);
    if ((curl = curl_easy_init()) == NULL) {
        fprintf(stderr, "tally-console: cannot create a libcurl handle\n");
        abort();
    }
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, auth);
    if (headers == NULL) {
        fprintf(stderr, "tally-console: out of memory\n");
        abort();
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : TALLY_GATEWAY_EVENT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);   /* the admin token goes nowhere else */
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        /* The URL may be the operator's; the error names it, not the token. */
        snprintf(errbuf, errsize, "cannot reach the gateway at %s: %s", url, curl_easy_strerror(cc));
        rc = TALLY_GATEWAY_EVENT_ERR_TRANSPORT;
        goto cleanup;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    excerpt(a, said, sizeof said);
    if (status == 422 && invalid_apart) {
        /* The event broke a rule of the gateway: its reason is for the caller. */
        json_error_t je422;
        j = a->overflow ? NULL : json_loadb(a->buf, a->len, 0, &je422);
        const char *detail = json_string_value(json_object_get(j, "detail"));
        snprintf(errbuf, errsize, "%s", detail ? detail : said);
        rc = TALLY_GATEWAY_EVENT_ERR_INVALID;
        goto cleanup;
    }
    if (status != 202) {
        snprintf(errbuf, errsize, "the gateway answered %ld%s%s%s", status,
                 status == 401 ? " (wrong admin token?)" : "", *said ? ": " : "", said);
        goto cleanup;
    }
    json_error_t je;
    j = a->overflow ? NULL : json_loadb(a->buf, a->len, 0, &je);
    json_t *acc = json_object_get(j, "accepted"), *rej = json_object_get(j, "rejected");
    if (!json_is_integer(acc) || json_integer_value(acc) != 1 || (rej != NULL && json_array_size(rej) != 0)) {
        snprintf(errbuf, errsize, "the gateway answered 202 without accepting the event: %s", said);
        goto cleanup;
    }
    rc = 0;
cleanup:
    sodium_memzero(auth, sizeof auth);
    json_decref(j);
    curl_slist_free_all(headers);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    free(a);
    return rc;
}

int tally_gateway_event_post(const char *gateway_url, const char *admin_token, long timeout_ms, const char *body,
                             char *errbuf, size_t errsize)
{
    return post_event(gateway_url, admin_token, timeout_ms, body, 0, errbuf, errsize);
}

int tally_gateway_event_post_rules(const char *gateway_url, const char *admin_token, long timeout_ms,
                                   const char *body, char *errbuf, size_t errsize)
{
    return post_event(gateway_url, admin_token, timeout_ms, body, 1, errbuf, errsize);
}

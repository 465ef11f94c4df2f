#include "issue_token.h"

#include <ctype.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUTE "/v1/controlpanel/events"
#define ANSWER_MAX 65536        /* more than any gateway answer to one event */
#define DEFAULT_TIMEOUT_MS 10000L

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

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int missing(const char *s)
{
    return s == NULL || *s == '\0';
}

/* The start of the gateway's answer, printable, for an error text. */
static void excerpt(const answer_t *a, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < a->len && k + 1 < size && k < 200; i++)
        out[k++] = isprint((unsigned char)a->buf[i]) ? a->buf[i] : '?';
    out[k] = '\0';
}

/* POSTs one event (body) to the gateway; 0 only for 202 with it accepted. */
static int post_event(const char *gateway_url, const char *admin_token, long timeout_ms, const char *body,
                      char *errbuf, size_t errsize)
{
    char url[2048], auth[1024], said[256];
    size_t base = strlen(gateway_url);
    int rc = TALLY_CONSOLE_TOKEN_ERR_REFUSED;
    answer_t *a = calloc(1, sizeof *a);
    struct curl_slist *headers = NULL;
    CURL *curl = NULL;
    json_t *j = NULL;

    if (a == NULL) {
        fprintf(stderr, "tally-console: out of memory\n");
        abort();
    }
    while (base > 0 && gateway_url[base - 1] == '/')
        base--;
    if (base + strlen(ROUTE) >= sizeof url || strlen(admin_token) + 32 >= sizeof auth) {
        snprintf(errbuf, errsize, "gateway URL or admin token too long");
        rc = TALLY_CONSOLE_TOKEN_ERR_USAGE;
        goto cleanup;
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
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);   /* the admin token goes nowhere else */
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        /* The URL may be the operator's; the error names it, not the token. */
        snprintf(errbuf, errsize, "cannot reach the gateway at %s: %s", url, curl_easy_strerror(cc));
        rc = TALLY_CONSOLE_TOKEN_ERR_TRANSPORT;
        goto cleanup;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    excerpt(a, said, sizeof said);
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

static int check_common(const char *gateway_url, const char *admin_token, const char *tenant_id, char *errbuf,
                        size_t errsize)
{
    if (missing(gateway_url) || missing(admin_token) || missing(tenant_id)) {
        snprintf(errbuf, errsize, "%s is required",
                 missing(gateway_url) ? "the gateway URL" : missing(admin_token) ? "the admin token" : "the tenant");
        return TALLY_CONSOLE_TOKEN_ERR_USAGE;
    }
    return 0;
}

/* The event's text (malloc'd), taking payload; NULL when a text is not
 * UTF-8 (jansson refuses it), with errbuf. */
static char *event_text(const char *tenant_id, int64_t now, json_t *payload, char *errbuf, size_t errsize)
{
    json_t *ev = payload ? json_pack("{s:s, s:I, s:o}", "tenant_id", tenant_id, "occurred_at", (json_int_t)now,
                                     "payload", payload)
                         : NULL;
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (text == NULL)
        snprintf(errbuf, errsize, "the tenant, member or token id is not UTF-8 text");
    return text;
}

int tally_console_issue_token(const tally_issue_token_opts_t *o, char *token_out, size_t token_size,
                              char *token_id_out, int64_t *expires_ms, char *errbuf, size_t errsize)
{
    char token[TALLY_CONSOLE_TOKEN_SIZE], id[TALLY_CONSOLE_TOKEN_ID_SIZE], sha[TALLY_CONSOLE_SHA256_SIZE];
    int64_t ttl = o->ttl_ms ? o->ttl_ms : TALLY_CONSOLE_TOKEN_TTL_DEFAULT_MS;
    int64_t now = o->now_ms ? o->now_ms : wall_ms();
    int rc;

    if (token_size > 0)
        token_out[0] = '\0';
    token_id_out[0] = '\0';
    if ((rc = check_common(o->gateway_url, o->admin_token, o->tenant_id, errbuf, errsize)) != 0)
        return rc;
    if (missing(o->member_id)) {
        snprintf(errbuf, errsize, "the member is required");
        return TALLY_CONSOLE_TOKEN_ERR_USAGE;
    }
    if (ttl <= 0 || ttl > TALLY_CONSOLE_TOKEN_TTL_MAX_MS) {
        snprintf(errbuf, errsize, "a token lives more than 0 and at most %d days",
                 (int)(TALLY_CONSOLE_TOKEN_TTL_MAX_MS / 86400000));
        return TALLY_CONSOLE_TOKEN_ERR_USAGE;
    }
    if (token_size < TALLY_CONSOLE_TOKEN_SIZE) {
        snprintf(errbuf, errsize, "token buffer of %zu bytes, %d needed", token_size, TALLY_CONSOLE_TOKEN_SIZE);
        return TALLY_CONSOLE_TOKEN_ERR_USAGE;
    }
    tally_console_token_new(token, id);
    tally_console_token_sha256(token, strlen(token), sha);
    json_t *payload = json_pack("{s:{s:s, s:s, s:s, s:I}}", "ConsoleTokenIssued", "token_id", id, "member_id",
                                o->member_id, "token_sha256", sha, "expires_at", (json_int_t)(now + ttl));
    char *text = event_text(o->tenant_id, now, payload, errbuf, errsize);
    rc = text ? post_event(o->gateway_url, o->admin_token, o->timeout_ms, text, errbuf, errsize)
              : TALLY_CONSOLE_TOKEN_ERR_USAGE;
    free(text);
    if (rc == 0) {
        memcpy(token_out, token, sizeof token);
        memcpy(token_id_out, id, sizeof id);
        *expires_ms = now + ttl;
    }
    sodium_memzero(token, sizeof token);
    return rc;
}

int tally_console_revoke_token(const tally_revoke_token_opts_t *o, char *errbuf, size_t errsize)
{
    int rc;
    if ((rc = check_common(o->gateway_url, o->admin_token, o->tenant_id, errbuf, errsize)) != 0)
        return rc;
    if (missing(o->token_id)) {
        snprintf(errbuf, errsize, "the token id is required");
        return TALLY_CONSOLE_TOKEN_ERR_USAGE;
    }
    json_t *payload = json_pack("{s:{s:s}}", "ConsoleTokenRevoked", "token_id", o->token_id);
    char *text = event_text(o->tenant_id, o->now_ms ? o->now_ms : wall_ms(), payload, errbuf, errsize);
    rc = text ? post_event(o->gateway_url, o->admin_token, o->timeout_ms, text, errbuf, errsize)
              : TALLY_CONSOLE_TOKEN_ERR_USAGE;
    free(text);
    return rc;
}

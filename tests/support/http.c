#include "http.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *buf;
    size_t len;
} sink_t;

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    sink_t *s = arg;
    size_t add = size * n;
    s->buf = realloc(s->buf, s->len + add + 1);
    if (s->buf == NULL)
        abort();
    memcpy(s->buf + s->len, data, add);
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

tally_test_response_t tally_test_http(const char *method, const char *url, const char *const headers[],
                                      const void *body, size_t len, int allow_fail)
{
    return tally_test_http_from(NULL, method, url, headers, body, len, allow_fail);
}

tally_test_response_t tally_test_http_from(const char *local_address, const char *method, const char *url,
                                           const char *const headers[], const void *body, size_t len,
                                           int allow_fail)
{
    static int initialised;
    if (!initialised) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        initialised = 1;
    }
    tally_test_response_t r = {0};
    sink_t b = {calloc(1, 1), 0}, h = {calloc(1, 1), 0};
    CURL *c = curl_easy_init();
    struct curl_slist *list = NULL;
    /* No "Expect: 100-continue" dance: send bodies at once. */
    list = curl_slist_append(list, "Expect:");
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    /* The path as written: "/a/../b" is sent, not squashed into "/b". */
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (local_address)
        curl_easy_setopt(c, CURLOPT_INTERFACE, local_address);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK && !allow_fail)
        cr_assert_fail("%s %s: %s", method, url, curl_easy_strerror(rc));
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    r.body = b.buf;
    r.len = b.len;
    r.headers = h.buf;
    return r;
}

const char *tally_test_header(const tally_test_response_t *r, const char *name)
{
    static char value[512];
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            snprintf(value, sizeof value, "%.*s", (int)len, v);
            return value;
        }
    }
    return NULL;
}

void tally_test_response_free(tally_test_response_t *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

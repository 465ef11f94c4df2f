#include "transport.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* An answer larger than this is cut: the gateway's are small JSON. */
#define RESPONSE_MAX ((size_t)1 << 20)

struct tally_transport_t {
    tally_transport_opts_t o;
    CURL *curl;
    char user_agent[64];
};

typedef struct {
    char *buf;
    size_t len, cap;
} sink_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    sink_t *s = arg;
    size_t n = size * nmemb;
    if (s->len + n > RESPONSE_MAX)
        n = RESPONSE_MAX - s->len;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (nb == NULL)
            abort();
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return size * nmemb;
}

/* Retry-After: delta-seconds or an HTTP-date. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    int64_t *retry_after_ms = arg;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        char value[128];
        size_t i = sizeof name - 1, v = 0;
        while (i < n && (data[i] == ' ' || data[i] == '\t'))
            i++;
        while (i < n && data[i] != '\r' && data[i] != '\n' && v + 1 < sizeof value)
            value[v++] = data[i++];
        value[v] = '\0';
        if (v > 0 && isdigit((unsigned char)value[0])) {
            char *end;
            long long secs = strtoll(value, &end, 10);
            if (*end == '\0' && secs >= 0 && secs < 86400 * 7)
                *retry_after_ms = secs * 1000;
        } else if (v > 0) {
            time_t when = curl_getdate(value, NULL);
            time_t now = time(NULL);
            if (when != -1)
                *retry_after_ms = when > now ? (int64_t)(when - now) * 1000 : 0;
        }
    }
    return n;
}

bool tally_transport_cleartext_remote(const char *url)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    const char *a = url + 7;
    size_t alen = strcspn(a, "/?#");
    /* user:password@ is not the host. */
    for (size_t i = alen; i > 0; i--) {
        if (a[i - 1] == '@') {
            a += i;
            alen -= i;
            break;
        }
    }
    char host[256];
    size_t hlen;
    if (alen > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        if (close == NULL)
            return true;
        a++;
        hlen = (size_t)(close - a);
    } else {
        const char *colon = memchr(a, ':', alen);
        hlen = colon ? (size_t)(colon - a) : alen;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return true;
    memcpy(host, a, hlen);
    host[hlen] = '\0';
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return false;
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) != 127;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return !IN6_IS_ADDR_LOOPBACK(&v6);
    return true;
}

tally_transport_t *tally_transport_new(const tally_transport_opts_t *opts, char *errbuf, size_t errsize)
{
    tally_transport_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        abort();
    t->o = *opts;
    t->curl = curl_easy_init();
    if (t->curl == NULL) {
        snprintf(errbuf, errsize, "libcurl: cannot create a handle");
        free(t);
        return NULL;
    }
    snprintf(t->user_agent, sizeof t->user_agent, "tally/%s", TALLY_VERSION);
    return t;
}

void tally_transport_free(tally_transport_t *t)
{
    if (t == NULL)
        return;
    curl_easy_cleanup(t->curl);
    free(t);
}

void tally_transport_print_request(FILE *out, const char *base_url, const char *path, const char *credential_name,
                                   const char *body, size_t len)
{
    fprintf(out, "> POST %s%s\n> Content-Type: application/json\n", base_url, path);
    if (credential_name != NULL)
        fprintf(out, "> Authorization: Bearer (hidden: the %s)\n", credential_name);
    fprintf(out, "> \n");
    fwrite(body, 1, len, out);
    fputc('\n', out);
    fflush(out);
}

int tally_transport_post(tally_transport_t *t, const char *path, const char *bearer, const char *bearer_name,
                         const char *body, size_t len, tally_response_t *resp)
{
    return tally_transport_post_with(t, path, bearer, bearer_name, NULL, body, len, resp);
}

int tally_transport_post_with(tally_transport_t *t, const char *path, const char *bearer, const char *bearer_name,
                              const char *extra_header, const char *body, size_t len, tally_response_t *resp)
{
    CURL *c = t->curl;
    char url[2048], errbuf[CURL_ERROR_SIZE], auth[1024];
    sink_t sink = {0};
    struct curl_slist *headers = NULL;
    memset(resp, 0, sizeof *resp);
    resp->retry_after_ms = -1;
    snprintf(url, sizeof url, "%s%s", t->o.base_url, path);

    if (body != NULL)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    if (extra_header != NULL)
        headers = curl_slist_append(headers, extra_header);
    if (bearer != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        headers = curl_slist_append(headers, auth);
        /* The header list keeps its own copy: wipe ours. */
        memset(auth, 0, sizeof auth);
    }
    if (headers == NULL)
        abort();
    if (t->o.debug != NULL && body == NULL)
        fprintf(t->o.debug, "> GET %s%s\n", t->o.base_url, path);
    else if (t->o.debug != NULL)
        tally_transport_print_request(t->o.debug, t->o.base_url, path,
                                      bearer ? (bearer_name ? bearer_name : "credential") : NULL, body, len);

    /* The handle keeps its connection and options between requests; set
     * what changes every time. */
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, t->user_agent);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (body == NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)t->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)t->o.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp->retry_after_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);

    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    resp->body = sink.buf ? sink.buf : calloc(1, 1);
    if (resp->body == NULL)
        abort();
    resp->len = sink.len;
    if (rc != CURLE_OK) {
        snprintf(resp->error, sizeof resp->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        if (t->o.debug != NULL)
            fprintf(t->o.debug, "< (no answer: %s)\n", resp->error);
        return -1;
    }
    resp->transport_ok = 1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (t->o.debug != NULL) {
        fprintf(t->o.debug, "< %ld\n", resp->status);
        if (resp->retry_after_ms >= 0)
            fprintf(t->o.debug, "< Retry-After: %lld s\n", (long long)(resp->retry_after_ms / 1000));
        fprintf(t->o.debug, "%s\n", resp->body);
        fflush(t->o.debug);
    }
    return 0;
}

void tally_response_clear(tally_response_t *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

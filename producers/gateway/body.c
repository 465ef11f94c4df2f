#include "body.h"

#include "json_reader.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* Case-insensitive match of the media type part (before ';'). */
static int media_is(const char *ct, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(ct, want, n) == 0;
}

int tally_body_media(const char *content_type, int allow_text, tally_media_t *media,
                     char *errbuf, size_t errsize)
{
    if (content_type == NULL || !*content_type) {
        snprintf(errbuf, errsize, "Content-Type is required: application/json or application/x-ndjson");
        return TALLY_BODY_ERR_MEDIA;
    }
    const char *semi = strchr(content_type, ';');
    size_t n = semi ? (size_t)(semi - content_type) : strlen(content_type);
    while (n > 0 && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
        n--;
    if (media_is(content_type, n, "application/json"))
        *media = TALLY_MEDIA_JSON;
    else if (media_is(content_type, n, "application/x-ndjson") || media_is(content_type, n, "application/jsonl") ||
             media_is(content_type, n, "application/ndjson"))
        *media = TALLY_MEDIA_NDJSON;
    else if (allow_text && media_is(content_type, n, "text/plain"))
        *media = TALLY_MEDIA_TEXT;
    else {
        snprintf(errbuf, errsize, "unsupported Content-Type: use application/json or application/x-ndjson%s",
                 allow_text ? " (or text/plain holding JSON)" : "");
        return TALLY_BODY_ERR_MEDIA;
    }
    /* Parameters: only charset, and only UTF-8 (JSON is UTF-8, RFC 8259). */
    for (const char *p = semi; p != NULL; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t')
            q++;
        if (strncasecmp(q, "charset=", 8) == 0) {
            q += 8;
            if (*q == '"')
                q++;
            if (strncasecmp(q, "utf-8", 5) != 0 || (q[5] && q[5] != '"' && q[5] != ';' && q[5] != ' ')) {
                snprintf(errbuf, errsize, "unsupported charset: JSON bodies must be UTF-8");
                return TALLY_BODY_ERR_MEDIA;
            }
        }
    }
    return 0;
}

int tally_body_gunzip(const void *in, size_t in_len, void *out, size_t cap, size_t *out_len,
                      char *errbuf, size_t errsize)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        snprintf(errbuf, errsize, "gzip: cannot initialise zlib");
        return TALLY_BODY_ERR_MALFORMED;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)in_len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int rc, ret = 0;
    rc = inflate(&zs, Z_FINISH);
    if (rc == Z_STREAM_END) {
        if (zs.avail_in != 0) {
            snprintf(errbuf, errsize, "gzip: data after the end of the stream");
            ret = TALLY_BODY_ERR_MALFORMED;
        }
    } else if (zs.avail_out == 0 && (rc == Z_BUF_ERROR || rc == Z_OK)) {
        snprintf(errbuf, errsize, "decompressed body larger than %zu bytes", cap);
        ret = TALLY_BODY_ERR_TOO_LARGE;
    } else {
        snprintf(errbuf, errsize, "gzip: %s", rc == Z_BUF_ERROR ? "truncated stream" : zs.msg ? zs.msg : "corrupt stream");
        ret = TALLY_BODY_ERR_MALFORMED;
    }
    *out_len = zs.total_out;
    inflateEnd(&zs);
    return ret;
}

static void reject(tally_body_item_t *it, const char *why)
{
    it->text = NULL;
    it->len = 0;
    snprintf(it->error, sizeof it->error, "%s", why);
}

static void accept(tally_body_item_t *it, const char *text, size_t len)
{
    it->text = text;
    it->len = len;
    it->error[0] = '\0';
}

static int malformed(const tally_json_reader_t *r, char *errbuf, size_t errsize)
{
    tally_json_reader_error(r, errbuf, errsize);
    return TALLY_BODY_ERR_MALFORMED;
}

/* A JSON body: one object, or an array of them. */
static int split_json(const char *body, size_t len, tally_body_item_t *items, size_t max_events, size_t *count,
                      char *errbuf, size_t errsize)
{
    tally_json_reader_t r;
    tally_json_kind_t kind;
    const char *start;
    size_t n = 0;
    bool more;

    tally_json_reader_init(&r, body, len);
    if (tally_json_reader_peek(&r, &kind) != 0)
        return malformed(&r, errbuf, errsize);
    start = r.p;
    if (kind != TALLY_JSON_ARRAY) {
        if (tally_json_reader_skip(&r) != 0)
            return malformed(&r, errbuf, errsize);
        const char *stop = r.p;
        if (tally_json_reader_end(&r) != 0)
            return malformed(&r, errbuf, errsize);
        if (kind != TALLY_JSON_OBJECT) {
            snprintf(errbuf, errsize, "body must be a JSON object or an array of objects");
            return TALLY_BODY_ERR_MALFORMED;
        }
        if (max_events < 1) {
            snprintf(errbuf, errsize, "no event allowed");
            return TALLY_BODY_ERR_TOO_LARGE;
        }
        accept(&items[0], start, (size_t)(stop - start));
        *count = 1;
        return 0;
    }
    /* The whole array is read, even past max_events: a body that is not
     * JSON is malformed whatever its size. */
    if (tally_json_reader_begin(&r, '[') != 0)
        return malformed(&r, errbuf, errsize);
    for (;;) {
        if (tally_json_reader_next(&r, ']', &n, &more) != 0)
            return malformed(&r, errbuf, errsize);
        if (!more)
            break;
        if (tally_json_reader_peek(&r, &kind) != 0)
            return malformed(&r, errbuf, errsize);
        start = r.p;
        if (tally_json_reader_skip(&r) != 0)
            return malformed(&r, errbuf, errsize);
        if (n > max_events)
            continue;
        if (kind == TALLY_JSON_OBJECT)
            accept(&items[n - 1], start, (size_t)(r.p - start));
        else
            reject(&items[n - 1], "event must be a JSON object");
    }
    if (tally_json_reader_end(&r) != 0)
        return malformed(&r, errbuf, errsize);
    if (n == 0) {
        snprintf(errbuf, errsize, "empty batch");
        return TALLY_BODY_ERR_MALFORMED;
    }
    if (n > max_events) {
        snprintf(errbuf, errsize, "batch of %zu events is larger than the maximum of %zu", n, max_events);
        return TALLY_BODY_ERR_TOO_LARGE;
    }
    *count = n;
    return 0;
}

/* NDJSON: one object per non-empty line, each judged on its own. */
static int split_ndjson(const char *body, size_t len, tally_body_item_t *items, size_t max_events, size_t *count,
                        char *errbuf, size_t errsize)
{
    const char *p = body, *end = body + len;
    size_t n = 0, line = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        line++;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < le) {
            tally_json_reader_t r;
            if (n == max_events) {
                snprintf(errbuf, errsize, "batch larger than the maximum of %zu events", max_events);
                return TALLY_BODY_ERR_TOO_LARGE;
            }
            if (tally_json_reader_validate(&r, p, (size_t)(le - p), false) != 0) {
                char why[200];
                snprintf(why, sizeof why, "invalid JSON at line %zu column %zu: %s", line, r.error_at + 1,
                         r.error);
                reject(&items[n], why);
            } else if (*q != '{') {
                reject(&items[n], "event must be a JSON object");
            } else {
                const char *e = le;
                while (e > q && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                    e--;
                accept(&items[n], q, (size_t)(e - q));
            }
            n++;
        }
        p = nl ? nl + 1 : end;
    }
    *count = n;
    return 0;
}

int tally_body_split(const char *body, size_t len, tally_media_t media, tally_body_item_t *items,
                     size_t max_events, size_t *count, char *errbuf, size_t errsize)
{
    size_t skip = 0;
    *count = 0;
    while (skip < len && (body[skip] == ' ' || body[skip] == '\t' || body[skip] == '\r' || body[skip] == '\n'))
        skip++;
    if (skip == len) {
        snprintf(errbuf, errsize, "empty body");
        return TALLY_BODY_ERR_MALFORMED;
    }
    if (media == TALLY_MEDIA_NDJSON)
        return split_ndjson(body, len, items, max_events, count, errbuf, errsize);
    return split_json(body, len, items, max_events, count, errbuf, errsize);
}

#include "body.h"

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

/* jansson's messages may quote input ("near 'x'"): keep position and kind only. */
static void json_error_text(const json_error_t *je, char *out, size_t size)
{
    char text[JSON_ERROR_TEXT_LENGTH];
    snprintf(text, sizeof text, "%s", je->text);
    char *near = strstr(text, " near ");
    if (near)
        *near = '\0';
    snprintf(out, size, "invalid JSON at line %d column %d: %s", je->line, je->column, text);
}

static void reject(tally_body_item_t *it, const char *why)
{
    it->event = NULL;
    snprintf(it->error, sizeof it->error, "%s", why);
}

int tally_body_split(const char *body, size_t len, tally_media_t media, tally_body_item_t *items,
                     size_t max_events, size_t *count, char *errbuf, size_t errsize)
{
    json_error_t je;
    size_t n = 0;
    *count = 0;
    size_t skip = 0;
    while (skip < len && (body[skip] == ' ' || body[skip] == '\t' || body[skip] == '\r' || body[skip] == '\n'))
        skip++;
    if (skip == len) {
        snprintf(errbuf, errsize, "empty body");
        return TALLY_BODY_ERR_MALFORMED;
    }
    if (media != TALLY_MEDIA_NDJSON) {
        /* DECODE_ANY: a bare string or number is JSON too, refused below by name. */
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (root == NULL) {
            json_error_text(&je, errbuf, errsize);
            return TALLY_BODY_ERR_MALFORMED;
        }
        if (json_is_object(root)) {
            if (max_events < 1) {
                json_decref(root);
                snprintf(errbuf, errsize, "no event allowed");
                return TALLY_BODY_ERR_TOO_LARGE;
            }
            items[0].event = root;
            items[0].error[0] = '\0';
            *count = 1;
            return 0;
        }
        if (!json_is_array(root)) {
            json_decref(root);
            snprintf(errbuf, errsize, "body must be a JSON object or an array of objects");
            return TALLY_BODY_ERR_MALFORMED;
        }
        if (json_array_size(root) == 0 || json_array_size(root) > max_events) {
            size_t got = json_array_size(root);
            json_decref(root);
            if (got == 0) {
                snprintf(errbuf, errsize, "empty batch");
                return TALLY_BODY_ERR_MALFORMED;
            }
            snprintf(errbuf, errsize, "batch of %zu events is larger than the maximum of %zu", got, max_events);
            return TALLY_BODY_ERR_TOO_LARGE;
        }
        size_t i;
        json_t *el;
        json_array_foreach(root, i, el) {
            if (json_is_object(el)) {
                items[i].event = json_incref(el);
                items[i].error[0] = '\0';
            } else {
                reject(&items[i], "event must be a JSON object");
            }
        }
        *count = json_array_size(root);
        json_decref(root);
        return 0;
    }
    /* NDJSON: one object per non-empty line. */
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < le) {
            if (n == max_events) {
                tally_body_items_release(items, n);
                snprintf(errbuf, errsize, "batch larger than the maximum of %zu events", max_events);
                return TALLY_BODY_ERR_TOO_LARGE;
            }
            json_t *ev = json_loadb(p, (size_t)(le - p), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
            if (ev == NULL) {
                char why[200];
                json_error_text(&je, why, sizeof why);
                reject(&items[n], why);
            } else if (!json_is_object(ev)) {
                json_decref(ev);
                reject(&items[n], "event must be a JSON object");
            } else {
                items[n].event = ev;
                items[n].error[0] = '\0';
            }
            n++;
        }
        p = nl ? nl + 1 : end;
    }
    *count = n;
    return 0;
}

void tally_body_items_release(tally_body_item_t *items, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        json_decref(items[i].event);
        items[i].event = NULL;
    }
}

/*
 * fuzz_body_split.c: the gateway's request bodies (producers/gateway/body.c):
 * gzip inflation, then splitting into JSON events, as the ingest path does.
 *
 * Input: one flags byte, then the body. Flags: bits 0-1 the media type
 * (0 and 3 application/json, 1 NDJSON, 2 text/plain), bit 2 gzip (the body
 * is inflated first, into at most INFLATE_CAP bytes), bits 3-7 the batch
 * limit minus one (1..32 events). Properties:
 *
 *   - inflation never writes past its cap and reports what it wrote;
 *   - the split reads only the body (a heap copy of its exact size) and
 *     fills only the caller's max_events slots;
 *   - an error has a reason; a success has 1..max_events items, each
 *     either rejected with a reason or a slice of the body that is on its
 *     own one well-formed JSON object;
 *   - a JSON (or text) body splits exactly when the whole body is JSON;
 *     NDJSON gives one item per non-blank line.
 * The Content-Type parser also gets the body's first line.
 */
#include "fuzz_util.h"

#include "body.h"
#include "json_reader.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define INFLATE_CAP (256 * 1024)

static void check_items(const char *body, size_t len, tally_media_t media, const tally_body_item_t *items,
                        size_t count, size_t max_events)
{
    if (count < 1 || count > max_events)
        fuzz_fail("split into %zu items, limit %zu", count, max_events);
    for (size_t i = 0; i < count; i++) {
        const tally_body_item_t *it = &items[i];
        tally_json_reader_t r;

        if (it->text == NULL) {
            if (it->error[0] == '\0' || memchr(it->error, '\0', sizeof it->error) == NULL)
                fuzz_fail("item %zu rejected without a reason", i);
            continue;
        }
        if (it->text < body || it->len == 0 || it->len > len || (size_t)(it->text - body) > len - it->len)
            fuzz_fail("item %zu is not a slice of the body", i);
        if (it->text[0] != '{' || it->text[it->len - 1] != '}')
            fuzz_fail("item %zu is not an object's text", i);
        if (tally_json_reader_validate(&r, it->text, it->len, false) != 0)
            fuzz_fail("item %zu is not JSON on its own: %s", i, r.error);
    }
    if (media == TALLY_MEDIA_NDJSON) {
        size_t lines = 0;
        for (const char *p = body, *end = body + len; p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
            while (p < le && (*p == ' ' || *p == '\t' || *p == '\r'))
                p++;
            lines += p < le;
            p = nl ? nl + 1 : end;
        }
        if (lines != count)
            fuzz_fail("NDJSON of %zu non-blank lines split into %zu items", lines, count);
    }
}

static void split(const char *body, size_t len, tally_media_t media, size_t max_events)
{
    tally_body_item_t *items = malloc(max_events * sizeof *items);
    tally_json_reader_t r;
    size_t count = 0;
    char err[256] = "";
    int rc;

    if (items == NULL)
        fuzz_fail("out of memory");
    rc = tally_body_split(body, len, media, items, max_events, &count, err, sizeof err);
    if (rc != 0) {
        if (rc != TALLY_BODY_ERR_MALFORMED && rc != TALLY_BODY_ERR_TOO_LARGE)
            fuzz_fail("split returned %d", rc);
        if (err[0] == '\0')
            fuzz_fail("split refused the body (%d) without a reason", rc);
    } else {
        check_items(body, len, media, items, count, max_events);
    }
    if (media != TALLY_MEDIA_NDJSON) {
        bool json = tally_json_reader_validate(&r, body, len, false) == 0;
        if (rc == 0 && !json)
            fuzz_fail("split a body that is not JSON");
        if (rc == TALLY_BODY_ERR_TOO_LARGE && !json)
            fuzz_fail("a body that is not JSON refused as too large, not malformed");
    }
    free(items);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const tally_media_t medias[4] = {TALLY_MEDIA_JSON, TALLY_MEDIA_NDJSON, TALLY_MEDIA_TEXT,
                                            TALLY_MEDIA_JSON};
    char err[256] = "", ct[128];
    tally_media_t media;
    size_t len, n;
    char *body;

    if (size < 1)
        return 0;
    media = medias[data[0] & 3];
    size_t max_events = (size_t)(data[0] >> 3) + 1;
    bool gzip = (data[0] & 4) != 0;
    data++;
    size--;

    /* The Content-Type parser, on the body's first line. */
    n = 0;
    while (n < size && n < sizeof ct - 1 && data[n] != '\n' && data[n] != '\0')
        n++;
    memcpy(ct, data, n);
    ct[n] = '\0';
    if (tally_body_media(ct, n & 1, &media, err, sizeof err) != 0 && err[0] == '\0')
        fuzz_fail("Content-Type refused without a reason");
    media = medias[data[-1] & 3];

    if (gzip) {
        char *out = malloc(INFLATE_CAP);
        if (out == NULL)
            fuzz_fail("out of memory");
        err[0] = '\0';
        int rc = tally_body_gunzip(data, size, out, INFLATE_CAP, &len, err, sizeof err);
        if (len > INFLATE_CAP)
            fuzz_fail("inflated %zu bytes into %d", len, INFLATE_CAP);
        if (rc != 0) {
            if ((rc != TALLY_BODY_ERR_MALFORMED && rc != TALLY_BODY_ERR_TOO_LARGE) || err[0] == '\0')
                fuzz_fail("gunzip returned %d (%s)", rc, err);
            free(out);
            return 0;
        }
        body = malloc(len ? len : 1);
        if (body == NULL)
            fuzz_fail("out of memory");
        memcpy(body, out, len);
        free(out);
    } else {
        len = size;
        body = malloc(len ? len : 1);
        if (body == NULL)
            fuzz_fail("out of memory");
        memcpy(body, data, len);
    }
    split(body, len, media, max_events);
    free(body);
    return 0;
}

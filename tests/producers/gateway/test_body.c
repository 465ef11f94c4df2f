/* Request bodies: media types, gzip with a cap (bombs stop at the cap),
 * and splitting into events with per-index rejections. */
#include "body.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static char err[256];

Test(body, media_types)
{
    tally_media_t m;
    cr_assert_eq(tally_body_media("application/json", 0, &m, err, sizeof err), 0);
    cr_assert_eq(m, TALLY_MEDIA_JSON);
    cr_assert_eq(tally_body_media("Application/JSON; charset=utf-8", 0, &m, err, sizeof err), 0);
    cr_assert_eq(tally_body_media("application/x-ndjson", 0, &m, err, sizeof err), 0);
    cr_assert_eq(m, TALLY_MEDIA_NDJSON);
    cr_assert_eq(tally_body_media("text/plain;charset=UTF-8", 1, &m, err, sizeof err), 0);
    cr_assert_eq(m, TALLY_MEDIA_TEXT);
    cr_assert_eq(tally_body_media("text/plain", 0, &m, err, sizeof err), TALLY_BODY_ERR_MEDIA,
                 "text/plain only where sendBeacon posts");
    cr_assert_eq(tally_body_media("application/json; charset=latin1", 0, &m, err, sizeof err), TALLY_BODY_ERR_MEDIA);
    cr_assert_eq(tally_body_media("text/html", 1, &m, err, sizeof err), TALLY_BODY_ERR_MEDIA);
    cr_assert_eq(tally_body_media(NULL, 1, &m, err, sizeof err), TALLY_BODY_ERR_MEDIA);
    cr_assert_eq(tally_body_media("application/jsonx", 0, &m, err, sizeof err), TALLY_BODY_ERR_MEDIA);
}

static size_t gzip(const void *in, size_t n, unsigned char *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    cr_assert_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t len = zs.total_out;
    deflateEnd(&zs);
    return len;
}

Test(body, gunzip_caps_output_and_refuses_garbage)
{
    const char *text = "{\"a\":1}";
    unsigned char gz[1 << 16], out[64];
    size_t n = gzip(text, strlen(text), gz, sizeof gz), len;
    cr_assert_eq(tally_body_gunzip(gz, n, out, sizeof out, &len, err, sizeof err), 0, "%s", err);
    cr_assert_eq(len, strlen(text));
    cr_assert_eq(memcmp(out, text, len), 0);

    /* A bomb: 16 MiB of zeros stop at the 64-byte cap. */
    size_t big = 16 << 20;
    char *zeros = calloc(1, big);
    n = gzip(zeros, big, gz, sizeof gz);
    free(zeros);
    cr_assert(n < sizeof gz);
    cr_assert_eq(tally_body_gunzip(gz, n, out, sizeof out, &len, err, sizeof err), TALLY_BODY_ERR_TOO_LARGE);
    cr_assert(strstr(err, "larger than 64") != NULL, "%s", err);

    n = gzip(text, strlen(text), gz, sizeof gz);
    cr_assert_eq(tally_body_gunzip(gz, n - 4, out, sizeof out, &len, err, sizeof err), TALLY_BODY_ERR_MALFORMED,
                 "truncated stream");
    gz[n] = 'x';
    cr_assert_eq(tally_body_gunzip(gz, n + 1, out, sizeof out, &len, err, sizeof err), TALLY_BODY_ERR_MALFORMED,
                 "trailing garbage");
    cr_assert_eq(tally_body_gunzip("not gzip", 8, out, sizeof out, &len, err, sizeof err), TALLY_BODY_ERR_MALFORMED);
}

Test(body, split_object_array_and_ndjson)
{
    tally_body_item_t items[8];
    size_t count;
    const char *one = "{\"a\":1}";
    cr_assert_eq(tally_body_split(one, strlen(one), TALLY_MEDIA_JSON, items, 8, &count, err, sizeof err), 0);
    cr_assert_eq(count, 1);
    cr_assert(json_is_object(items[0].event));
    tally_body_items_release(items, count);

    const char *arr = "[{\"a\":1}, 2, {\"b\":2}]";
    cr_assert_eq(tally_body_split(arr, strlen(arr), TALLY_MEDIA_JSON, items, 8, &count, err, sizeof err), 0);
    cr_assert_eq(count, 3);
    cr_assert_null(items[1].event);
    cr_assert(strlen(items[1].error) > 0);
    cr_assert_not_null(items[2].event);
    tally_body_items_release(items, count);

    const char *nd = "{\"a\":1}\n\n  \r\n{oops SECRET-VALUE}\n{\"c\":3}";
    cr_assert_eq(tally_body_split(nd, strlen(nd), TALLY_MEDIA_NDJSON, items, 8, &count, err, sizeof err), 0);
    cr_assert_eq(count, 3, "blank lines are skipped");
    cr_assert_null(items[1].event);
    cr_assert_null(strstr(items[1].error, "SECRET"), "errors never quote the body: %s", items[1].error);
    tally_body_items_release(items, count);
}

Test(body, whole_body_refusals)
{
    tally_body_item_t items[2];
    size_t count;
    cr_assert_eq(tally_body_split("  \n ", 4, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
    cr_assert_eq(tally_body_split("[]", 2, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
    cr_assert_eq(tally_body_split("\"x\"", 3, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
    cr_assert_eq(tally_body_split("{\"a\":1,\"a\":2}", 13, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED, "duplicate keys");
    cr_assert_eq(tally_body_split("[{},{},{}]", 10, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_TOO_LARGE);
    cr_assert_eq(tally_body_split("{}\n{}\n{}\n", 9, TALLY_MEDIA_NDJSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_TOO_LARGE);
    char deep[20001];
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    cr_assert_eq(tally_body_split(deep, 20000, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED, "10,000 levels of nesting");
    const char bad_utf8[] = "{\"a\":\"\xc3\x28\"}";
    cr_assert_eq(tally_body_split(bad_utf8, strlen(bad_utf8), TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
}

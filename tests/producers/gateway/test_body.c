/* Request bodies: media types, gzip with a cap (bombs stop at the cap),
 * and splitting into events (slices of the body, checked as JSON in one
 * pass) with per-index rejections. */
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

static void expect_item(const tally_body_item_t *it, const char *text)
{
    cr_assert_not_null(it->text, "rejected: %s", it->error);
    cr_assert_eq(it->len, strlen(text), "%.*s", (int)it->len, it->text);
    cr_assert_eq(memcmp(it->text, text, it->len), 0, "%.*s", (int)it->len, it->text);
}

Test(body, split_object_array_and_ndjson)
{
    tally_body_item_t items[8];
    size_t count;
    const char *one = " {\"a\":1}\n";
    cr_assert_eq(tally_body_split(one, strlen(one), TALLY_MEDIA_JSON, items, 8, &count, err, sizeof err), 0);
    cr_assert_eq(count, 1);
    expect_item(&items[0], "{\"a\":1}");
    cr_assert(items[0].text == one + 1, "the item points into the body");

    const char *arr = "[{\"a\":1}, 2, {\"b\":2}]";
    cr_assert_eq(tally_body_split(arr, strlen(arr), TALLY_MEDIA_JSON, items, 8, &count, err, sizeof err), 0);
    cr_assert_eq(count, 3);
    expect_item(&items[0], "{\"a\":1}");
    cr_assert_null(items[1].text);
    cr_assert_str_eq(items[1].error, "event must be a JSON object");
    expect_item(&items[2], "{\"b\":2}");

    const char *nd = "{\"a\":1}\n\n  \r\n{oops SECRET-VALUE}\n{\"c\":3}";
    cr_assert_eq(tally_body_split(nd, strlen(nd), TALLY_MEDIA_NDJSON, items, 8, &count, err, sizeof err), 0);
    cr_assert_eq(count, 3, "blank lines are skipped");
    expect_item(&items[0], "{\"a\":1}");
    cr_assert_null(items[1].text);
    cr_assert_null(strstr(items[1].error, "SECRET"), "errors never quote the body: %s", items[1].error);
    cr_assert_str_eq(items[1].error, "invalid JSON at line 4 column 2: expected a string (an object key)");
    expect_item(&items[2], "{\"c\":3}");
}

/* Elements are cut where the JSON says, not where a bracket happens to be. */
Test(body, split_items_are_exact_slices)
{
    tally_body_item_t items[8];
    size_t count;
    const char *arr = "[ {\"a\":\"]},{\"} , {\"b\":[1,{\"c\":[]}],\"d\":\"\\\"}\"}\t,\n\"x\" ,[{}] ]";
    cr_assert_eq(tally_body_split(arr, strlen(arr), TALLY_MEDIA_JSON, items, 8, &count, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(count, 4);
    expect_item(&items[0], "{\"a\":\"]},{\"}");
    expect_item(&items[1], "{\"b\":[1,{\"c\":[]}],\"d\":\"\\\"}\"}");
    cr_assert_null(items[2].text);
    cr_assert_null(items[3].text);

    const char *nd = "  {\"a\":1}  \r\n[1]\n\"s\"\n{\"a\":\"\\u0000\"}\n{\"a\":1,\"a\":2}";
    cr_assert_eq(tally_body_split(nd, strlen(nd), TALLY_MEDIA_NDJSON, items, 8, &count, err, sizeof err), 0);
    cr_assert_eq(count, 5);
    expect_item(&items[0], "{\"a\":1}");
    cr_assert_str_eq(items[1].error, "event must be a JSON object");
    cr_assert_str_eq(items[2].error, "event must be a JSON object");
    cr_assert_null(items[3].text, "a NUL escape is not accepted");
    cr_assert(strstr(items[3].error, "NUL") != NULL, "%s", items[3].error);
    /* Duplicate keys are the conversion's to find, per event. */
    expect_item(&items[4], "{\"a\":1,\"a\":2}");
}

Test(body, whole_body_refusals)
{
    tally_body_item_t items[2];
    size_t count;
    cr_assert_eq(tally_body_split("  \n ", 4, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
    cr_assert_eq(tally_body_split("[]", 2, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
    cr_assert_str_eq(err, "empty batch");
    cr_assert_eq(tally_body_split("\"x\"", 3, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
    cr_assert_str_eq(err, "body must be a JSON object or an array of objects");
    cr_assert_eq(tally_body_split("[{},{},{}]", 10, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_TOO_LARGE);
    cr_assert_eq(tally_body_split("{}\n{}\n{}\n", 9, TALLY_MEDIA_NDJSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_TOO_LARGE);
    /* Not JSON anywhere makes the whole body malformed, even past the cap. */
    cr_assert_eq(tally_body_split("[{},{},{},{]", 12, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
    cr_assert_eq(tally_body_split("[{}, 1x]", 8, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
    cr_assert_str_eq(err, "invalid JSON at line 1 column 7: expected ',' or ']'");
    cr_assert_eq(tally_body_split("{\"a\":\"\\u0000\"}", 13, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
    cr_assert_eq(tally_body_split("{\"a\":123456789012345678901}", 27, TALLY_MEDIA_JSON, items, 2, &count, err,
                                  sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
    cr_assert_eq(tally_body_split("{} {}", 5, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
    /* Changed with the streaming split: duplicate keys are no longer the
     * body's fault (jansson refused them while parsing); the conversion
     * rejects such an event alone, with a 422 naming the field. */
    cr_assert_eq(tally_body_split("{\"a\":1,\"a\":2}", 13, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err), 0);
    cr_assert_eq(count, 1);
    char deep[20001];
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    cr_assert_eq(tally_body_split(deep, 20000, TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED, "10,000 levels of nesting");
    cr_assert(strstr(err, "depth") != NULL, "%s", err);
    const char bad_utf8[] = "{\"a\":\"\xc3\x28\"}";
    cr_assert_eq(tally_body_split(bad_utf8, strlen(bad_utf8), TALLY_MEDIA_JSON, items, 2, &count, err, sizeof err),
                 TALLY_BODY_ERR_MALFORMED);
}

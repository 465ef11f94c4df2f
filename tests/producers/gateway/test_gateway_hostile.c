/* tally-gateway against hostile and broken clients: a corpus of malformed
 * requests (bad JSON and UTF-8, deep nesting, huge bodies, gzip bombs, wrong
 * media types and encodings, schema and rule violations, bad credentials,
 * wrong routes and methods) sent with libcurl, and protocol abuse sent on
 * raw sockets (header floods, slow loris, bad chunking, smuggling framings,
 * garbage). Each answer must carry the exact status and, when the gateway
 * itself answers, a JSON {"error","detail"} body that never echoes the
 * offending value. At the end, against the same gateway: nothing reached
 * any of its three topics, and its log holds no secret, no marker and no
 * client address. */
#define _GNU_SOURCE /* strcasestr */
#include "gateway_fixture.h"
#include "textbuf.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Put in bad values, keys and headers; must never come back or be logged. */
#define MARK "SECRET-MARKER-7731"
#define TIMEOUT_S 2          /* the gateway's --timeout */
#define MAX_BATCH 50         /* its --max-batch */
#define MAX_BODY 1048576     /* its default --max-body */
#define MAX_INFLATED 8388608 /* its default --max-inflated */

static tally_test_gateway_t gw;
static int gw_port;

TestSuite(gateway_hostile, .timeout = 600);

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    cr_assert_not_null(p);
    return p;
}

static void buf_fill(tally_textbuf_t *b, char c, size_t n)
{
    char block[4096];
    memset(block, c, sizeof block);
    while (n > 0) {
        size_t k = n < sizeof block ? n : sizeof block;
        tally_textbuf_append(b, block, k);
        n -= k;
    }
}

/* Expands the placeholders of a template: %NOW% (a second ago, epoch ms),
 * %STARTED% (an hour ago), %FUTURE% and %PAST% (ten years away), %SECS%
 * (now in epoch seconds), %MICROS% (now in microseconds), %MARK%, %TENANT%,
 * %ENV%. Bytes outside placeholders are copied as they are (raw invalid
 * UTF-8 included). */
static char *expand(const char *t, size_t *len)
{
    long long now = tally_test_now_ms(), year = 365LL * 86400000;
    struct {
        const char *name;
        char value[64];
    } vars[] = {
        {"%NOW%", ""}, {"%STARTED%", ""}, {"%FUTURE%", ""}, {"%PAST%", ""}, {"%SECS%", ""},
        {"%MICROS%", ""}, {"%MARK%", MARK}, {"%TENANT%", TALLY_TEST_TENANT}, {"%ENV%", TALLY_TEST_ENV},
    };
    snprintf(vars[0].value, sizeof vars[0].value, "%lld", now - 1000);
    snprintf(vars[1].value, sizeof vars[1].value, "%lld", now - 3600000);
    snprintf(vars[2].value, sizeof vars[2].value, "%lld", now + 10 * year);
    snprintf(vars[3].value, sizeof vars[3].value, "%lld", now - 10 * year);
    snprintf(vars[4].value, sizeof vars[4].value, "%lld", now / 1000);
    snprintf(vars[5].value, sizeof vars[5].value, "%lld", now * 1000);
    tally_textbuf_t b = {0};
    tally_textbuf_append(&b, "", 0);
    for (const char *p = t; *p;) {
        size_t i;
        for (i = 0; i < sizeof vars / sizeof vars[0]; i++)
            if (strncmp(p, vars[i].name, strlen(vars[i].name)) == 0)
                break;
        if (i < sizeof vars / sizeof vars[0]) {
            tally_textbuf_puts(&b, vars[i].value);
            p += strlen(vars[i].name);
        } else {
            tally_textbuf_append(&b, p, 1);
            p++;
        }
    }
    if (len)
        *len = b.len;
    return b.data;
}

/* ---- valid events, to be broken in exactly one way ---------------------- */

typedef enum { BASE_NONE, BASE_PRODUCT, BASE_USAGE, BASE_SEAT, BASE_CP } base_t;

static const char *const base_template[] = {
    [BASE_PRODUCT] = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%NOW%,"
                     "\"install_id\":\"install-1\",\"project_id\":\"p-1\",\"version\":\"5.2.1\",\"ci\":false,"
                     "\"properties\":{\"region\":\"eu\"}}",
    [BASE_USAGE] = "{\"tenant_id\":\"%TENANT%\",\"environment_id\":\"%ENV%\","
                   "\"reporter_id\":\"2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d\",\"reporter_started_at\":%STARTED%,"
                   "\"seq\":1,\"observed_at\":%NOW%,\"api_calls\":10,\"status_4xx\":2,\"status_5xx\":1,"
                   "\"exec_ms\":50}",
    [BASE_SEAT] = "{\"tenant_id\":\"%TENANT%\",\"user_id\":\"user-1\",\"op\":\"ASSIGNED\",\"occurred_at\":%NOW%}",
    [BASE_CP] = "{\"tenant_id\":\"%TENANT%\",\"occurred_at\":%NOW%,\"payload\":{\"MemberRemoved\":"
                "{\"member_id\":\"m-1\"}}}",
};

static json_t *parse_json(const char *text, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    cr_assert_not_null(j, "bad template (%s): %s", je.text, text);
    return j;
}

/* base with patch (a template of a JSON object merged over it) and without
 * the field drop (may be NULL). */
static char *patched(base_t base, const char *patch, const char *drop, size_t *len)
{
    size_t n;
    char *text = expand(base_template[base], &n);
    json_t *j = parse_json(text, n);
    free(text);
    if (patch) {
        text = expand(patch, &n);
        json_t *p = parse_json(text, n);
        free(text);
        cr_assert_eq(json_object_update(j, p), 0);
        json_decref(p);
    }
    if (drop)
        cr_assert_eq(json_object_del(j, drop), 0, "no field %s to drop", drop);
    char *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    *len = strlen(out);
    return out;
}

/* ---- bodies too big to write out ---------------------------------------- */

static char *nest_arrays(size_t *len)
{
    tally_textbuf_t b = {0};
    buf_fill(&b, '[', 10000);
    buf_fill(&b, ']', 10000);
    *len = b.len;
    return b.data;
}

static char *nest_objects(size_t *len)
{
    tally_textbuf_t b = {0};
    for (int i = 0; i < 10000; i++)
        tally_textbuf_puts(&b, "{\"a\":");
    tally_textbuf_puts(&b, "\"" MARK "\"");
    buf_fill(&b, '}', 10000);
    *len = b.len;
    return b.data;
}

/* A product event whose install_id is a string of 10 MB. */
static char *string_10mb(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"" MARK);
    buf_fill(&b, 'x', 10u << 20);
    tally_textbuf_puts(&b, "\"}");
    *len = b.len;
    return b.data;
}

static char *product_with_property(const char *key, size_t key_len, size_t value_len, size_t *len)
{
    tally_textbuf_t b = {0};
    char *head = expand("{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%NOW%,"
                        "\"install_id\":\"install-1\",\"properties\":{\"",
                        NULL);
    tally_textbuf_puts(&b, head);
    free(head);
    tally_textbuf_puts(&b, key);
    buf_fill(&b, 'k', key_len > strlen(key) ? key_len - strlen(key) : 0);
    tally_textbuf_puts(&b, "\":\"" MARK);
    buf_fill(&b, 'v', value_len);
    tally_textbuf_puts(&b, "\"}}");
    *len = b.len;
    return b.data;
}

/* properties.region of 100 KB (the gateway caps strings at 16 KiB). */
static char *property_100kb(size_t *len)
{
    return product_with_property("region", 0, 100 * 1024, len);
}

/* A map key of 300 bytes (the converter caps keys at 256). */
static char *property_key_300(size_t *len)
{
    return product_with_property(MARK, 300, 1, len);
}

static char *properties_1000_keys(size_t *len)
{
    tally_textbuf_t b = {0};
    char *head = expand("{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%NOW%,"
                        "\"install_id\":\"install-1\",\"properties\":{",
                        NULL);
    tally_textbuf_puts(&b, head);
    free(head);
    for (int i = 0; i < 1000; i++)
        tally_textbuf_printf(&b, "%s\"k%d\":\"" MARK "\"", i ? "," : "", i);
    tally_textbuf_puts(&b, "}}");
    *len = b.len;
    return b.data;
}

/* MAX_BATCH + 1 valid product events, as a JSON array or NDJSON: refused
 * as a whole, so none of them may be produced. */
static char *batch_over(int ndjson, size_t *len)
{
    tally_textbuf_t b = {0};
    size_t n;
    char *ev = patched(BASE_PRODUCT, NULL, NULL, &n);
    tally_textbuf_puts(&b, ndjson ? "" : "[");
    for (int i = 0; i <= MAX_BATCH; i++) {
        if (i)
            tally_textbuf_puts(&b, ndjson ? "\n" : ",");
        tally_textbuf_append(&b, ev, n);
    }
    tally_textbuf_puts(&b, ndjson ? "\n" : "]");
    free(ev);
    *len = b.len;
    return b.data;
}

static char *batch_over_array(size_t *len)
{
    return batch_over(0, len);
}

static char *batch_over_ndjson(size_t *len)
{
    return batch_over(1, len);
}

/* Gzip of n bytes made by fill (called for each block), streamed through
 * deflate so the plain text never exists in memory. */
static char *gzip_stream(size_t n, void (*fill)(char *block, size_t size, size_t offset), size_t *len)
{
    static char block[1 << 20];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    cr_assert_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    tally_textbuf_t out = {0};
    char chunk[1 << 16];
    size_t done = 0;
    int flush;
    do {
        size_t k = n - done < sizeof block ? n - done : sizeof block;
        fill(block, k, done);
        done += k;
        flush = done == n ? Z_FINISH : Z_NO_FLUSH;
        zs.next_in = (Bytef *)block;
        zs.avail_in = (uInt)k;
        do {
            zs.next_out = (Bytef *)chunk;
            zs.avail_out = sizeof chunk;
            int rc = deflate(&zs, flush);
            cr_assert(rc != Z_STREAM_ERROR);
            tally_textbuf_append(&out, chunk, sizeof chunk - zs.avail_out);
        } while (zs.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&zs);
    *len = out.len;
    return out.data;
}

static void fill_zeros(char *block, size_t size, size_t offset)
{
    (void)offset;
    memset(block, 0, size);
}

/* JSON text: {"install_id":"aaaa…"} of the requested size. */
static size_t json_bomb_size;
static void fill_json(char *block, size_t size, size_t offset)
{
    static const char head[] = "{\"install_id\":\"";
    memset(block, 'a', size);
    for (size_t i = 0; i < size; i++) {
        size_t at = offset + i;
        if (at < sizeof head - 1)
            block[i] = head[at];
        else if (at == json_bomb_size - 2)
            block[i] = '"';
        else if (at == json_bomb_size - 1)
            block[i] = '}';
    }
}

/* 1 GiB of zeros: about 1 MB compressed, just under --max-body. */
static char *gzip_bomb_1g(size_t *len)
{
    return gzip_stream((size_t)1 << 30, fill_zeros, len);
}

/* 9 MiB of JSON: a few KB compressed, inflating past --max-inflated. */
static char *gzip_bomb_9m(size_t *len)
{
    json_bomb_size = (size_t)9 << 20;
    return gzip_stream(json_bomb_size, fill_json, len);
}

static char *gzip_of(const char *text, size_t n, size_t *len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, n) + 16;
    char *out = xmalloc(cap);
    zs.next_in = (Bytef *)text;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* Gzip of a product event whose event name is not in the catalog: the body
 * inflates fine and the event is refused, so any gzip damage shows. */
static char *gzip_bad_event(size_t *len)
{
    size_t n;
    char *ev = patched(BASE_PRODUCT, "{\"event\":\"%MARK%\"}", NULL, &n);
    char *gz = gzip_of(ev, n, len);
    free(ev);
    return gz;
}

static char *gzip_truncated(size_t *len)
{
    char *gz = gzip_bad_event(len);
    *len /= 2;
    return gz;
}

static char *gzip_trailing_garbage(size_t *len)
{
    size_t n;
    char *gz = gzip_bad_event(&n);
    tally_textbuf_t b = {0};
    tally_textbuf_append(&b, gz, n);
    tally_textbuf_puts(&b, MARK);
    free(gz);
    *len = b.len;
    return b.data;
}

/* A gzip stream with one flipped byte in the middle (CRC or data error). */
static char *gzip_corrupt(size_t *len)
{
    char *gz = gzip_bad_event(len);
    gz[*len / 2] ^= 0x55;
    return gz;
}

/* A product event with a raw NUL byte inside a string. */
static char *raw_nul_byte(size_t *len)
{
    char *t = expand("{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%NOW%,"
                     "\"install_id\":\"a@%MARK%\"}",
                     len);
    *strchr(t, '@') = '\0';
    return t;
}

/* Control Panel license terms with 1000 features (arrays are capped at 256). */
static char *cp_features_1000(size_t *len)
{
    tally_textbuf_t b = {0};
    char *head = expand("{\"tenant_id\":\"%TENANT%\",\"occurred_at\":%NOW%,\"payload\":{\"LicenseTermsSet\":"
                        "{\"seats_max\":10,\"monthly_api_calls_max\":1000,\"daily_api_calls_max_nonprod\":10,"
                        "\"valid_from\":\"2026-01-01\",\"valid_until\":\"2027-01-01\",\"features\":[",
                        NULL);
    tally_textbuf_puts(&b, head);
    free(head);
    for (int i = 0; i < 1000; i++)
        tally_textbuf_printf(&b, "%s\"" MARK "-%d\"", i ? "," : "", i);
    tally_textbuf_puts(&b, "]}}}");
    *len = b.len;
    return b.data;
}

/* A Control Panel event whose tenant_id (1000 bytes) is longer than a
 * Kafka key the gateway builds from it. */
static char *cp_tenant_too_long(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "{\"tenant_id\":\"" MARK);
    buf_fill(&b, 't', 1000);
    char *tail = expand("\",\"occurred_at\":%NOW%,\"payload\":{\"MemberRemoved\":{\"member_id\":\"m-1\"}}}", NULL);
    tally_textbuf_puts(&b, tail);
    free(tail);
    *len = b.len;
    return b.data;
}

/* ---- the corpus sent through libcurl ------------------------------------ */

#define PRODUCT "/v1/product/events"
#define USAGE "/v1/usage/reports"
#define SEATS "/v1/usage/seats"
#define CP "/v1/controlpanel/events"
#define JSON "application/json"
#define NDJSON "application/x-ndjson"
#define BEARER_KEY "Bearer " TALLY_TEST_API_KEY
#define BEARER_ADMIN "Bearer " TALLY_TEST_ADMIN_TOKEN

typedef struct {
    const char *name;
    const char *method;      /* NULL: POST */
    const char *path;        /* a template */
    const char *ctype;       /* Content-Type (a template); NULL: none at all */
    const char *encoding;    /* Content-Encoding, NULL: none */
    const char *auth;        /* Authorization value (a template), NULL: none */
    base_t base;             /* BASE_NONE: body is the whole body (a template) */
    const char *body;        /* with a base: a patch over it */
    const char *drop;        /* with a base: a field to remove */
    char *(*build)(size_t *len); /* builds the body instead */
    long status;
    const char *error;       /* the answer's "error"; NULL: no JSON body (HEAD) */
    const char *detail;      /* a substring of its "detail" */
    size_t rejected;         /* a 422: how many events it names (0: any) */
} hostile_case_t;

static const hostile_case_t cases[] = {
    /* Not JSON, or JSON jansson cannot take: the body as a whole is 400. */
    {"invalid JSON: truncated", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"%MARK%", .status = 400, .error = "malformed body",
     .detail = "invalid JSON"},
    {"invalid JSON: bare words", .path = PRODUCT, .ctype = JSON, .body = "{source: %MARK%}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid JSON: trailing garbage", .path = PRODUCT, .ctype = JSON, .body = "{\"event\":\"x\"} %MARK%",
     .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"invalid JSON: two objects", .path = PRODUCT, .ctype = JSON, .body = "{}{}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid JSON: single quotes", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY,
     .body = "{'tenant_id':'%MARK%'}", .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8: 0xC3 0x28", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\xC3\x28%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8: overlong '/' (0xC0 0xAF)", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\xC0\xAF%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8: overlong 3 bytes (0xE0 0x80 0xAF)", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\xE0\x80\xAF%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8: encoded surrogate (0xED 0xA0 0x80)", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\xED\xA0\x80%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8: above U+10FFFF", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\xF4\x90\x80\x80%MARK%\"}",
     .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8 in a key", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"\xFF%MARK%\":1}", .status = 400, .error = "malformed body",
     .detail = "invalid JSON"},
    {"lone high surrogate \\ud800", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\\ud800%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"lone low surrogate \\udc00", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\\udc00%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"NUL escape \\u0000 in a string", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%NOW%,"
             "\"install_id\":\"a\\u0000%MARK%\"}",
     .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"raw NUL byte in a string", .path = PRODUCT, .ctype = JSON, .build = raw_nul_byte, .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"raw control character in a string", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"install_id\":\"\x01%MARK%\"}", .status = 400, .error = "malformed body",
     .detail = "invalid JSON"},
    {"byte order mark", .path = PRODUCT, .ctype = JSON, .body = "\xEF\xBB\xBF{\"source\":\"CLI\"}",
     .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"integer beyond 64 bits", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":123456789012345678901234567890,"
             "\"install_id\":\"i\"}",
     .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"nesting 10,000 arrays deep", .path = PRODUCT, .ctype = JSON, .build = nest_arrays, .status = 400,
     .error = "malformed body", .detail = "depth"},
    {"nesting 10,000 objects deep", .path = PRODUCT, .ctype = JSON, .build = nest_objects, .status = 400,
     .error = "malformed body", .detail = "depth"},
    {"empty body", .path = PRODUCT, .ctype = JSON, .body = "", .status = 400, .error = "malformed body",
     .detail = "empty body"},
    {"whitespace body", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .body = " \r\n\t\n ", .status = 400,
     .error = "malformed body", .detail = "empty body"},
    {"JSON string", .path = PRODUCT, .ctype = JSON, .body = "\"%MARK%\"", .status = 400,
     .error = "malformed body", .detail = "must be a JSON object"},
    {"JSON number", .path = PRODUCT, .ctype = JSON, .body = "7731", .status = 400, .error = "malformed body",
     .detail = "must be a JSON object"},
    {"JSON null", .path = SEATS, .ctype = JSON, .auth = BEARER_KEY, .body = "null", .status = 400,
     .error = "malformed body", .detail = "must be a JSON object"},
    {"JSON true (text/plain beacon)", .path = PRODUCT, .ctype = "text/plain;charset=UTF-8", .body = "true",
     .status = 400, .error = "malformed body", .detail = "must be a JSON object"},
    {"empty array", .path = PRODUCT, .ctype = JSON, .body = "[]", .status = 400, .error = "malformed body",
     .detail = "empty batch"},
    {"empty array (usage)", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .body = " [ ] ", .status = 400,
     .error = "malformed body", .detail = "empty batch"},

    /* Too large: 413. */
    {"string of 10 MB", .path = PRODUCT, .ctype = JSON, .build = string_10mb, .status = 413,
     .error = "body too large", .detail = "1048576"},
    {"gzip bomb: 1 GiB of zeros", .path = PRODUCT, .ctype = JSON, .encoding = "gzip", .build = gzip_bomb_1g,
     .status = 413, .error = "body too large", .detail = "8388608"},
    {"gzip bomb: 9 MiB of JSON under max-body", .path = PRODUCT, .ctype = JSON, .encoding = "gzip",
     .build = gzip_bomb_9m, .status = 413, .error = "body too large", .detail = "8388608"},
    {"batch over --max-batch", .path = PRODUCT, .ctype = JSON, .build = batch_over_array, .status = 413,
     .error = "batch too large", .detail = "50"},
    {"NDJSON over --max-batch", .path = PRODUCT, .ctype = NDJSON, .build = batch_over_ndjson, .status = 413,
     .error = "batch too large", .detail = "50"},

    /* Media types and encodings: 415. */
    {"text/html", .path = PRODUCT, .ctype = "text/html", .body = "<p>%MARK%</p>", .status = 415,
     .error = "unsupported media type", .detail = "Content-Type"},
    {"application/xml", .path = PRODUCT, .ctype = "application/xml", .body = "<event>%MARK%</event>",
     .status = 415, .error = "unsupported media type", .detail = "Content-Type"},
    {"multipart/form-data", .path = PRODUCT, .ctype = "multipart/form-data; boundary=xyz",
     .body = "--xyz\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n%MARK%\r\n--xyz--\r\n", .status = 415,
     .error = "unsupported media type", .detail = "Content-Type"},
    {"form-urlencoded", .path = USAGE, .ctype = "application/x-www-form-urlencoded", .auth = BEARER_KEY,
     .body = "tenant_id=%MARK%", .status = 415, .error = "unsupported media type", .detail = "Content-Type"},
    {"no Content-Type", .path = PRODUCT, .ctype = NULL, .body = "{\"event\":\"%MARK%\"}", .status = 415,
     .error = "unsupported media type", .detail = "Content-Type is required"},
    {"text/plain on the usage route", .path = USAGE, .ctype = "text/plain", .auth = BEARER_KEY,
     .base = BASE_USAGE, .status = 415, .error = "unsupported media type", .detail = "Content-Type"},
    {"text/plain on the Control Panel route", .path = CP, .ctype = "text/plain", .auth = BEARER_ADMIN,
     .base = BASE_CP, .status = 415, .error = "unsupported media type", .detail = "Content-Type"},
    {"charset other than UTF-8", .path = PRODUCT, .ctype = "application/json; charset=iso-8859-1",
     .body = "{\"install_id\":\"\xE9%MARK%\"}", .status = 415, .error = "unsupported media type",
     .detail = "charset"},
    {"a marker in the Content-Type", .path = PRODUCT, .ctype = "application/%MARK%", .body = "{}",
     .status = 415, .error = "unsupported media type", .detail = "Content-Type"},
    {"Content-Encoding: br", .path = PRODUCT, .ctype = JSON, .encoding = "br", .body = "\x1b\x01%MARK%",
     .status = 415, .error = "unsupported Content-Encoding", .detail = "gzip"},
    {"Content-Encoding: deflate", .path = USAGE, .ctype = JSON, .encoding = "deflate", .auth = BEARER_KEY,
     .body = "x\x9c%MARK%", .status = 415, .error = "unsupported Content-Encoding", .detail = "gzip"},
    {"Content-Encoding: gzip, gzip", .path = PRODUCT, .ctype = JSON, .encoding = "gzip, gzip",
     .build = gzip_bad_event, .status = 415, .error = "unsupported Content-Encoding", .detail = "gzip"},

    /* gzip that is not: 400. */
    {"gzip: not gzip at all", .path = PRODUCT, .ctype = JSON, .encoding = "gzip",
     .body = "{\"event\":\"%MARK%\"}", .status = 400, .error = "malformed body", .detail = "gzip"},
    {"gzip: empty", .path = PRODUCT, .ctype = JSON, .encoding = "gzip", .body = "", .status = 400,
     .error = "malformed body", .detail = "gzip"},
    {"gzip: truncated", .path = PRODUCT, .ctype = JSON, .encoding = "gzip", .build = gzip_truncated,
     .status = 400, .error = "malformed body", .detail = "gzip"},
    {"gzip: trailing garbage", .path = PRODUCT, .ctype = JSON, .encoding = "gzip",
     .build = gzip_trailing_garbage, .status = 400, .error = "malformed body", .detail = "gzip"},
    {"gzip: corrupt", .path = PRODUCT, .ctype = JSON, .encoding = "gzip", .build = gzip_corrupt,
     .status = 400, .error = "malformed body", .detail = "gzip"},
    {"gzip: well formed, bad event", .path = PRODUCT, .ctype = JSON, .encoding = "gzip",
     .build = gzip_bad_event, .status = 422, .error = "invalid events", .detail = "catalog"},

    /* Wrong types and schema violations: 422, the field named, the value not. */
    {"string for a long", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"api_calls\":\"%MARK%\"}", .status = 422, .error = "invalid events", .detail = "api_calls"},
    {"float for a long", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"seq\":1.5}", .status = 422, .error = "invalid events", .detail = "seq"},
    {"boolean for a long", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"exec_ms\":true}", .status = 422, .error = "invalid events", .detail = "exec_ms"},
    {"number for a string", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"install_id\":7731}", .status = 422, .error = "invalid events", .detail = "install_id"},
    {"object for an enum", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"source\":{\"%MARK%\":\"CLI\"}}", .status = 422, .error = "invalid events", .detail = "source"},
    {"array for a map", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"properties\":[\"%MARK%\"]}", .status = 422, .error = "invalid events", .detail = "properties"},
    {"number as a map value", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"properties\":{\"region\":7731}}", .status = 422, .error = "invalid events",
     .detail = "properties"},
    {"string for a boolean", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT, .body = "{\"ci\":\"%MARK%\"}",
     .status = 422, .error = "invalid events", .detail = "ci"},
    {"string for a timestamp", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"occurred_at\":\"%MARK%\"}", .status = 422, .error = "invalid events", .detail = "occurred_at"},
    {"object for a record union", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN, .base = BASE_CP,
     .body = "{\"payload\":{\"MemberRemoved\":{\"member_id\":\"m\"},\"TenantRegistered\":{\"name\":\"%MARK%\"}}}",
     .status = 422, .error = "invalid events", .detail = "payload"},
    {"unknown union branch", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN, .base = BASE_CP,
     .body = "{\"payload\":{\"%MARK%\":{}}}", .status = 422, .error = "invalid events", .detail = "payload"},
    {"unknown event name", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"event\":\"%MARK%.start\"}", .status = 422, .error = "invalid events", .detail = "catalog"},
    {"event of another source", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"source\":\"ADMIN\"}", .status = 422, .error = "invalid events", .detail = "source"},
    {"missing required field", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT, .drop = "install_id",
     .status = 422, .error = "invalid events", .detail = "install_id: required field is missing"},
    {"missing required field (usage)", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .drop = "api_calls", .status = 422, .error = "invalid events", .detail = "api_calls"},
    {"unknown field", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT, .body = "{\"%MARK%\":\"x\"}",
     .status = 422, .error = "invalid events", .detail = "unknown field"},
    /* Duplicate keys: the body is well-formed JSON (RFC 8259 leaves names
     * unique only as a SHOULD), so the event alone is refused while it is
     * converted, never produced; with jansson the whole body was a 400. */
    {"duplicate keys", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%NOW%,\"install_id\":\"i\","
             "\"install_id\":\"%MARK%\"}",
     .status = 422, .error = "invalid events", .detail = "duplicate field \"install_id\""},
    {"duplicate map key", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%NOW%,\"install_id\":\"i\","
             "\"properties\":{\"region\":\"eu\",\"region\":\"%MARK%\"}}",
     .status = 422, .error = "invalid events", .detail = "properties.region: duplicate map key"},
    {"duplicate tenant_id, own then another", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY,
     .body = "{\"tenant_id\":\"%TENANT%\",\"environment_id\":\"%ENV%\","
             "\"reporter_id\":\"2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d\",\"reporter_started_at\":%STARTED%,"
             "\"seq\":1,\"observed_at\":%NOW%,\"api_calls\":10,\"status_4xx\":0,\"status_5xx\":0,\"exec_ms\":1,"
             "\"tenant_id\":\"tenant-%MARK%\"}",
     .status = 422, .error = "invalid events", .detail = "duplicate field \"tenant_id\""},
    {"duplicate tenant_id, another then own", .path = SEATS, .ctype = JSON, .auth = BEARER_KEY,
     .body = "{\"tenant_id\":\"tenant-%MARK%\",\"user_id\":\"user-1\",\"op\":\"ASSIGNED\",\"occurred_at\":%NOW%,"
             "\"tenant_id\":\"%TENANT%\"}",
     .status = 403, .error = "forbidden", .detail = "another tenant"},
    {"enum symbol not in the schema", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"source\":\"%MARK%\"}", .status = 422, .error = "invalid events", .detail = "source"},
    {"enum symbol in the wrong case", .path = SEATS, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_SEAT,
     .body = "{\"op\":\"assigned\"}", .status = 422, .error = "invalid events", .detail = "op"},
    {"bad UUID", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT, .body = "{\"event_id\":\"%MARK%\"}",
     .status = 422, .error = "invalid events", .detail = "event_id"},
    {"UUID without dashes", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"reporter_id\":\"2f1c9a4e8b7d4c3a9e215d6f7a8b9c0d\"}", .status = 422, .error = "invalid events",
     .detail = "reporter_id"},
    {"property value of 100 KB", .path = PRODUCT, .ctype = JSON, .build = property_100kb, .status = 422,
     .error = "invalid events", .detail = "16384"},
    {"properties with 1000 keys", .path = PRODUCT, .ctype = JSON, .build = properties_1000_keys,
     .status = 422, .error = "invalid events", .detail = "properties"},
    {"property key of 300 bytes", .path = PRODUCT, .ctype = JSON, .build = property_key_300, .status = 422,
     .error = "invalid events", .detail = "properties"},
    {"array of 1000 items", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN, .build = cp_features_1000,
     .status = 422, .error = "invalid events", .detail = "features"},
    {"tenant_id too long for a key", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN,
     .build = cp_tenant_too_long, .status = 422, .error = "invalid events", .detail = "tenant_id"},
    {"date out of range", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN, .base = BASE_CP,
     .body = "{\"payload\":{\"LicenseTermsSet\":{\"seats_max\":1,\"monthly_api_calls_max\":1,"
             "\"daily_api_calls_max_nonprod\":1,\"valid_from\":\"99999-01-01\",\"valid_until\":\"2027-01-01\"}}}",
     .status = 422, .error = "invalid events", .detail = "valid_from"},

    /* Rules beyond the schema: 422. */
    {"negative counter", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"api_calls\":-1,\"status_4xx\":0,\"status_5xx\":0}", .status = 422, .error = "invalid events",
     .detail = "api_calls"},
    {"negative seq", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE, .body = "{\"seq\":-7731}",
     .status = 422, .error = "invalid events", .detail = "seq"},
    {"status_4xx > api_calls", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"api_calls\":10,\"status_4xx\":11,\"status_5xx\":0}", .status = 422, .error = "invalid events",
     .detail = "status_4xx"},
    {"status_4xx + status_5xx > api_calls", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY,
     .base = BASE_USAGE, .body = "{\"api_calls\":10,\"status_4xx\":6,\"status_5xx\":5}", .status = 422,
     .error = "invalid events", .detail = "api_calls"},
    {"reporter started after it observed", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"reporter_started_at\":%NOW%,\"observed_at\":%STARTED%}", .status = 422,
     .error = "invalid events", .detail = "reporter_started_at"},
    {"timestamp 10 years in the future", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"occurred_at\":%FUTURE%}", .status = 422, .error = "invalid events", .detail = "future"},
    {"timestamp 10 years in the past", .path = SEATS, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_SEAT,
     .body = "{\"occurred_at\":%PAST%}", .status = 422, .error = "invalid events", .detail = "older"},
    {"observed_at in the future", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"observed_at\":%FUTURE%}", .status = 422, .error = "invalid events", .detail = "observed_at"},
    {"timestamp in year 9999", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN, .base = BASE_CP,
     .body = "{\"occurred_at\":\"9999-12-31T23:59:59Z\"}", .status = 422, .error = "invalid events",
     .detail = "occurred_at"},
    {"epoch seconds instead of ms", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"occurred_at\":%SECS%}", .status = 422, .error = "invalid events", .detail = "occurred_at"},
    {"epoch microseconds instead of ms", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"observed_at\":%MICROS%}", .status = 422, .error = "invalid events", .detail = "observed_at"},
    {"negative timestamp", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT, .body = "{\"occurred_at\":-1}",
     .status = 422, .error = "invalid events", .detail = "occurred_at"},

    /* Batches where every event is bad: 422, each one named. */
    {"NDJSON with every line bad", .path = PRODUCT, .ctype = NDJSON,
     .body = "{\"source\":\"%MARK%\n7731\n\"%MARK%\"\n[]\n{\"a\":1,\"a\":\"%MARK%\"}\n"
             "{\"x\":\"\\u0000%MARK%\"}\n{\"source\":\"CLI\",\"event\":\"%MARK%\",\"occurred_at\":%NOW%,"
             "\"install_id\":\"i\"}\n",
     .status = 422, .error = "invalid events", .detail = "invalid JSON", .rejected = 7},
    {"array with every element bad", .path = PRODUCT, .ctype = JSON,
     .body = "[7731, \"%MARK%\", null, [], {}, {\"source\":\"CLI\",\"event\":\"%MARK%\",\"occurred_at\":%NOW%,"
             "\"install_id\":\"i\"}]",
     .status = 422, .error = "invalid events", .detail = "must be a JSON object", .rejected = 6},

    /* Credentials and scope: 401, 403. */
    {"usage report without Authorization", .path = USAGE, .ctype = JSON, .base = BASE_USAGE, .status = 401,
     .error = "unauthorized", .detail = "missing"},
    {"usage report with Basic auth", .path = USAGE, .ctype = JSON, .auth = "Basic dXNlcjpTRUNSRVQtTUFSS0VSLTc3MzE=",
     .base = BASE_USAGE, .status = 401, .error = "unauthorized"},
    {"usage report with an unknown key", .path = USAGE, .ctype = JSON, .auth = "Bearer tk_live_%MARK%",
     .base = BASE_USAGE, .status = 401, .error = "unauthorized", .detail = "unknown"},
    {"usage report with an empty bearer", .path = USAGE, .ctype = JSON, .auth = "Bearer ", .base = BASE_USAGE,
     .status = 401, .error = "unauthorized"},
    {"usage report with two tokens", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY " %MARK%",
     .base = BASE_USAGE, .status = 401, .error = "unauthorized"},
    {"seats without Authorization", .path = SEATS, .ctype = JSON, .base = BASE_SEAT, .status = 401,
     .error = "unauthorized"},
    {"usage report for another tenant", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"tenant_id\":\"tenant-%MARK%\"}", .status = 403, .error = "forbidden", .detail = "another tenant"},
    {"usage report for another environment", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY,
     .base = BASE_USAGE, .body = "{\"environment_id\":\"env-%MARK%\"}", .status = 403, .error = "forbidden",
     .detail = "environment"},
    {"usage batch: own tenant, then another", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY,
     .body = "[{\"tenant_id\":\"%TENANT%\",\"environment_id\":\"%ENV%\","
             "\"reporter_id\":\"2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d\",\"reporter_started_at\":%STARTED%,"
             "\"seq\":1,\"observed_at\":%NOW%,\"api_calls\":10,\"status_4xx\":0,\"status_5xx\":0,\"exec_ms\":1},"
             "{\"tenant_id\":\"tenant-%MARK%\",\"environment_id\":\"%ENV%\","
             "\"reporter_id\":\"2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d\",\"reporter_started_at\":%STARTED%,"
             "\"seq\":1,\"observed_at\":%NOW%,\"api_calls\":10,\"status_4xx\":0,\"status_5xx\":0,\"exec_ms\":1}]",
     .status = 403, .error = "forbidden", .detail = "event 1"},
    {"seat event for another tenant", .path = SEATS, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_SEAT,
     .body = "{\"tenant_id\":\"%MARK%\"}", .status = 403, .error = "forbidden", .detail = "another tenant"},
    {"usage report without tenant_id", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .drop = "tenant_id", .status = 403, .error = "forbidden"},
    {"Control Panel without token", .path = CP, .ctype = JSON, .base = BASE_CP, .status = 401,
     .error = "unauthorized", .detail = "admin token"},
    {"Control Panel with a wrong token", .path = CP, .ctype = JSON, .auth = "Bearer %MARK%", .base = BASE_CP,
     .status = 401, .error = "unauthorized", .detail = "admin token"},
    {"Control Panel with the admin token and more", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN "x",
     .base = BASE_CP, .status = 401, .error = "unauthorized", .detail = "admin token"},
    {"Control Panel with two tokens", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN " %MARK%", .base = BASE_CP,
     .status = 401, .error = "unauthorized", .detail = "malformed"},
    {"usage report with the admin token", .path = USAGE, .ctype = JSON, .auth = BEARER_ADMIN, .base = BASE_USAGE,
     .status = 403, .error = "forbidden", .detail = "admin token"},
    {"Control Panel with an API key", .path = CP, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_CP,
     .status = 403, .error = "forbidden"},
    {"Control Panel with Basic auth", .path = CP, .ctype = JSON, .auth = "Basic YWRtaW46YWRtaW4=",
     .base = BASE_CP, .status = 401, .error = "unauthorized"},

    /* Routes and methods: 404, 405. */
    {"GET on a POST route", .method = "GET", .path = PRODUCT, .status = 405, .error = "method not allowed",
     .detail = "POST"},
    {"GET on the usage route", .method = "GET", .path = USAGE, .auth = BEARER_KEY, .status = 405,
     .error = "method not allowed", .detail = "POST"},
    {"HEAD on a POST route", .method = "HEAD", .path = SEATS, .status = 405},
    {"DELETE on the product route", .method = "DELETE", .path = PRODUCT, .status = 405,
     .error = "method not allowed", .detail = "POST"},
    {"PUT with a body", .method = "PUT", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .status = 405, .error = "method not allowed", .detail = "POST"},
    {"PATCH on the Control Panel route", .method = "PATCH", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN,
     .base = BASE_CP, .status = 405, .error = "method not allowed", .detail = "POST"},
    {"OPTIONS on the usage route", .method = "OPTIONS", .path = USAGE, .status = 405,
     .error = "method not allowed"},
    {"POST on /healthz", .path = "/healthz", .ctype = JSON, .body = "{}", .status = 405,
     .error = "method not allowed", .detail = "GET"},
    {"DELETE on /metrics", .method = "DELETE", .path = "/metrics", .status = 405, .error = "method not allowed",
     .detail = "GET"},
    {"POST to an unknown path", .path = "/v1/%MARK%", .ctype = JSON, .base = BASE_PRODUCT, .status = 404,
     .error = "not found"},
    {"POST with a trailing slash", .path = PRODUCT "/", .ctype = JSON, .base = BASE_PRODUCT, .status = 404,
     .error = "not found"},
    {"POST to an upper-case path", .path = "/V1/PRODUCT/EVENTS", .ctype = JSON, .base = BASE_PRODUCT,
     .status = 404, .error = "not found"},
    {"GET on an unknown path", .method = "GET", .path = "/admin/%MARK%", .status = 404, .error = "not found"},
};

/* Fails the case unless text (len bytes) holds none of what must never be
 * echoed: the marker, a key, the admin token, the client address. */
static void expect_no_secret(const char *what, const char *text)
{
    const char *secrets[] = {MARK, TALLY_TEST_API_KEY, TALLY_TEST_API_KEY_STAGING, TALLY_TEST_ADMIN_TOKEN,
                             "127.0.0.1"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        cr_expect_null(strstr(text, secrets[i]), "%s: the answer echoes %s: %s", what, secrets[i], text);
}

/* Checks a JSON error answer: the status, {"error":…,"detail":…}, no echo. */
static void expect_error_body(const char *what, long status, const char *body, const char *ctype, long want,
                              const char *error, const char *detail, size_t rejected)
{
    cr_expect_eq(status, want, "%s: status %ld, want %ld: %s", what, status, want, body);
    expect_no_secret(what, body);
    if (error == NULL)
        return;
    cr_expect(ctype && strncasecmp(ctype, "application/json", 16) == 0, "%s: Content-Type %s", what,
              ctype ? ctype : "(none)");
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    cr_expect_not_null(j, "%s: the answer is not JSON: %s", what, body);
    if (j == NULL)
        return;
    const char *e = json_string_value(json_object_get(j, "error"));
    const char *d = json_string_value(json_object_get(j, "detail"));
    cr_expect(e && strcmp(e, error) == 0, "%s: error \"%s\", want \"%s\"", what, e ? e : "(none)", error);
    cr_expect(d && *d, "%s: no detail: %s", what, body);
    if (detail)
        cr_expect(d && strstr(d, detail), "%s: detail \"%s\" does not mention \"%s\"", what, d ? d : "", detail);
    if (want == 422) {
        /* A refused batch says what was accepted (nothing) and why each one failed. */
        cr_expect_eq(json_integer_value(json_object_get(j, "accepted")), 0, "%s: %s", what, body);
        json_t *rej = json_object_get(j, "rejected");
        cr_expect(json_array_size(rej) >= 1, "%s: %s", what, body);
        if (rejected)
            cr_expect_eq(json_array_size(rej), rejected, "%s: %s", what, body);
        size_t i;
        json_t *it;
        json_array_foreach(rej, i, it) {
            cr_expect_eq(json_integer_value(json_object_get(it, "index")), (json_int_t)i, "%s: %s", what, body);
            cr_expect(json_is_string(json_object_get(it, "error")), "%s: %s", what, body);
        }
    }
    json_decref(j);
}

static void run_case(const hostile_case_t *c)
{
    size_t len = 0;
    char *body = NULL;
    if (c->build)
        body = c->build(&len);
    else if (c->base != BASE_NONE)
        body = patched(c->base, c->body, c->drop, &len);
    else if (c->body)
        body = expand(c->body, &len);

    char url[256], ct[256], enc[128], auth[512];
    char *path = expand(c->path, NULL);
    snprintf(url, sizeof url, "%s%s", gw.base_url, path);
    free(path);
    const char *headers[4] = {NULL};
    int h = 0;
    if (c->ctype) {
        char *v = expand(c->ctype, NULL);
        snprintf(ct, sizeof ct, "Content-Type: %s", v);
        free(v);
    } else {
        snprintf(ct, sizeof ct, "Content-Type:"); /* no Content-Type at all, not curl's default */
    }
    headers[h++] = ct;
    if (c->encoding) {
        snprintf(enc, sizeof enc, "Content-Encoding: %s", c->encoding);
        headers[h++] = enc;
    }
    if (c->auth) {
        char *v = expand(c->auth, NULL);
        snprintf(auth, sizeof auth, "Authorization: %s", v);
        free(v);
        headers[h++] = auth;
    }
    tally_test_response_t r = tally_test_http(c->method ? c->method : "POST", url, headers, body, len, 1);
    cr_expect_neq(r.status, 0, "%s: no answer (connection failed or closed)", c->name);
    if (r.status != 0)
        expect_error_body(c->name, r.status, r.body, tally_test_header(&r, "Content-Type"), c->status, c->error,
                          c->detail, c->rejected);
    if (r.status == 401) {
        const char *www = tally_test_header(&r, "WWW-Authenticate");
        cr_expect(www && strncmp(www, "Bearer", 6) == 0, "%s: a 401 carries WWW-Authenticate: Bearer (%s)", c->name,
                  www ? www : "none");
    }
    if (r.status == 405 && r.headers) {
        const char *allow = tally_test_header(&r, "Allow");
        int get_route = strcmp(c->path, "/healthz") == 0 || strcmp(c->path, "/metrics") == 0;
        cr_expect(allow && strstr(allow, get_route ? "GET" : "POST"), "%s: a 405 names the allowed methods (Allow: %s)",
                  c->name, allow ? allow : "(none)");
    }
    tally_test_response_free(&r);
    free(body);
}

/* ---- raw sockets: what libcurl will not send ----------------------------- */

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)gw_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect: %s", strerror(errno));
    return fd;
}

/* Sends what it can; the server may close early (that is a valid answer). */
static void raw_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

typedef struct {
    int status;      /* of the first response; 0: none */
    int closed;      /* the server closed (or reset) the connection */
    char *text;      /* everything read, NUL-terminated */
    size_t len;
    const char *body;/* the first response's body in text */
} raw_answer_t;

/* Reads one response (headers and Content-Length bytes of body) or until
 * the server closes, or timeout_ms pass. */
static raw_answer_t raw_read(int fd, int timeout_ms)
{
    raw_answer_t a = {0};
    tally_textbuf_t b = {0};
    tally_textbuf_append(&b, "", 0);
    long long deadline = tally_test_mono_ms() + timeout_ms;
    for (;;) {
        const char *end = strstr(b.data, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr(b.data, "\r\nContent-Length:");
            size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            if (b.len >= (size_t)(end + 4 - b.data) + want)
                break;
        }
        long long left = deadline - tally_test_mono_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            a.closed = 1;
            break;
        }
        tally_textbuf_append(&b, tmp, (size_t)n);
    }
    a.text = b.data;
    a.len = b.len;
    if (strncmp(a.text, "HTTP/1.", 7) == 0 && a.len > 12)
        a.status = atoi(a.text + 9);
    const char *end = strstr(a.text, "\r\n\r\n");
    a.body = end ? end + 4 : "";
    return a;
}

/* Whether the server closes fd within timeout_ms (reading and dropping
 * anything else it sends). */
static int raw_closed_within(int fd, int timeout_ms)
{
    long long deadline = tally_test_mono_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - tally_test_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        char tmp[4096];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            return 1;
    }
}

static void expect_healthy(const char *after)
{
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", gw.base_url);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 1);
    cr_expect_eq(r.status, 200, "the gateway is not healthy after %s", after);
    tally_test_response_free(&r);
}

typedef struct {
    const char *name;
    char *(*build)(size_t *len); /* the request, or NULL with text */
    const char *text;            /* the request (a template) */
    int statuses[4];             /* acceptable statuses, 0-terminated; -1: closed without an answer */
    const char *error;           /* the gateway's own JSON answer: its "error"; NULL: MHD's own answer */
    int must_close;              /* the connection must be closed after the answer */
} raw_case_t;

static char *header_flood(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
    for (int i = 0; i < 500; i++)
        tally_textbuf_printf(&b, "X-Flood-%d: %s\r\n", i, MARK "-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    tally_textbuf_puts(&b, "Content-Length: 2\r\n\r\n{}");
    *len = b.len;
    return b.data;
}

static char *header_100kb(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Big: " MARK);
    buf_fill(&b, 'h', 100 * 1024);
    tally_textbuf_puts(&b, "\r\nContent-Length: 2\r\n\r\n{}");
    *len = b.len;
    return b.data;
}

static char *request_line_100kb(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST /v1/product/events?" MARK);
    buf_fill(&b, 'q', 100 * 1024);
    tally_textbuf_puts(&b, " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    *len = b.len;
    return b.data;
}

static char *cookie_flood(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
    for (int i = 0; i < 2000; i++)
        tally_textbuf_printf(&b, "Cookie: c%d=" MARK "\r\n", i);
    tally_textbuf_puts(&b, "Content-Length: 2\r\n\r\n{}");
    *len = b.len;
    return b.data;
}

/* A chunked body of 2 MiB (over --max-body, and no Content-Length to refuse
 * it early). */
static char *chunked_2mib(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 512; i++) {
        tally_textbuf_puts(&b, "1000\r\n");
        buf_fill(&b, ' ', 0x1000);
        tally_textbuf_puts(&b, "\r\n");
    }
    tally_textbuf_puts(&b, "0\r\n\r\n");
    *len = b.len;
    return b.data;
}

/* The start of a TLS ClientHello, NUL bytes included, then CRLFs. */
static char *tls_hello(size_t *len)
{
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x00};
    tally_textbuf_t b = {0};
    tally_textbuf_append(&b, hello, sizeof hello);
    tally_textbuf_puts(&b, MARK "\r\n\r\n");
    *len = b.len;
    return b.data;
}

/* The API key, a NUL byte, then more: the header value is not a key. */
static char *nul_in_authorization(size_t *len)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "POST " USAGE " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Authorization: Bearer " TALLY_TEST_API_KEY);
    tally_textbuf_append(&b, "", 1);
    tally_textbuf_puts(&b, MARK "\r\nContent-Length: 2\r\n\r\n{}");
    *len = b.len;
    return b.data;
}

#define RAW_POST(headers, body)                                                                                 \
    "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" headers "\r\n" body

static const raw_case_t raw_cases[] = {
    {"header flood: 500 headers", .build = header_flood, .statuses = {431, 413, -1}, .must_close = 1},
    {"one header of 100 KB", .build = header_100kb, .statuses = {431, 413, -1}, .must_close = 1},
    {"2000 Cookie headers", .build = cookie_flood, .statuses = {431, 413, -1}, .must_close = 1},
    {"request line of 100 KB", .build = request_line_100kb, .statuses = {414, 431, 413, -1}, .must_close = 1},
    {"HTTP/0.9 request", .text = "GET /healthz\r\n\r\n", .statuses = {400, -1}, .must_close = 1},
    {"binary garbage (a TLS hello)", .build = tls_hello, .statuses = {400, -1}, .must_close = 1},
    {"unsupported HTTP version",
     .text = "POST " PRODUCT " HTTP/3.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
     .statuses = {505, -1}, .must_close = 1},
    {"HTTP/1.1 without Host",
     .text = "POST " PRODUCT " HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
     .statuses = {400, -1}, .must_close = 1},
    {"bad chunk size", .text = RAW_POST("Transfer-Encoding: chunked\r\n", "zz\r\n%MARK%\r\n0\r\n\r\n"),
     .statuses = {400, -1}, .must_close = 1},
    {"chunk size overflowing 64 bits", .text = RAW_POST("Transfer-Encoding: chunked\r\n",
                                                        "ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"),
     .statuses = {400, 413, -1}, .must_close = 1},
    {"Content-Length and Transfer-Encoding", .text = RAW_POST("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                                                              "0\r\n\r\n"),
     .statuses = {400}, .error = "malformed request", .must_close = 1},
    {"GET with Content-Length and Transfer-Encoding",
     .text = "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
             "0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
     .statuses = {400}, .error = "malformed request", .must_close = 1},
    {"two different Content-Lengths", .text = RAW_POST("Content-Length: 2\r\nContent-Length: 40\r\n",
                                                       "{}{\"source\":\"CLI\",\"event\":\"%MARK%\"}"),
     .statuses = {400}, .error = "malformed request", .must_close = 1},
    {"Transfer-Encoding other than chunked", .text = RAW_POST("Transfer-Encoding: gzip, chunked\r\n",
                                                              "2\r\n{}\r\n0\r\n\r\n"),
     .statuses = {400}, .error = "malformed request", .must_close = 1},
    {"Transfer-Encoding twice", .text = RAW_POST("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                                                 "2\r\n{}\r\n0\r\n\r\n"),
     .statuses = {400}, .error = "malformed request", .must_close = 1},
    {"negative Content-Length", .text = RAW_POST("Content-Length: -1\r\n", "{}"), .statuses = {400, -1},
     .must_close = 1},
    {"Content-Length not a number", .text = RAW_POST("Content-Length: 2x\r\n", "{}"), .statuses = {400, -1},
     .must_close = 1},
    {"Content-Length above --max-body, no body sent", .text = RAW_POST("Content-Length: 2000000\r\n", ""),
     .statuses = {413}, .error = "body too large", .must_close = 1},
    {"Content-Length of 2^64+", .text = RAW_POST("Content-Length: 99999999999999999999999\r\n", ""),
     .statuses = {413, 400, -1}, .must_close = 1},
    {"Expect: 100-continue above --max-body",
     .text = RAW_POST("Expect: 100-continue\r\nContent-Length: 2000000\r\n", ""), .statuses = {413},
     .error = "body too large", .must_close = 1},
    {"chunked body over --max-body", .build = chunked_2mib, .statuses = {413}, .error = "body too large"},
    /* RFC 9110: a NUL in a field value is refused (or read as a space, which
     * makes two tokens: 401). libmicrohttpd up to 0.9.75 cuts the value at
     * the NUL and gives no way to see past it, so the gateway sees the bare
     * key: then the body's missing tenant is refused (403), and nothing is
     * produced either way. */
#if MHD_VERSION <= 0x00097500
    {"NUL in the Authorization header", .build = nul_in_authorization, .statuses = {401, 400, -1, 403},
     .error = NULL},
#else
    {"NUL in the Authorization header", .build = nul_in_authorization, .statuses = {401, 400, -1}},
#endif
    {"dot segments in the path",
     .text = "POST /v1/usage/../product/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: 2\r\n\r\n{}",
     .statuses = {404}, .error = "not found"},
    {"absolute-form target",
     .text = "POST http://%MARK%" PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: 2\r\n\r\n{}",
     .statuses = {404, 400}},
};

static void run_raw_case(const raw_case_t *c)
{
    size_t len;
    char *req = c->build ? c->build(&len) : expand(c->text, &len);
    int fd = raw_connect();
    raw_send(fd, req, len);
    /* Under the idle timeout: an answer that needs the timeout is no answer. */
    raw_answer_t a = raw_read(fd, (TIMEOUT_S * 1000) - 500);
    int ok = 0;
    for (int i = 0; i < 4 && c->statuses[i]; i++)
        if (c->statuses[i] == a.status || (c->statuses[i] == -1 && a.status == 0 && a.closed))
            ok = 1;
    cr_expect(ok, "%s: status %d (closed: %d): %.300s", c->name, a.status, a.closed, a.text);
    expect_no_secret(c->name, a.text);
    if (c->error && a.status != 0) {
        const char *ct = strcasestr(a.text, "\r\nContent-Type:");
        char ctype[64] = "";
        if (ct)
            sscanf(ct + 15, " %63[^\r\n]", ctype);
        expect_error_body(c->name, a.status, a.body, ctype, a.status, c->error, NULL, 0);
    }
    if (c->must_close && !a.closed)
        cr_expect(raw_closed_within(fd, 1000), "%s: the connection stays open after the answer", c->name);
    close(fd);
    free(a.text);
    free(req);
    expect_healthy(c->name);
}

/* A partial request line and header: the gateway goes on serving others, and
 * cuts the slow one off after --timeout. */
static void slow_loris(void)
{
    int fds[8];
    long long start = tally_test_mono_ms();
    for (int i = 0; i < 8; i++) {
        fds[i] = raw_connect();
        const char *partial = "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nX-Slow: " MARK;
        raw_send(fds[i], partial, strlen(partial));
    }
    for (int i = 0; i < 5; i++)
        expect_healthy("a slow client opened its connections");
    for (int i = 0; i < 8; i++) {
        cr_expect(raw_closed_within(fds[i], TIMEOUT_S * 1000 + 4000), "slow loris %d: still open after %lld ms", i,
                  tally_test_mono_ms() - start);
        close(fds[i]);
    }
    long long took = tally_test_mono_ms() - start;
    cr_expect(took >= TIMEOUT_S * 1000 - 500, "slow connections cut after %lld ms, before --timeout", took);
    cr_expect(took <= TIMEOUT_S * 1000 + 4000, "slow connections cut after %lld ms", took);

    /* A request whose body stops half way is cut off too, and answered nothing. */
    int fd = raw_connect();
    const char *half = "POST " PRODUCT " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100\r\n\r\n{\"source\":\"" MARK;
    raw_send(fd, half, strlen(half));
    start = tally_test_mono_ms();
    raw_answer_t a = raw_read(fd, TIMEOUT_S * 1000 + 4000);
    cr_expect(a.closed && a.status == 0, "half a body: status %d, closed %d after %lld ms", a.status, a.closed,
              tally_test_mono_ms() - start);
    close(fd);
    free(a.text);
    expect_healthy("slow clients");
}

/* ---- the end: nothing produced, nothing leaked ---------------------------- */

static void expect_topic_empty(const char *topic)
{
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(topic, 0, 3000, 15000, &recs);
    cr_expect_eq(n, 0, "%zu record(s) reached %s", n, topic);
    tally_test_records_free(recs, n);
}

static void expect_clean_log(const char *log)
{
    const char *secrets[] = {MARK, TALLY_TEST_API_KEY, TALLY_TEST_API_KEY_STAGING, TALLY_TEST_ADMIN_TOKEN,
                             "AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        cr_expect_null(strstr(log, secrets[i]), "the gateway log holds \"%s\":\n%s", secrets[i], log);
    /* The client address: only the gateway's own listen line (and the
     * broker's address, which is no client's) may mention 127.0.0.1. */
    char listen[64], broker[128];
    snprintf(listen, sizeof listen, "listening on 127.0.0.1:%d,", gw_port);
    snprintf(broker, sizeof broker, "%s", tally_test_brokers());
    int listen_lines = 0;
    for (const char *line = log; *line;) {
        size_t n = strcspn(line, "\n");
        char *copy = strndup(line, n);
        if (strstr(copy, listen)) {
            listen_lines++;
        } else {
            for (char *at = strstr(copy, "127.0.0.1"); at; at = strstr(at + 1, "127.0.0.1"))
                cr_expect(strncmp(at, broker, strlen(broker)) == 0, "a client address in the log: %s", copy);
        }
        free(copy);
        line += n + (line[n] == '\n');
    }
    cr_expect_eq(listen_lines, 1, "the listen line appears %d times", listen_lines);
}

Test(gateway_hostile, corpus_is_refused_and_nothing_is_produced)
{
    /* The corpus's many 401s from one address would hit the limit of
     * failed authentications (test_gateway_auth tests it). */
    const char *args[] = {"--timeout=2s", "--max-batch=50", "--rate=100000", "--burst=100000",
                          "--auth-failures=100000", NULL};
    tally_test_gateway_start(&gw, args);
    gw_port = atoi(strrchr(gw.base_url, ':') + 1);
    cr_assert_gt(sizeof cases / sizeof cases[0] + sizeof raw_cases / sizeof raw_cases[0], 40);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    expect_healthy("the corpus");
    for (size_t i = 0; i < sizeof raw_cases / sizeof raw_cases[0]; i++)
        run_raw_case(&raw_cases[i]);
    slow_loris();

    /* The metrics agree: nothing accepted on any route. */
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", gw.base_url);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_expect_eq(r.status, 200);
    for (const char *p = r.body; (p = strstr(p, "tally_gateway_events_accepted_total{")) != NULL; p++)
        cr_expect_eq(atoi(strchr(p, '}') + 2), 0, "accepted: %.80s", p);
    tally_test_response_free(&r);

    /* Stop it cleanly: it flushes its producer, so whatever it accepted is
     * in the topics now, and a sanitizer's leak report comes at exit. */
    tally_test_signal(gw.proc, SIGTERM);
    int status = tally_test_wait(gw.proc, 30000);
    cr_expect_eq(status, 0, "the gateway exited with %d", status);
    expect_topic_empty(gw.product_topic);
    expect_topic_empty(gw.usage_topic);
    expect_topic_empty(gw.controlpanel_topic);
    expect_clean_log(tally_test_log(gw.proc)); /* the fixture's reader had seconds to drain the pipe */
    tally_test_gateway_stop(&gw);
}

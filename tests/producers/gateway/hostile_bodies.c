/* The bodies of the hostile corpus (hostile_bodies.h). */
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

#include "hostile_bodies.h"
#include "hostile_fixture.h"

/* ---- valid events, to be broken in exactly one way ---------------------- */

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

char *patched(base_t base, const char *patch, const char *drop, size_t *len)
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

char *nest_arrays(size_t *len)
{
    tally_textbuf_t b = {0};
    buf_fill(&b, '[', 10000);
    buf_fill(&b, ']', 10000);
    *len = b.len;
    return b.data;
}

char *nest_objects(size_t *len)
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
char *string_10mb(size_t *len)
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
char *property_100kb(size_t *len)
{
    return product_with_property("region", 0, 100 * 1024, len);
}

/* A map key of 300 bytes (the converter caps keys at 256). */
char *property_key_300(size_t *len)
{
    return product_with_property(MARK, 300, 1, len);
}

char *properties_1000_keys(size_t *len)
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

char *batch_over_array(size_t *len)
{
    return batch_over(0, len);
}

char *batch_over_ndjson(size_t *len)
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
char *gzip_bomb_1g(size_t *len)
{
    return gzip_stream((size_t)1 << 30, fill_zeros, len);
}

/* 9 MiB of JSON: a few KB compressed, inflating past --max-inflated. */
char *gzip_bomb_9m(size_t *len)
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
char *gzip_bad_event(size_t *len)
{
    size_t n;
    char *ev = patched(BASE_PRODUCT, "{\"event\":\"%MARK%\"}", NULL, &n);
    char *gz = gzip_of(ev, n, len);
    free(ev);
    return gz;
}

char *gzip_truncated(size_t *len)
{
    char *gz = gzip_bad_event(len);
    *len /= 2;
    return gz;
}

char *gzip_trailing_garbage(size_t *len)
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
char *gzip_corrupt(size_t *len)
{
    char *gz = gzip_bad_event(len);
    gz[*len / 2] ^= 0x55;
    return gz;
}

/* A product event with a raw NUL byte inside a string. */
char *raw_nul_byte(size_t *len)
{
    char *t = expand("{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%NOW%,"
                     "\"install_id\":\"a@%MARK%\"}",
                     len);
    *strchr(t, '@') = '\0';
    return t;
}

/* Control Panel license terms with 1000 features (arrays are capped at 256). */
char *cp_features_1000(size_t *len)
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
char *cp_tenant_too_long(size_t *len)
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

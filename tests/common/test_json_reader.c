/* Unit tests of common/json_reader: RFC 8259 text is accepted and anything
 * else refused with its position and kind of problem (never the input);
 * UTF-8 is checked to Unicode's table of well-formed sequences; escapes
 * and surrogate pairs decode; numbers keep 64-bit integers exact and
 * refuse what does not fit; nesting stops at TALLY_JSON_MAX_DEPTH; nothing
 * past the given length is read (every text is copied into a heap buffer
 * of exactly its length, so the sanitizer build catches an overread). */
#include "json_reader.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A copy of text[0..len) without terminator; free it. */
static char *exact(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);

    cr_assert(p != NULL);
    memcpy(p, text, len);
    return p;
}

static int validate_n(const char *text, size_t len, bool allow_nul, char *err, size_t errsize)
{
    tally_json_reader_t r;
    char *copy = exact(text, len);
    int rc = tally_json_reader_validate(&r, copy, len, allow_nul);

    if (rc != 0)
        tally_json_reader_error(&r, err, errsize);
    free(copy);
    return rc;
}

static int validate(const char *text, char *err, size_t errsize)
{
    return validate_n(text, strlen(text), false, err, errsize);
}

Test(json_reader, accepts_rfc8259_text)
{
    static const char *const good[] = {
        "0", "-0", "1", "-1", "10", "1.5", "-1.5e10", "1E+2", "1e-2", "0.0", "9223372036854775807",
        "-9223372036854775808", "1.7976931348623157e308", "4.9e-324", "1e-400",
        "\"\"", "\"a\"", "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", "\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"",
        "\"\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xED\x9F\xBF \xEE\x80\x80 \xF4\x8F\xBF\xBF \x7F\"",
        "true", "false", "null", "[]", "{}", "[[]]", "[{}]", " \t\r\n[ 1 , 2 ]\n",
        "{\"a\":1,\"a\":2}", /* duplicate keys are the caller's matter */
        "{\"a\" : [1, {\"b\": null}, true, false, \"x\", -0.5e-3]}",
    };

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char err[256] = "";
        cr_assert_eq(validate(good[i], err, sizeof err), 0, "%s: %s", good[i], err);
    }
}

Test(json_reader, refuses_what_rfc8259_does_not_allow)
{
    static const struct {
        const char *text;
        const char *problem;
    } bad[] = {
        {"", "end of input"},
        {" ", "end of input"},
        {"{", "end of input"},
        {"[1,", "end of input"},
        {"\"abc", "unterminated string"},
        {"\"abc\\", "end of input"},
        {"01", "leading zero"},
        {"-01", "leading zero"},
        {"+1", "unexpected character"},
        {".5", "unexpected character"},
        {"1.", "digit must follow"},
        {"1.e5", "digit must follow"},
        {"1e", "exponent"},
        {"1e+", "exponent"},
        {"-", "invalid number"},
        {"- 1", "invalid number"},
        {"0x10", "data after"},
        {"NaN", "unexpected character"},
        {"Infinity", "unexpected character"},
        {"9223372036854775808", "64 bits"},
        {"-9223372036854775809", "64 bits"},
        {"123456789012345678901234567890", "64 bits"},
        {"1e309", "range of a double"},
        {"-1e309", "range of a double"},
        {"tru", "literal"},
        {"True", "unexpected character"},
        {"nulll", "data after"},
        {"[1,]", "trailing comma"},
        {"{\"a\":1,}", "trailing comma"},
        {"[1 2]", "expected ','"},
        {"{\"a\":1 \"b\":2}", "expected ','"},
        {"{\"a\" 1}", "':'"},
        {"{a:1}", "object key"},
        {"{1:1}", "object key"},
        {"{'a':1}", "object key"},
        {"['a']", "unexpected character"},
        {"[1]]", "data after"},
        {"{}{}", "data after"},
        {"// c\n{}", "unexpected character"},
        {"\xEF\xBB\xBF{}", "unexpected character"},
        {"\"\x01\"", "control character"},
        {"\"\x1F\"", "control character"},
        {"\"\t\"", "control character"},
        {"\"\n\"", "control character"},
        {"\"\\a\"", "invalid escape"},
        {"\"\\x41\"", "invalid escape"},
        {"\"\\u41\"", "\\u escape"},
        {"\"\\u00G1\"", "\\u escape"},
        {"\"\\ud800\"", "surrogate"},
        {"\"\\udfff\"", "surrogate"},
        {"\"\\ud800\\ud800\"", "surrogate"},
        {"\"\\ud800x\"", "surrogate"},
        {"\"\\u0000\"", "NUL"},
        {"\"\x80\"", "UTF-8"},
        {"\"\xBF\"", "UTF-8"},
        {"\"\xC0\x80\"", "UTF-8"},
        {"\"\xC1\xBF\"", "UTF-8"},
        {"\"\xC3\x28\"", "UTF-8"},
        {"\"\xC3\"", "UTF-8"},
        {"\"\xE0\x80\xAF\"", "UTF-8"},
        {"\"\xE0\x9F\xBF\"", "UTF-8"},
        {"\"\xED\xA0\x80\"", "UTF-8"},
        {"\"\xED\xBF\xBF\"", "UTF-8"},
        {"\"\xE2\x82\"", "UTF-8"},
        {"\"\xF0\x80\x80\x80\"", "UTF-8"},
        {"\"\xF0\x8F\xBF\xBF\"", "UTF-8"},
        {"\"\xF4\x90\x80\x80\"", "UTF-8"},
        {"\"\xF5\x80\x80\x80\"", "UTF-8"},
        {"\"\xF8\x88\x80\x80\x80\"", "UTF-8"},
        {"\"\xFE\"", "UTF-8"},
        {"\"\xFF\"", "UTF-8"},
        {"{\"\xFF\":1}", "UTF-8"},
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        cr_assert_eq(validate(bad[i].text, err, sizeof err), -1, "case %zu accepted", i);
        cr_assert(strncmp(err, "invalid JSON at line 1 column ", 30) == 0, "case %zu: %s", i, err);
        cr_assert(strstr(err, bad[i].problem) != NULL, "case %zu: %s", i, err);
    }
    /* a raw NUL byte, which strlen cannot carry */
    {
        char err[256] = "";
        cr_assert_eq(validate_n("\"a\0b\"", 5, true, err, sizeof err), -1);
        cr_assert(strstr(err, "control character") != NULL, "%s", err);
    }
}

Test(json_reader, nul_escapes_only_when_allowed)
{
    char err[256] = "", buf[8];
    tally_json_reader_t r;
    size_t len;

    cr_assert_eq(validate_n("\"a\\u0000b\"", 10, false, err, sizeof err), -1);
    cr_assert_eq(validate_n("\"a\\u0000b\"", 10, true, err, sizeof err), 0, "%s", err);
    tally_json_reader_init(&r, "\"a\\u0000b\"", 10);
    r.allow_nul = true;
    cr_assert_eq(tally_json_reader_string(&r, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(buf, "a\0b", 4), 0);
}

Test(json_reader, error_positions_count_lines_and_bytes)
{
    char err[256] = "";

    cr_assert_eq(validate("{\n  \"a\": [1,\n   2,,3]}", err, sizeof err), -1);
    cr_assert_str_eq(err, "invalid JSON at line 3 column 6: unexpected character");
    cr_assert_eq(validate("[\"\xC3\xA9\", \"\xC3\x28\"]", err, sizeof err), -1);
    cr_assert_str_eq(err, "invalid JSON at line 1 column 9: invalid UTF-8");
}

Test(json_reader, nesting_stops_at_the_limit)
{
    size_t n = TALLY_JSON_MAX_DEPTH;
    char *text = malloc(2 * (n + 1) + 8), err[256] = "";

    cr_assert(text != NULL);
    memset(text, '[', n);
    memset(text + n, ']', n);
    cr_assert_eq(validate_n(text, 2 * n, false, err, sizeof err), 0, "%s", err);
    memset(text, '[', n + 1);
    memset(text + n + 1, ']', n + 1);
    cr_assert_eq(validate_n(text, 2 * n + 2, false, err, sizeof err), -1);
    cr_assert(strstr(err, "depth") != NULL, "%s", err);
    /* objects count the same */
    {
        size_t len = 0;
        char *obj = malloc((n + 1) * 6 + 8);
        cr_assert(obj != NULL);
        for (size_t i = 0; i <= n; i++)
            len += (size_t)sprintf(obj + len, "{\"a\":");
        obj[len++] = '1';
        memset(obj + len, '}', n + 1);
        len += n + 1;
        cr_assert_eq(validate_n(obj, len, false, err, sizeof err), -1);
        cr_assert(strstr(err, "depth") != NULL, "%s", err);
        free(obj);
    }
    free(text);
}

Test(json_reader, strings_decode_into_a_bounded_buffer)
{
    const char text[] = "\"caf\\u00e9 \\ud83d\\ude00\"";
    char *copy = exact(text, sizeof text - 1), buf[64], small[5];
    tally_json_reader_t r;
    size_t len;

    tally_json_reader_init(&r, copy, sizeof text - 1);
    cr_assert_eq(tally_json_reader_string(&r, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, 10);
    cr_assert_str_eq(buf, "caf\xC3\xA9 \xF0\x9F\x98\x80");
    cr_assert_eq(tally_json_reader_end(&r), 0);
    /* cut short at cap - 1, NUL-terminated, the full length reported */
    tally_json_reader_init(&r, copy, sizeof text - 1);
    cr_assert_eq(tally_json_reader_string(&r, small, sizeof small, &len), 0);
    cr_assert_eq(len, 10);
    cr_assert_str_eq(small, "caf\xC3");
    /* checking only */
    tally_json_reader_init(&r, copy, sizeof text - 1);
    cr_assert_eq(tally_json_reader_string(&r, NULL, 0, &len), 0);
    cr_assert_eq(len, 10);
    free(copy);
}

Test(json_reader, numbers_are_exact_or_refused)
{
    static const struct {
        const char *text;
        bool integer;
        int64_t i;
        double d;
    } cases[] = {
        {"0", true, 0, 0},
        {"-0", true, 0, 0},
        {"9223372036854775807", true, INT64_MAX, 9223372036854775807.0},
        {"-9223372036854775808", true, INT64_MIN, -9223372036854775808.0},
        {"1.5", false, 0, 1.5},
        {"-2e3", false, 0, -2000},
        {"1E-2", false, 0, 0.01},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *copy = exact(cases[i].text, strlen(cases[i].text));
        tally_json_reader_t r;
        tally_json_number_t num;
        tally_json_kind_t kind;

        tally_json_reader_init(&r, copy, strlen(cases[i].text));
        cr_assert_eq(tally_json_reader_peek(&r, &kind), 0);
        cr_assert_eq(kind, cases[i].integer ? TALLY_JSON_INTEGER : TALLY_JSON_REAL, "case %zu", i);
        cr_assert_eq(tally_json_reader_number(&r, &num), 0, "case %zu", i);
        cr_assert_eq(num.integer, cases[i].integer, "case %zu", i);
        if (num.integer)
            cr_assert_eq(num.i, cases[i].i, "case %zu", i);
        cr_assert_eq(num.d, cases[i].d, "case %zu", i);
        cr_assert_eq(tally_json_reader_end(&r), 0);
        free(copy);
    }
}

/* The calls the converter makes: peek, begin, next, key, skip. */
Test(json_reader, walks_objects_and_arrays)
{
    const char text[] = " { \"a\" : [1, 2, 3] , \"b\" : {\"c\": [{}]}, \"d\": \"x\" } ";
    char *copy = exact(text, sizeof text - 1), key[8];
    tally_json_reader_t r, saved;
    tally_json_kind_t kind;
    size_t count = 0, items = 0, len;
    bool more;

    tally_json_reader_init(&r, copy, sizeof text - 1);
    cr_assert_eq(tally_json_reader_peek(&r, &kind), 0);
    cr_assert_eq(kind, TALLY_JSON_OBJECT);
    cr_assert_eq(tally_json_reader_begin(&r, '{'), 0);
    cr_assert_eq(r.depth, 1);
    cr_assert_eq(tally_json_reader_next(&r, '}', &count, &more), 0);
    cr_assert(more);
    cr_assert_eq(tally_json_reader_key(&r, key, sizeof key, &len), 0);
    cr_assert_str_eq(key, "a");
    saved = r; /* a position to come back to */
    cr_assert_eq(tally_json_reader_begin(&r, '['), 0);
    while (tally_json_reader_next(&r, ']', &items, &more) == 0 && more)
        cr_assert_eq(tally_json_reader_skip(&r), 0);
    cr_assert_eq(items, 3);
    cr_assert_eq(r.depth, 1);
    r = saved;
    cr_assert_eq(tally_json_reader_skip(&r), 0);
    cr_assert_eq(tally_json_reader_next(&r, '}', &count, &more), 0);
    cr_assert_eq(tally_json_reader_key(&r, key, sizeof key, &len), 0);
    cr_assert_str_eq(key, "b");
    cr_assert_eq(tally_json_reader_skip(&r), 0);
    cr_assert_eq(tally_json_reader_next(&r, '}', &count, &more), 0);
    cr_assert_eq(tally_json_reader_key(&r, key, sizeof key, &len), 0);
    cr_assert_str_eq(key, "d");
    cr_assert_eq(tally_json_reader_peek(&r, &kind), 0);
    cr_assert_eq(kind, TALLY_JSON_STRING);
    cr_assert_eq(tally_json_reader_skip(&r), 0);
    cr_assert_eq(tally_json_reader_next(&r, '}', &count, &more), 0);
    cr_assert(!more);
    cr_assert_eq(count, 3);
    cr_assert_eq(r.depth, 0);
    cr_assert_eq(tally_json_reader_end(&r), 0);
    free(copy);
}

Test(json_reader, find_string_reads_one_top_level_member)
{
    const char text[] = "{\"x\": {\"tenant_id\": \"inner\"}, \"n\": 5, \"t\\u0065nant_id\": \"t-\\u00e9\","
                        " \"tenant_id\": \"second\"}";
    char *copy = exact(text, sizeof text - 1), buf[32];
    size_t len;

    cr_assert_eq(tally_json_reader_find_string(copy, sizeof text - 1, "tenant_id", buf, sizeof buf, &len), 1);
    cr_assert_str_eq(buf, "t-\xC3\xA9");
    cr_assert_eq(len, 4);
    cr_assert_eq(tally_json_reader_find_string(copy, sizeof text - 1, "n", buf, sizeof buf, &len), 0);
    cr_assert_eq(tally_json_reader_find_string(copy, sizeof text - 1, "absent", buf, sizeof buf, &len), 0);
    cr_assert_eq(tally_json_reader_find_string(copy, 10, "absent", buf, sizeof buf, &len), -1);
    cr_assert_eq(tally_json_reader_find_string("[1]", 3, "x", buf, sizeof buf, &len), -1);
    free(copy);
}

/* The scanner reads eight bytes at a time where it can: every special
 * byte at every position of strings of every short length, decoded and
 * refused alike, with buffers cut at every size. */
Test(json_reader, strings_of_every_length_and_position)
{
    static const struct {
        const char *in;  /* as written in the string */
        const char *out; /* decoded; NULL: refused */
    } specials[] = {
        {"\\\"", "\""}, {"\\\\", "\\"}, {"\\n", "\n"}, {"\\u00e9", "\xC3\xA9"}, {"\xC3\xA9", "\xC3\xA9"},
        {"\xE2\x82\xAC", "\xE2\x82\xAC"}, {"\x7F", "\x7F"}, {"\x1F", NULL}, {"\x80", NULL}, {"\xFF", NULL},
    };
    for (size_t len = 0; len <= 24; len++)
        for (size_t at = 0; at <= len; at++)
            for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
                char text[128], want[128];
                size_t n = 0, w = 0, got;
                text[n++] = '"';
                for (size_t i = 0; i < len; i++) {
                    if (i == at) {
                        n += (size_t)sprintf(text + n, "%s", specials[k].in);
                        if (specials[k].out)
                            w += (size_t)sprintf(want + w, "%s", specials[k].out);
                    }
                    text[n++] = (char)('a' + i % 26);
                    want[w++] = (char)('a' + i % 26);
                }
                text[n++] = '"';
                want[w] = '\0';
                char *copy = exact(text, n);
                for (size_t cap = 0; cap <= w + 2; cap += (cap < 12 ? 1 : 7)) {
                    char buf[128];
                    tally_json_reader_t r;
                    tally_json_reader_init(&r, copy, n);
                    int rc = tally_json_reader_string(&r, cap ? buf : NULL, cap, &got);
                    if (specials[k].out == NULL || at == len) {
                        /* at == len: the special byte is not written, the string is plain */
                        if (specials[k].out == NULL && at < len) {
                            cr_assert_eq(rc, -1, "len %zu at %zu special %zu accepted", len, at, k);
                            continue;
                        }
                    }
                    cr_assert_eq(rc, 0, "len %zu at %zu special %zu cap %zu: %s", len, at, k, cap,
                                 r.error ? r.error : "");
                    cr_assert_eq(got, w, "len %zu at %zu special %zu", len, at, k);
                    if (cap > 0) {
                        size_t kept = w < cap - 1 ? w : cap - 1;
                        cr_assert_eq(memcmp(buf, want, kept), 0, "len %zu at %zu special %zu cap %zu", len, at,
                                     k, cap);
                        cr_assert_eq(buf[kept], '\0');
                    }
                    cr_assert_eq(tally_json_reader_end(&r), 0);
                }
                free(copy);
            }
}

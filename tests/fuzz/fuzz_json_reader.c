/*
 * fuzz_json_reader.c: the strict JSON reader (common/json_reader.c) on any
 * bytes, against jansson as the reference parser. Properties, for both
 * settings of allow_nul:
 *
 *   - no byte outside the input is read (ASan: the input is a heap copy
 *     of its exact size, with no NUL after it);
 *   - tally_json_reader_validate accepts exactly the texts jansson loads
 *     (json_loadb, any value), but for the limits the two set differently:
 *     json_reader.h refuses reals longer than 512 characters, jansson
 *     counts scalars in its depth limit and refuses NUL in keys; a raw
 *     NUL byte, which jansson's loader reads past, is always refused;
 *   - walking an accepted text with the pull API (peek, begin, next, key,
 *     string, number) reads jansson's tree: same kinds, member and item
 *     counts, keys and strings byte for byte, integers and doubles exact;
 *     a string read into a short buffer is its decoded prefix;
 *   - tally_json_reader_find_string finds jansson's top-level "a".
 */
#include "fuzz_util.h"

#include "json_reader.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *buf;  /* decoded strings and keys: at most the input's size */
static size_t cap;

static void grow(size_t need)
{
    if (need > cap) {
        buf = realloc(buf, need);
        if (buf == NULL)
            fuzz_fail("out of memory");
        cap = need;
    }
}

static const char *kind_name(tally_json_kind_t k)
{
    static const char *const names[] = {"object", "array", "string", "integer", "real", "true", "false", "null"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* The string at r (its kind peeked) into buf, checked against a read of
 * a copy of r into a buffer of (len % 7) + 1 bytes: the same prefix. */
static size_t read_string(tally_json_reader_t *r)
{
    tally_json_reader_t copy = *r;
    char small[8];
    size_t len, len2, small_cap;

    if (tally_json_reader_string(r, buf, cap, &len) != 0)
        fuzz_fail("string of a valid text refused: %s", r->error);
    if (len >= cap)
        fuzz_fail("decoded string of %zu bytes from a text of %zu", len, cap);
    small_cap = len % 7 + 1;
    if (tally_json_reader_string(&copy, small, small_cap, &len2) != 0 || len2 != len)
        fuzz_fail("string read into %zu bytes: other result", small_cap);
    size_t kept = len < small_cap - 1 ? len : small_cap - 1;
    if (memcmp(small, buf, kept) != 0 || small[kept] != '\0')
        fuzz_fail("string read into %zu bytes: not the decoded prefix", small_cap);
    if (copy.p != r->p)
        fuzz_fail("string read into %zu bytes: ends elsewhere", small_cap);
    return len;
}

static void walk(tally_json_reader_t *r, const json_t *j)
{
    tally_json_kind_t kind;
    tally_json_number_t num;
    size_t count = 0, len;
    bool more;

    if (tally_json_reader_peek(r, &kind) != 0)
        fuzz_fail("peek refused a valid text: %s", r->error);
    switch (kind) {
    case TALLY_JSON_OBJECT:
        if (!json_is_object(j))
            fuzz_fail("reader sees an object, jansson type %d", json_typeof(j));
        if (tally_json_reader_begin(r, '{') != 0)
            fuzz_fail("begin '{': %s", r->error);
        for (;;) {
            if (tally_json_reader_next(r, '}', &count, &more) != 0)
                fuzz_fail("next '}': %s", r->error);
            if (!more)
                break;
            /* The key is read like a string (the same decoder). */
            if (tally_json_reader_key(r, buf, cap, &len) != 0)
                fuzz_fail("key of a valid text refused: %s", r->error);
            const json_t *child = json_object_getn(j, buf, len);
            if (child == NULL)
                fuzz_fail("key of %zu bytes that jansson does not have", len);
            walk(r, child);
        }
        if (count != json_object_size(j))
            fuzz_fail("object of %zu members, jansson %zu", count, json_object_size(j));
        return;
    case TALLY_JSON_ARRAY:
        if (!json_is_array(j))
            fuzz_fail("reader sees an array, jansson type %d", json_typeof(j));
        if (tally_json_reader_begin(r, '[') != 0)
            fuzz_fail("begin '[': %s", r->error);
        for (;;) {
            if (tally_json_reader_next(r, ']', &count, &more) != 0)
                fuzz_fail("next ']': %s", r->error);
            if (!more)
                break;
            const json_t *child = json_array_get(j, count - 1);
            if (child == NULL)
                fuzz_fail("array item %zu that jansson does not have", count - 1);
            walk(r, child);
        }
        if (count != json_array_size(j))
            fuzz_fail("array of %zu items, jansson %zu", count, json_array_size(j));
        return;
    case TALLY_JSON_STRING:
        if (!json_is_string(j))
            fuzz_fail("reader sees a string, jansson type %d", json_typeof(j));
        len = read_string(r);
        if (len != json_string_length(j) || memcmp(buf, json_string_value(j), len) != 0)
            fuzz_fail("string of %zu bytes, jansson's of %zu differs", len, json_string_length(j));
        return;
    case TALLY_JSON_INTEGER:
    case TALLY_JSON_REAL:
        if (tally_json_reader_number(r, &num) != 0)
            fuzz_fail("number of a valid text refused: %s", r->error);
        if (num.integer != (kind == TALLY_JSON_INTEGER))
            fuzz_fail("peek said %s, the number is %s", kind_name(kind), num.integer ? "an integer" : "real");
        if (num.integer) {
            if (!json_is_integer(j) || json_integer_value(j) != num.i)
                fuzz_fail("integer %lld, jansson's differs", (long long)num.i);
            if (num.d != (double)num.i)
                fuzz_fail("integer %lld as double %.17g", (long long)num.i, num.d);
        } else if (!json_is_real(j) || json_real_value(j) != num.d ||
                   signbit(json_real_value(j)) != signbit(num.d)) {
            fuzz_fail("real %.17g, jansson's differs", num.d);
        }
        return;
    case TALLY_JSON_TRUE:
    case TALLY_JSON_FALSE:
    case TALLY_JSON_NULL:
        if ((kind == TALLY_JSON_TRUE && !json_is_true(j)) || (kind == TALLY_JSON_FALSE && !json_is_false(j)) ||
            (kind == TALLY_JSON_NULL && !json_is_null(j)))
            fuzz_fail("reader sees %s, jansson type %d", kind_name(kind), json_typeof(j));
        if (tally_json_reader_skip(r) != 0)
            fuzz_fail("literal of a valid text refused: %s", r->error);
        return;
    }
    fuzz_fail("peek gave kind %d", (int)kind);
}

/* A refusal jansson does not share, for a limit json_reader.h sets. */
static bool own_limit(const tally_json_reader_t *r)
{
    return r->error != NULL && strstr(r->error, "number longer than") != NULL;
}

/* A refusal of jansson's for a limit json_reader.h does not set. */
static bool jansson_limit(const json_error_t *e)
{
    return json_error_code(e) == json_error_stack_overflow ||
           strstr(e->text, "NUL byte in object key") != NULL;
}

static void check(const char *text, size_t len, bool allow_nul)
{
    tally_json_reader_t r;
    json_error_t jerr;
    size_t flags = JSON_DECODE_ANY | (allow_nul ? JSON_ALLOW_NUL : 0);
    int ours = tally_json_reader_validate(&r, text, len, allow_nul);
    json_t *j = json_loadb(text, len, flags, &jerr);

    if (ours != 0 && (r.error == NULL || r.error_at > len))
        fuzz_fail("refused without an error or past the end (at %zu of %zu)", r.error_at, len);
    /* A raw NUL byte is never JSON (jansson's loader reads past one). */
    if (memchr(text, '\0', len) != NULL) {
        if (ours == 0)
            fuzz_fail("accepted a text holding a raw NUL byte");
        json_decref(j);
        return;
    }
    if (ours == 0 && j == NULL && !jansson_limit(&jerr))
        fuzz_fail("accepted (allow_nul %d), jansson refuses: %s (line %d column %d)", allow_nul, jerr.text,
                  jerr.line, jerr.column);
    if (ours != 0 && j != NULL && !own_limit(&r))
        fuzz_fail("refused (allow_nul %d) at %zu: %s; jansson accepts", allow_nul, r.error_at, r.error);
    json_decref(j);
    if (ours != 0)
        return;

    /* The tree, where it has no duplicate keys (jansson keeps the last). */
    j = json_loadb(text, len, flags | JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        return;
    tally_json_reader_init(&r, text, len);
    r.allow_nul = allow_nul;
    walk(&r, j);
    if (tally_json_reader_end(&r) != 0)
        fuzz_fail("walk ended before the end: %s", r.error);

    if (allow_nul) {
        const json_t *a = json_is_object(j) ? json_object_get(j, "a") : NULL;
        size_t n = 0;
        int found = tally_json_reader_find_string(text, len, "a", buf, cap, &n);
        int want = json_is_object(j) ? json_is_string(a) : -1;
        if (found != want)
            fuzz_fail("find_string gave %d, jansson's tree says %d", found, want);
        if (found == 1 && (n != json_string_length(a) || memcmp(buf, json_string_value(a), n) != 0))
            fuzz_fail("find_string found another value");
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact copy: a read past the end is a heap overflow. */
    char *text = malloc(size ? size : 1);

    if (text == NULL)
        fuzz_fail("out of memory");
    memcpy(text, data, size);
    grow(size + 1);
    check(text, size, false);
    check(text, size, true);
    free(text);
    return 0;
}

/* Unit tests of common/canonical_json: keys sorted whatever the insertion
 * order, no whitespace, the one escaping of control characters, quotes and
 * backslashes, non-ASCII kept as UTF-8, invalid UTF-8 / reals / huge
 * integers / non-ASCII keys refused, and parse accepts its own output
 * only (every non-canonical spelling of the same value is refused). */
#include "canonical_json.h"

#include <criterion/criterion.h>
#include <string.h>

static char *canon(json_t *v)
{
    tally_textbuf_t b = {0};
    char err[128];
    cr_assert_eq(tally_canonical_json(v, &b, err, sizeof err), 0, "%s", err);
    json_decref(v);
    return b.data;
}

Test(canonical_json, keys_are_sorted_whatever_the_insertion_order)
{
    json_t *a = json_pack("{s:i,s:i,s:i,s:{s:i,s:i}}", "b", 2, "a", 1, "B", 0, "z", "y", 1, "x", 2);
    json_t *b = json_pack("{s:{s:i,s:i},s:i,s:i,s:i}", "z", "x", 2, "y", 1, "B", 0, "a", 1, "b", 2);
    char *ca = canon(a), *cb = canon(b);
    cr_assert_str_eq(ca, "{\"B\":0,\"a\":1,\"b\":2,\"z\":{\"x\":2,\"y\":1}}");
    cr_assert_str_eq(cb, ca, "the same object gives the same bytes");
    free(ca);
    free(cb);
    /* Prefixes sort first; "_" (0x5F) sorts between upper and lower case. */
    char *c = canon(json_pack("{s:n,s:b,s:b,s:[]}", "ab", "a", 1, "a_", 0, "A", NULL));
    cr_assert_str_eq(c, "{\"A\":[],\"a\":true,\"a_\":false,\"ab\":null}");
    free(c);
}

Test(canonical_json, strings_have_one_escaping)
{
    char raw[40];
    size_t n = 0;
    for (int c = 1; c < 0x20; c++)
        raw[n++] = (char)c;
    raw[n++] = '"';
    raw[n++] = '\\';
    raw[n++] = '/';
    raw[n++] = 0x7f;
    char *c = canon(json_stringn(raw, n));
    cr_assert_str_eq(c, "\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
                        "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b"
                        "\\u001c\\u001d\\u001e\\u001f\\\"\\\\/\x7f\"");
    free(c);
    /* Non-ASCII stays as its UTF-8 bytes: é (2 bytes), € (3), 😀 (4),
     * U+2028 (not escaped either). */
    c = canon(json_string("Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8"));
    cr_assert_str_eq(c, "\"Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8\"");
    free(c);
}

Test(canonical_json, invalid_utf8_and_nul_are_refused)
{
    static const char *const bad[] = {
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xed\xa0\x80",     /* surrogate U+D800 */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xc3",             /* truncated */
        "\x80",             /* lone continuation */
        "\xff",
    };
    tally_textbuf_t b = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tally_textbuf_puts(&b, "kept");
        cr_assert_eq(tally_canonical_json_string(bad[i], strlen(bad[i]), &b), -1, "bad[%zu] accepted", i);
        cr_assert_str_eq(b.data, "kept", "a refused string leaves the buffer as it was");
        tally_textbuf_reset(&b);
    }
    cr_assert_eq(tally_canonical_json_string("a\0b", 3, &b), -1, "U+0000 accepted");
    tally_textbuf_free(&b);
}

Test(canonical_json, integers_only_within_2_to_the_53)
{
    char err[128];
    tally_textbuf_t b = {0};
    char *c = canon(json_pack("[I,I,i,i]", (json_int_t)9007199254740991LL, (json_int_t)-9007199254740991LL, 0, -7));
    cr_assert_str_eq(c, "[9007199254740991,-9007199254740991,0,-7]");
    free(c);
    json_t *v = json_integer((json_int_t)9007199254740992LL);
    cr_assert_eq(tally_canonical_json(v, &b, err, sizeof err), -1);
    cr_assert(strstr(err, "2^53") != NULL, "%s", err);
    json_decref(v);
    v = json_pack("{s:[i,f]}", "a", 1, 1.0);
    tally_textbuf_puts(&b, "x");
    cr_assert_eq(tally_canonical_json(v, &b, err, sizeof err), -1, "a real accepted");
    cr_assert_str_eq(b.data, "x", "a refused value leaves the buffer as it was");
    json_decref(v);
    v = json_pack("{s:i}", "cl\xc3\xa9", 1);
    cr_assert_eq(tally_canonical_json(v, &b, err, sizeof err), -1, "a non-ASCII key accepted");
    json_decref(v);
    tally_textbuf_free(&b);
}

Test(canonical_json, parse_accepts_only_the_canonical_spelling)
{
    char err[160];
    const char *good = "{\"a\":[1,\"x\\n\\u001f\xc3\xa9\"],\"b\":{}}";
    json_t *v = tally_canonical_json_parse(good, strlen(good), err, sizeof err);
    cr_assert_not_null(v, "%s", err);
    json_decref(v);
    static const char *const bad[] = {
        "{\"b\":{},\"a\":[1,\"x\"]}",           /* key order */
        "{\"a\": [1,\"x\"],\"b\":{}}",          /* whitespace */
        "{\"a\":[1,\"x\"],\"b\":{}}\n",         /* trailing newline */
        "{\"a\":[1.0,\"x\"],\"b\":{}}",         /* a real */
        "{\"a\":[01,\"x\"],\"b\":{}}",          /* leading zero (not even JSON) */
        "{\"a\":[-0,\"x\"],\"b\":{}}",          /* minus zero */
        "{\"a\":[1e0,\"x\"],\"b\":{}}",         /* exponent */
        "{\"a\":[1,\"\\u00e9\"],\"b\":{}}",     /* non-ASCII escaped */
        "{\"a\":[1,\"\\u000a\"],\"b\":{}}",     /* \n spelled \u000a */
        "{\"a\":[1,\"\\/\"],\"b\":{}}",         /* escaped solidus */
        "{\"a\":[1,\"\\u001F\"],\"b\":{}}",     /* upper-case hex */
        "{\"a\":[1,\"x\"],\"a\":{}}",           /* duplicate key */
        "{\"a\":[1,\"\\u0000\"],\"b\":{}}",     /* U+0000 */
        "{\"a\":[1,\"\\ud800\"],\"b\":{}}",     /* lone surrogate */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        v = tally_canonical_json_parse(bad[i], strlen(bad[i]), err, sizeof err);
        cr_assert_null(v, "bad[%zu] accepted: %s", i, bad[i]);
        cr_assert(err[0] != '\0');
    }
}

/*
 * canonical_json.h: the one byte string of a JSON value, for signing
 * (license files, the revocation list: common/license.h).
 *
 * The rules are those of RFC 8785 (JSON Canonicalization Scheme) for the
 * values it allows, which have no numbers but integers:
 *
 *   - No whitespace anywhere.
 *   - Object members sorted by key, compared byte by byte. Keys must be
 *     ASCII (1-127, no NUL): for ASCII, byte order is the UTF-16 code unit
 *     order RFC 8785 prescribes. A non-ASCII key is refused.
 *   - Integers only, in [-(2^53-1), 2^53-1] (the range every JSON
 *     implementation reads exactly), written in decimal with no sign for
 *     zero or positive values, no leading zero, no fraction, no exponent.
 *     A real number (even 1.0) is refused.
 *   - true, false and null as such.
 *   - Strings: UTF-8 as is, except: '"' -> \" ; '\' -> \\ ; U+0008 -> \b,
 *     U+0009 -> \t, U+000A -> \n, U+000C -> \f, U+000D -> \r; every other
 *     U+0000-U+001F -> \u00XX with lower-case hex. Nothing else is
 *     escaped: not '/', not U+007F, not non-ASCII (é is the two bytes
 *     C3 A9). A string that is not valid UTF-8 (overlong forms, surrogates,
 *     code points above U+10FFFF) is refused. U+0000 is refused (jansson
 *     does not read it back without a flag, and no field needs it).
 *   - Arrays keep their order (sorting an array is the caller's choice).
 *
 * Verifying canonical input: parse it (jansson, duplicate keys refused),
 * write it again with tally_canonical_json and compare the bytes; any
 * difference (whitespace, key order, an escape written another way, "1.0",
 * "-0", a leading zero) means the input was not canonical.
 */
#ifndef TALLY_COMMON_CANONICAL_JSON_H
#define TALLY_COMMON_CANONICAL_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "textbuf.h"

/* The largest integer magnitude written: 2^53-1. */
#define TALLY_CANONICAL_INT_MAX INT64_C(9007199254740991)

/* Appends the canonical form of v (borrowed) to out. Returns 0, or -1 with
 * errbuf naming the first value refused (and out cut back to its length
 * before the call). Nesting deeper than 32 levels is refused. */
int tally_canonical_json(const json_t *v, tally_textbuf_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Appends the canonical string literal (quotes included) of s[0..len). Returns
 * 0, or -1 when s is not valid UTF-8 or holds U+0000 (out unchanged). */
int tally_canonical_json_string(const char *s, size_t len, tally_textbuf_t *out) __attribute__((warn_unused_result));

/* Parses text[0..len) (borrowed) with jansson (duplicate keys refused) and
 * checks that it is exactly its own canonical form. Returns the owned value
 * (json_decref it), or NULL with errbuf saying why. */
json_t *tally_canonical_json_parse(const char *text, size_t len, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif /* TALLY_COMMON_CANONICAL_JSON_H */

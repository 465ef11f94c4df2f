/*
 * fuzz_scrub.c: the anonymizer's scrubber (consumers/anonymizer/scrub.c)
 * on any bytes, with a time limit per text: a rule that backtracks
 * (anyone may POST the text it scrubs) is a finding like a crash.
 *
 * Hostile texts are long and repetitive, and libFuzzer's inputs short,
 * so an input may also be pumped: with a 0xFF byte in it, the input is
 * prefix 0xFF run [0xFF suffix] (first and last 0xFF), and the text
 * prefix + run repeated + suffix, of up to PUMP_BYTES, is scrubbed too:
 * "\xFF" "eyJ-" "\xFF." (corpus/scrub/jwt-pumped) is "eyJ-eyJ-...eyJ-."
 * of 64 KiB.
 *
 * Properties: no crash, no read outside the text (a heap copy of its
 * exact size), at most LIMIT_MS of CPU per text of at most 64 KiB.
 * TALLY_FUZZ_SCRUB_LIMIT_MS overrides the limit. With
 * TALLY_FUZZ_SCRUB_IDEMPOTENT=1, also that scrubbing is idempotent
 * (scrub.h: a scrubbed text scrubs to itself); off by default until the
 * URL rule holds it ("https://u:x.y/z" keeps "x.y/z" on the first pass
 * and loses it on the second).
 */
#include "fuzz_util.h"

#include "scrub.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PUMP_BYTES (64 * 1024)
/* CPU per text of up to 64 KiB, in this instrumented build (ASan, UBSan
 * and coverage make scrub.c's own C about 10 times slower; PCRE2 is not
 * instrumented). Measured: the JWT rule's backtracking (issue 12, item 1)
 * 430-750 ms on "eyJ-eyJ-...eyJ-."; the slowest linear text found, "/1::"
 * pumped, 24-33 ms (2.5 ms in a normal -O2 build). */
#define LIMIT_MS 100.0

static tally_scrub_t *sc;
static double limit_ms = LIMIT_MS;
static bool idempotent;

static void scrub(const char *text, size_t len, const char *what)
{
    const char *out;
    size_t out_len, again_len;
    double t0 = fuzz_cpu_ms(), ms;
    size_t n = tally_scrub_text(sc, text, len, &out, &out_len, NULL);

    ms = fuzz_cpu_ms() - t0;
    if (len <= 64 * 1024 && ms > limit_ms)
        fuzz_fail("scrubbing %s of %zu bytes took %.1f ms of CPU (limit %.0f ms)", what, len, ms, limit_ms);
    if (n == 0 && (out != text || out_len != len))
        fuzz_fail("nothing redacted in %s, yet the text changed", what);
    if (n == 0 || !idempotent)
        return;
    char *first = malloc(out_len ? out_len : 1);
    if (first == NULL)
        fuzz_fail("out of memory");
    memcpy(first, out, out_len);
    n = tally_scrub_text(sc, first, out_len, &out, &again_len, NULL);
    if (again_len != out_len || memcmp(out, first, out_len) != 0)
        fuzz_fail("scrubbing %s again changes it (%zu redactions more, %zu bytes then %zu)", what, n, out_len,
                  again_len);
    free(first);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *first, *last;
    char *text;

    if (sc == NULL) {
        char err[512] = "";
        const char *env = getenv("TALLY_FUZZ_SCRUB_LIMIT_MS");
        if (env != NULL && atof(env) > 0)
            limit_ms = atof(env);
        env = getenv("TALLY_FUZZ_SCRUB_IDEMPOTENT");
        idempotent = env != NULL && strcmp(env, "1") == 0;
        sc = tally_scrub_new(err, sizeof err);
        if (sc == NULL)
            fuzz_fail("no scrubber: %s", err);
    }
    text = malloc(size ? size : 1);
    if (text == NULL)
        fuzz_fail("out of memory");
    memcpy(text, data, size);
    scrub(text, size, "the input");
    free(text);

    first = memchr(data, 0xFF, size);
    if (first == NULL)
        return 0;
    last = first;
    for (const uint8_t *p = first + 1; p < data + size; p++)
        if (*p == 0xFF)
            last = p;
    const uint8_t *run = first + 1, *run_end = last > first ? last : data + size;
    const uint8_t *suffix = last > first ? last + 1 : data + size;
    size_t prefix_len = (size_t)(first - data), run_len = (size_t)(run_end - run);
    size_t suffix_len = (size_t)(data + size - suffix);
    if (run_len == 0 || prefix_len + suffix_len >= PUMP_BYTES)
        return 0;
    size_t reps = (PUMP_BYTES - prefix_len - suffix_len) / run_len;
    if (reps < 2)
        return 0;
    size_t len = prefix_len + reps * run_len + suffix_len;
    text = malloc(len);
    if (text == NULL)
        fuzz_fail("out of memory");
    memcpy(text, data, prefix_len);
    for (size_t i = 0; i < reps; i++)
        memcpy(text + prefix_len + i * run_len, run, run_len);
    memcpy(text + prefix_len + reps * run_len, suffix, suffix_len);
    scrub(text, len, "the pumped input");
    free(text);
    return 0;
}

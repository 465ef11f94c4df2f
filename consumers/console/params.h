/*
 * params.h: the console's query and form parameters, checked before any
 * page sees them.
 *
 *   period   YYYY-MM, a real month, not after the request's month and at
 *            most TALLY_PARAMS_MONTHS_BACK months before it (every query
 *            is bounded by it);
 *   status   ok | warning | over (the vendor tenants filter);
 *   format   csv | json (the usage export).
 *
 * Form bodies (POST /signin) are application/x-www-form-urlencoded; a
 * value is percent-decoded ('+' is a space) into a caller's buffer.
 */
#ifndef TALLY_CONSOLE_PARAMS_H
#define TALLY_CONSOLE_PARAMS_H

#include <stddef.h>
#include <stdint.h>

/* How far back a period may be, in months before the current one. */
#define TALLY_PARAMS_MONTHS_BACK 13

/* Returns 0 when s is an acceptable period at instant now_ms (ms since the
 * epoch, UTC), else -1 with the reason in errbuf (s is not echoed). */
int tally_params_period_check(const char *s, int64_t now_ms, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The period (YYYY-MM) holding now_ms, into buf (8 bytes at least). */
void tally_params_period_now(int64_t now_ms, char *buf, size_t size);

/* Whether s is one of the values of the status filter. */
int tally_params_status_ok(const char *s);

/* Percent-decodes s[0..len) ('+' is a space) into out (outsize bytes, NUL
 * included). Returns the decoded length, or -1 when an escape is malformed,
 * decodes to a NUL, or the result does not fit. */
long tally_params_decode(const char *s, size_t len, int plus_is_space, char *out, size_t outsize)
    __attribute__((warn_unused_result));

/* Finds key in the urlencoded form body[0..len) (borrowed) and decodes its
 * value into out. Returns 1 when found once, 0 when absent, -1 when it is
 * there twice or more, or does not decode (see tally_params_decode). */
int tally_params_form_value(const char *body, size_t len, const char *key, char *out, size_t outsize)
    __attribute__((warn_unused_result));

#endif

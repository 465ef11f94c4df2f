/*
 * hostile_fixture.h: what the hostile-client suites of tally-gateway share
 * (test_gateway_hostile.c: the corpus sent through libcurl;
 * test_gateway_hostile_raw.c: protocol abuse on raw sockets): one gateway
 * started with the limits they expect, the templates of bad requests, the
 * checks of an error answer, and the end of each suite: nothing reached
 * any topic and the log holds no secret, marker or client address.
 */
#ifndef TALLY_TEST_HOSTILE_FIXTURE_H
#define TALLY_TEST_HOSTILE_FIXTURE_H

#include "gateway_fixture.h"
#include "textbuf.h"

#include <stddef.h>

/* Put in bad values, keys and headers; must never come back or be logged. */
#define MARK "SECRET-MARKER-7731"
#define TIMEOUT_S 2          /* the gateway's --timeout */
#define MAX_BATCH 50         /* its --max-batch */
#define MAX_BODY 1048576     /* its default --max-body */
#define MAX_INFLATED 8388608 /* its default --max-inflated */

/* Routes, media types and credentials of the requests. */
#define PRODUCT "/v1/product/events"
#define USAGE "/v1/usage/reports"
#define SEATS "/v1/usage/seats"
#define CP "/v1/controlpanel/events"
#define JSON "application/json"
#define NDJSON "application/x-ndjson"
#define BEARER_KEY "Bearer " TALLY_TEST_API_KEY
#define BEARER_ADMIN "Bearer " TALLY_TEST_ADMIN_TOKEN

/* The gateway of the suite, started by hostile_start. */
extern tally_test_gateway_t gw;
extern int gw_port;

/* Starts gw with the suites' limits (--timeout=2s, --max-batch=50) and
 * limits of rate and failed authentications out of the way. */
void hostile_start(void);

/* The end of a suite: the metrics count nothing accepted, SIGTERM exits 0,
 * none of the three topics holds a record, the log is clean; stops gw. */
void hostile_finish(void);

/* malloc that fails the test rather than return NULL. */
void *xmalloc(size_t n);

/* Appends n bytes c to b. */
void buf_fill(tally_textbuf_t *b, char c, size_t n);

/* Expands the placeholders of a template: %NOW% (a second ago, epoch ms),
 * %STARTED% (an hour ago), %FUTURE% and %PAST% (ten years away), %SECS%
 * (now in epoch seconds), %MICROS% (now in microseconds), %MARK%, %TENANT%,
 * %ENV%. Bytes outside placeholders are copied as they are (raw invalid
 * UTF-8 included). Returns a malloc'd text, its length in *len (may be
 * NULL). */
char *expand(const char *t, size_t *len);

/* Fails the case unless text holds none of what must never be echoed: the
 * marker, a key, the admin token, the client address. */
void expect_no_secret(const char *what, const char *text);

/* Checks a JSON error answer: the status, {"error":…,"detail":…}, no echo;
 * a 422 names rejected events (0: any number). */
void expect_error_body(const char *what, long status, const char *body, const char *ctype, long want,
                       const char *error, const char *detail, size_t rejected);

/* /healthz answers 200 after what was sent. */
void expect_healthy(const char *after);

#endif /* TALLY_TEST_HOSTILE_FIXTURE_H */

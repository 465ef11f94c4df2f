#ifndef TALLY_TEST_HTTP_H
#define TALLY_TEST_HTTP_H

/* A small libcurl client for black-box tests of HTTP servers. */

#include <stddef.h>

typedef struct {
    long status;
    char *body;          /* NUL-terminated, owned */
    size_t len;
    char *headers;       /* raw response headers, owned */
} tally_test_response_t;

/* Sends method url with the given headers (NULL-terminated list of
 * "Name: value", may be NULL) and body (may be NULL); the path as written
 * (dot segments are not squashed). Aborts the test on a transport error
 * unless allow_fail, in which case status is 0. */
tally_test_response_t tally_test_http(const char *method, const char *url, const char *const headers[],
                                      const void *body, size_t len, int allow_fail);

/* The same from the local address local_address (e.g. "127.0.0.2": any
 * 127.0.0.0/8 address reaches a server on 127.0.0.1), as another client. */
tally_test_response_t tally_test_http_from(const char *local_address, const char *method, const char *url,
                                           const char *const headers[], const void *body, size_t len,
                                           int allow_fail);

/* The value of header name in r (static buffer), or NULL. */
const char *tally_test_header(const tally_test_response_t *r, const char *name);

void tally_test_response_free(tally_test_response_t *r);

#endif

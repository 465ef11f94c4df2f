#ifndef TALLY_CLIENT_TRANSPORT_H
#define TALLY_CLIENT_TRANSPORT_H

/* HTTP to the gateway over one reused libcurl easy handle (one connection
 * kept alive across requests). curl_global_init is main's job, once, before
 * tally_transport_new. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct tally_transport_opts_t {
    const char *base_url;        /* "http://127.0.0.1:8080"; borrowed, must outlive the transport */
    int64_t timeout_ms;          /* whole request */
    int64_t connect_timeout_ms;
    FILE *debug;                 /* when set: every request and answer is printed there */
} tally_transport_opts_t;

typedef struct tally_transport_t tally_transport_t;

/* One answer. transport_ok is 0 when no HTTP answer came (connection
 * refused, timeout, DNS...): error then says why and status is 0. */
typedef struct tally_response_t {
    int transport_ok;
    char error[256];
    long status;
    char *body;                /* NUL-terminated, owned; "" when empty */
    size_t len;
    int64_t retry_after_ms;    /* from Retry-After; -1 when absent */
} tally_response_t;

/* A new transport, or NULL with a message (curl_easy_init failed). Copies
 * nothing but borrows opts' strings and FILE. */
tally_transport_t *tally_transport_new(const tally_transport_opts_t *opts, char *errbuf, size_t errsize);

/* NULL is a no-op. */
void tally_transport_free(tally_transport_t *t);

/* POSTs body (borrowed, JSON) to base_url + path with Content-Type
 * application/json and, when bearer (borrowed) is set, an Authorization
 * header (--debug shows bearer_name, e.g. "API key", instead). Fills *resp (clear it with tally_response_clear). Returns 0 when
 * an HTTP answer came (any status), -1 when none did. */
int tally_transport_post(tally_transport_t *t, const char *path, const char *bearer, const char *bearer_name,
                         const char *body, size_t len, tally_response_t *resp)
    __attribute__((warn_unused_result));

/* The same with one more header line extra_header (borrowed, "Name: value";
 * NULL: none), e.g. an Idempotency-Key. body NULL: a GET (no Content-Type)
 * instead of a POST. */
int tally_transport_post_with(tally_transport_t *t, const char *path, const char *bearer, const char *bearer_name,
                              const char *extra_header, const char *body, size_t len, tally_response_t *resp)
    __attribute__((warn_unused_result));

/* Prints a request as tally_transport_post sends it (the --debug and
 * --dry-run format): "> POST <url>", its headers (the credential shown as
 * "(hidden)"), an empty "> " line, then the body exactly, then a newline. */
void tally_transport_print_request(FILE *out, const char *base_url, const char *path, const char *credential_name,
                                   const char *body, size_t len);

void tally_response_clear(tally_response_t *resp);

/* Whether url is cleartext http:// (any case) to a host other than this
 * machine: a credential sent there crosses the network unencrypted.
 * Loopback is 127.0.0.0/8, ::1 and localhost. */
bool tally_transport_cleartext_remote(const char *url);

#endif

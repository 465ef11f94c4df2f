#ifndef TALLY_TEST_WEBHOOK_RECEIVER_H
#define TALLY_TEST_WEBHOOK_RECEIVER_H

/* A webhook receiver for the suites of tally-webhooks: a small
 * libmicrohttpd server on 127.0.0.1 (a thread per connection) that checks
 * the Standard Webhooks signature with its secret and counts, per
 * webhook-id, the attempts and the 2xx answers it gave. Its behaviour is
 * switched while it runs: answer 204, answer 500, hold the request longer
 * than the sender's timeout, or refuse connections (the listening socket
 * closed; it comes back on the same port). A bad signature is answered 401
 * and counted. */

#include <stddef.h>

typedef enum {
    TALLY_TEST_RECV_OK = 0,   /* 204 */
    TALLY_TEST_RECV_500,      /* 500 */
    TALLY_TEST_RECV_HANG,     /* sleeps hang_ms, then 204 (the sender has given up) */
    TALLY_TEST_RECV_REFUSE,   /* no listener */
} tally_test_recv_mode_t;

typedef struct tally_test_receiver_t tally_test_receiver_t;

/* Starts on a free port with secret ("whsec_..."). Aborts the test on failure. */
tally_test_receiver_t *tally_test_receiver_start(const char *secret);

/* "http://127.0.0.1:PORT/hook" (borrowed). */
const char *tally_test_receiver_url(const tally_test_receiver_t *r);

void tally_test_receiver_set_mode(tally_test_receiver_t *r, tally_test_recv_mode_t mode, int hang_ms);

/* Requests seen (any answer), ids answered 2xx at least once, 2xx answers
 * to an id already answered 2xx, 401s. */
size_t tally_test_receiver_attempts(tally_test_receiver_t *r);
size_t tally_test_receiver_accepted(tally_test_receiver_t *r);
size_t tally_test_receiver_duplicates(tally_test_receiver_t *r);
size_t tally_test_receiver_bad(tally_test_receiver_t *r);

/* Attempts and 2xx answers for one webhook-id. */
size_t tally_test_receiver_attempts_of(tally_test_receiver_t *r, const char *id);
size_t tally_test_receiver_accepted_of(tally_test_receiver_t *r, const char *id);

/* The webhook-ids answered 2xx, in order (borrowed; count in *n). */
const char *const *tally_test_receiver_ids(tally_test_receiver_t *r, size_t *n);

/* Stops and frees; NULL is a no-op. */
void tally_test_receiver_free(tally_test_receiver_t *r);

#endif

#ifndef TALLY_TEST_TCP_PROXY_H
#define TALLY_TEST_TCP_PROXY_H

/* A TCP proxy on 127.0.0.1 that a test can turn into a black hole: how a
 * hung server looks from a client (the connection is accepted, the request
 * is sent, and no answer ever comes). While passing, it relays every
 * connection to 127.0.0.1:target_port; once frozen, it stops relaying on
 * the connections it holds and accepts new ones without ever reading or
 * writing them. A target port of 0 makes a black hole from the start. */

typedef struct tally_test_proxy_t tally_test_proxy_t;

/* Listens on a free port and starts relaying. Aborts the test on failure. */
tally_test_proxy_t *tally_test_proxy_start(int target_port);

/* The port it listens on. */
int tally_test_proxy_port(const tally_test_proxy_t *p);

/* From now on, nothing moves on any connection, old or new. */
void tally_test_proxy_freeze(tally_test_proxy_t *p);

/* Closes every connection and the listener, frees. NULL is a no-op. */
void tally_test_proxy_stop(tally_test_proxy_t *p);

#endif

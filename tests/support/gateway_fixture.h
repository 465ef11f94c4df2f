#ifndef TALLY_TEST_GATEWAY_FIXTURE_H
#define TALLY_TEST_GATEWAY_FIXTURE_H

/* A real tally-gateway process on its own topics of the real local broker. */

#include "fixtures.h"
#include "http.h"
#include "subprocess.h"

#define TALLY_TEST_API_KEY "tk_live_acme_prod_0123456789abcdef"
#define TALLY_TEST_API_KEY_STAGING "tk_live_acme_staging_0123456789"
/* At least 32 characters: the gateway refuses a shorter admin token. */
#define TALLY_TEST_ADMIN_TOKEN "admin-token-for-tests-9f8e7d6c5b4a3210"
#define TALLY_TEST_TENANT "tenant-acme"
#define TALLY_TEST_ENV "env-prod"
#define TALLY_TEST_OPTED_OUT_PROJECT "project-opted-out"

typedef struct {
    char product_topic[128], usage_topic[128], controlpanel_topic[128];
    char keys_file[128], optout_file[128];
    char base_url[64];
    char admin_url[64];             /* /healthz, /readyz, /metrics: base_url unless --admin-port=N or
                                       TALLY_ADMIN_PORT=N was given */
    int port;
    tally_test_proc_t *proc;
} tally_test_gateway_t;

/* Creates the topics and files, starts the gateway with extra_args
 * (NULL-terminated, may be NULL) and waits until it listens and is ready.
 * The keys come from the fixture's key file unless extra_args has a
 * --keys-pg-url. */
void tally_test_gateway_start(tally_test_gateway_t *gw, const char *const extra_args[]);

/* Stops (SIGTERM; SIGKILL after 30 s) and removes the files; unless the
 * gateway exited with status 0 (a clean drain), says so and aborts the test
 * worker (a failed assertion in a .fini would not fail the test). */
void tally_test_gateway_stop(tally_test_gateway_t *gw);

/* SIGTERM, then waits up to timeout_ms; returns the exit status (as
 * tally_test_wait). The process stays for tally_test_gateway_stop. */
int tally_test_gateway_terminate(tally_test_gateway_t *gw, int timeout_ms);

/* A TCP connection to the gateway's ingest port from source (an IPv4
 * address of 127/8, all loopback on Linux; NULL: any). */
int tally_test_gateway_connect(const tally_test_gateway_t *gw, const char *source);

/* A valid usage report of the test tenant with these counters, as JSON into buf. */
void tally_test_usage_report(char *buf, size_t size, long long seq, long long api_calls, long long status_4xx,
                             long long status_5xx, long long exec_ms);

/* POSTs body to path with content type ctype and optional extra headers. */
tally_test_response_t tally_test_gateway_post(const tally_test_gateway_t *gw, const char *path, const char *ctype,
                                              const char *auth, const void *body, size_t len);

/* POSTs a usage report (JSON body) with the test API key. */
tally_test_response_t tally_test_gateway_post_usage(const tally_test_gateway_t *gw, const char *body);

/* Asserts that a usage report on a fresh connection gets 202 within a
 * second (while_what names the situation in the messages and the log). */
void tally_test_gateway_expect_usage_served(const tally_test_gateway_t *gw, const char *while_what);

/* The SHA-256 of s in hex (how API keys are stored), into out. */
void tally_test_sha256_hex(const char *s, char out[65]);

/* Milliseconds since the epoch, now; and an RFC 3339 string of it. */
long long tally_test_now_ms(void);

#endif

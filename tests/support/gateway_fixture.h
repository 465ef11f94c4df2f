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
    tally_test_proc_t *proc;
} tally_test_gateway_t;

/* Creates the topics and files, starts the gateway with extra_args
 * (NULL-terminated, may be NULL) and waits until it listens and is ready.
 * The keys come from the fixture's key file unless extra_args has a
 * --keys-pg-url. */
void tally_test_gateway_start(tally_test_gateway_t *gw, const char *const extra_args[]);

/* Stops (SIGTERM, then SIGKILL) and removes the files. */
void tally_test_gateway_stop(tally_test_gateway_t *gw);

/* POSTs body to path with content type ctype and optional extra headers. */
tally_test_response_t tally_test_gateway_post(const tally_test_gateway_t *gw, const char *path, const char *ctype,
                                              const char *auth, const void *body, size_t len);

/* Milliseconds since the epoch, now; and an RFC 3339 string of it. */
long long tally_test_now_ms(void);

#endif

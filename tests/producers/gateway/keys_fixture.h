/*
 * keys_fixture.h: what the suites of producers/gateway/keys share
 * (test_keys.c: the key file, header forms, bad files, concurrency, kinds,
 * staleness and the admin token; test_keys_pg.c: the PostgreSQL source):
 * known keys, a key file in a temporary folder, lookups and their results.
 */
#ifndef TALLY_TEST_KEYS_FIXTURE_H
#define TALLY_TEST_KEYS_FIXTURE_H

#include "keys.h"

#define KEY1 "tk_live_7f3a9c2e1b4d"
#define KEY2 "tk_live_0a1b2c3d4e5f"
#define KEY3 "tk_live_feedfacecafe"
#define KEY_PADDED "dGFsbHkta2V5LXBhZGRlZA=="

/* The temporary folder (keys_setup), its key file, the last error, and
 * the last lookup's tenant and environment. */
extern char dir[64], path[128], errbuf[1024];
extern char tenant[TALLY_KEYS_ID_SIZE], env[TALLY_KEYS_ID_SIZE];

void keys_setup(void);

void keys_teardown(void);

const char *hex_of(const char *key);

/* Replaces the file atomically, as an operator's deploy tool would. */
void write_file(const char *file, const char *text);

void write_keys(const char *file, const char *key_a, const char *ids_a, const char *key_b,
                       const char *ids_b);

int lookup(tally_keys_t *keys, const char *header);

tally_keys_t *loaded(const char *text);

int identify(tally_keys_t *keys, const char *header, tally_keys_identity_t *id);

/* key is valid and of kind. */
void expect_kind(tally_keys_t *keys, const char *key, tally_keys_kind_t kind);

#endif /* TALLY_TEST_KEYS_FIXTURE_H */

/*
 * license_seed.h: issued and revoked licenses in a console test database,
 * put there the way production puts them: the payload signed by the real
 * code (common/license.h, tally_license_sign), its license id derived from
 * an idempotency key as the console derives it (license_id.h), and its
 * LicenseIssued / LicenseRevoked event encoded as ControlPanelEvent
 * version 3, then decoded, projected and written into tally.licenses by
 * the materializer's own library (consumers/projection: inbound, writer).
 * The console's reads are never faked.
 */
#ifndef TALLY_TEST_LICENSE_SEED_H
#define TALLY_TEST_LICENSE_SEED_H

#include <stdint.h>

#include "license.h"
#include "license_keys.h"
#include "textbuf.h"

typedef struct license_seed_t license_seed_t;

/* A writer on the test database db (a name from tally_test_db_create or
 * the console fixture), as the superuser. Owned; free with
 * license_seed_free. */
license_seed_t *license_seed_new(const char *db);
void license_seed_free(license_seed_t *s);

/* What one license is. member_id (personal-dev) or environment_id
 * (environment): exactly one. Times in seconds. */
typedef struct license_seed_spec_t {
    const char *tenant_id, *tenant_name;
    const char *member_id, *environment_id;
    const char *idempotency_key;   /* the license id is derived from it */
    int64_t valid_from, valid_until;
} license_seed_spec_t;

/* Signs spec with ring's newest key (the file appended to *file, the id
 * into id) and writes its LicenseIssued event, issued at valid_from. */
void license_seed_issue(license_seed_t *s, const tally_license_keyring_t *ring, const license_seed_spec_t *spec,
                        char id[TALLY_LICENSE_UUID_SIZE], tally_textbuf_t *file);

/* Writes a LicenseRevoked event of tenant for license_id at at_ms. */
void license_seed_revoke(license_seed_t *s, const char *tenant_id, const char *license_id, const char *reason,
                         int64_t at_ms);

#endif

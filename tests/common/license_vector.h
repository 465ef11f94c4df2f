/* The license test vector of tests/data/licenses/ (docs/licenses.md), and
 * small helpers the license suites share. Header-only: each suite is its
 * own executable. */
#ifndef TALLY_TEST_LICENSE_VECTOR_H
#define TALLY_TEST_LICENSE_VECTOR_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "license.h"

/* The RFC 8032 section 7.1 TEST 1 seed: its public key is known
 * (d75a9801...), so a reader can check the key file alone. */
#define VECTOR_KEYS "test-2026-12 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n"

/* Reads $TALLY_TEST_DATA/licenses/<name> whole (owned, NUL-terminated). */
static inline char *vector_read(const char *name, size_t *len)
{
    const char *dir = getenv("TALLY_TEST_DATA");
    cr_assert_not_null(dir, "TALLY_TEST_DATA is not set");
    char path[512];
    snprintf(path, sizeof path, "%s/licenses/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s missing", path);
    char *buf = calloc(1, 1 << 16);
    cr_assert_not_null(buf);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

static inline int64_t vector_time(const char *s)
{
    int64_t t = 0;
    cr_assert_eq(tally_license_time_parse(s, strlen(s), &t), 0, "%s", s);
    return t;
}

/* The vector's payload, before signing (features unsorted on purpose: the
 * signer sorts them). */
static inline void vector_license(tally_license_t *lic)
{
    memset(lic, 0, sizeof *lic);
    snprintf(lic->license_id, sizeof lic->license_id, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0");
    snprintf(lic->tenant_id, sizeof lic->tenant_id, "acme");
    snprintf(lic->tenant_name, sizeof lic->tenant_name, "Acme Caf\xc3\xa9 \"D\xc3\xa9v\" \\ Tab\t");
    lic->kind = TALLY_LICENSE_PERSONAL_DEV;
    snprintf(lic->subject_id, sizeof lic->subject_id, "m-ada");
    lic->feature_count = 3;
    strcpy(lic->features[0], "seats");
    strcpy(lic->features[1], "api");
    strcpy(lic->features[2], "console");
    lic->seats = 25;
    lic->monthly_api_calls = 1000000;
    lic->issued_at = vector_time("2026-12-07T00:00:00Z");
    lic->valid_from = vector_time("2026-12-07T00:00:00Z");
    lic->valid_until = vector_time("2027-01-06T00:00:00Z");
}

static inline tally_license_keyring_t *ring_of(const char *text)
{
    char err[256];
    tally_license_keyring_t *ring = tally_license_keyring_parse(text, strlen(text), "test", err, sizeof err);
    cr_assert_not_null(ring, "%s", err);
    return ring;
}

#endif /* TALLY_TEST_LICENSE_VECTOR_H */

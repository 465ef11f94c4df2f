/*
 * license_id.h: the license id of a personal-dev license request, derived
 * from its Idempotency-Key so that a retried POST /api/v1/licenses names
 * the same license (docs/licenses.md, "Idempotency").
 *
 * An Idempotency-Key is 1 to 64 characters of [A-Za-z0-9_-]. The license
 * id is the first 16 bytes of SHA-256(tenant_id 0x00 member_id 0x00 key)
 * (NUL separators: none of the three may hold a NUL, so two different
 * triples never hash the same bytes), with the RFC 9562 version 8
 * ("custom") nibble and the RFC 4122 variant bits set, written as a
 * lower-case UUID: the same tenant, member and key always give the same
 * id; another key, member or tenant another id.
 */
#ifndef TALLY_CONSOLE_LICENSE_ID_H
#define TALLY_CONSOLE_LICENSE_ID_H

#include <stdbool.h>
#include <stddef.h>

#define TALLY_CONSOLE_IDEMPOTENCY_KEY_MAX 64
#define TALLY_CONSOLE_LICENSE_ID_SIZE 37

/* Whether key[0..len) (borrowed) is an Idempotency-Key: [A-Za-z0-9_-]{1,64}. */
bool tally_console_idempotency_key_ok(const char *key, size_t len);

/* Writes the license id of (tenant_id, member_id, key) (borrowed,
 * NUL-terminated) into out. */
void tally_console_license_id(const char *tenant_id, const char *member_id, const char *key,
                              char out[TALLY_CONSOLE_LICENSE_ID_SIZE]);

#endif

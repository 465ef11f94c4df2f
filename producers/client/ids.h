#ifndef TALLY_CLIENT_IDS_H
#define TALLY_CLIENT_IDS_H

/* Random ids the client assigns, and fingerprints of credentials. */

#include <stdbool.h>
#include <stddef.h>

#define TALLY_UUID_SIZE 37        /* 36 characters and a NUL */
#define TALLY_FINGERPRINT_SIZE 17 /* 16 hex digits and a NUL */

/* Writes a random (version 4, RFC 4122) UUID in lower case, from libsodium's
 * randombytes (the kernel's CSPRNG). Aborts if libsodium cannot start. */
void tally_ids_uuid4(char out[TALLY_UUID_SIZE]);

/* Whether s is a UUID in its 8-4-4-4-12 hex text form (any case). */
bool tally_ids_is_uuid(const char *s);

/* The first 8 bytes of SHA-256(secret) in hex, or "" for a NULL or empty
 * secret. It names which credential a spooled event needs without storing
 * the credential: the gateway itself keeps SHA-256 of API keys. */
void tally_ids_fingerprint(const char *secret, char out[TALLY_FINGERPRINT_SIZE]);

/* A uniformly random value in [0, upper) (0 when upper is 0). */
unsigned tally_ids_random(unsigned upper);

#endif

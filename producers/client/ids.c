#include "ids.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void need_sodium(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "tally: libsodium failed to start\n");
        abort();
    }
}

void tally_ids_uuid4(char out[TALLY_UUID_SIZE])
{
    unsigned char b[16];
    need_sodium();
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, TALLY_UUID_SIZE, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool tally_ids_is_uuid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

void tally_ids_fingerprint(const char *secret, char out[TALLY_FINGERPRINT_SIZE])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    out[0] = '\0';
    if (secret == NULL || *secret == '\0')
        return;
    need_sodium();
    crypto_hash_sha256(h, (const unsigned char *)secret, strlen(secret));
    sodium_bin2hex(out, TALLY_FINGERPRINT_SIZE, h, (TALLY_FINGERPRINT_SIZE - 1) / 2);
}

unsigned tally_ids_random(unsigned upper)
{
    if (upper == 0)
        return 0;
    need_sodium();
    return (unsigned)randombytes_uniform(upper);
}

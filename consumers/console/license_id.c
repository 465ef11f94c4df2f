#include "license_id.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

bool tally_console_idempotency_key_ok(const char *key, size_t len)
{
    if (key == NULL || len == 0 || len > TALLY_CONSOLE_IDEMPOTENCY_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

void tally_console_license_id(const char *tenant_id, const char *member_id, const char *key,
                              char out[TALLY_CONSOLE_LICENSE_ID_SIZE])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)tenant_id, strlen(tenant_id) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)member_id, strlen(member_id) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)key, strlen(key));
    crypto_hash_sha256_final(&st, h);
    h[6] = (unsigned char)((h[6] & 0x0f) | 0x80);   /* version 8: custom (RFC 9562) */
    h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);   /* variant 10 (RFC 4122) */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[h[i] >> 4];
        out[o++] = hex[h[i] & 0x0f];
    }
    out[o] = '\0';
}

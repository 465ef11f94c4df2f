#include "token.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANDOM_BYTES 32

void tally_console_token_new(char out[TALLY_CONSOLE_TOKEN_SIZE], char id[TALLY_CONSOLE_TOKEN_ID_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bin[RANDOM_BYTES], u[16];
    char *o = id;

    if (sodium_init() < 0) {
        fprintf(stderr, "tally-console: libsodium cannot initialise\n");
        abort();
    }
    randombytes_buf(bin, sizeof bin);
    memcpy(out, TALLY_CONSOLE_TOKEN_PREFIX, strlen(TALLY_CONSOLE_TOKEN_PREFIX));
    sodium_bin2base64(out + strlen(TALLY_CONSOLE_TOKEN_PREFIX), TALLY_CONSOLE_TOKEN_SIZE - strlen(TALLY_CONSOLE_TOKEN_PREFIX),
                      bin, sizeof bin, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(bin, sizeof bin);

    randombytes_buf(u, sizeof u);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[u[i] >> 4];
        *o++ = hex[u[i] & 15];
    }
    *o = '\0';
}

void tally_console_token_sha256(const char *token, size_t len, char out[TALLY_CONSOLE_SHA256_SIZE])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, len);
    sodium_bin2hex(out, TALLY_CONSOLE_SHA256_SIZE, h, sizeof h);
}

int tally_console_token_well_formed(const char *s, size_t len)
{
    size_t plen = strlen(TALLY_CONSOLE_TOKEN_PREFIX);
    int bad = 0;

    if (s == NULL || len != TALLY_CONSOLE_TOKEN_LEN)
        return 0;
    bad |= memcmp(s, TALLY_CONSOLE_TOKEN_PREFIX, plen) != 0;
    for (size_t i = plen; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bad |= !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
    }
    /* 43 characters carry 258 bits: the last one's low 2 bits are zero. */
    unsigned char last = (unsigned char)s[len - 1];
    int v = last >= 'A' && last <= 'Z' ? last - 'A' : last >= 'a' && last <= 'z' ? last - 'a' + 26
          : last >= '0' && last <= '9' ? last - '0' + 52 : last == '-' ? 62 : 63;
    bad |= (v & 3) != 0;
    return !bad;
}

#include "webhook_sign.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "secret_file.h"

#define PREFIX "whsec_"
#define PREFIX_LEN (sizeof PREFIX - 1)
#define MAC_BYTES crypto_auth_hmacsha256_BYTES
/* Entries of one webhook-signature header looked at, at most. */
#define SIGNATURES_MAX 16
/* Digits of a unix timestamp, at most (year 2286 has 10). */
#define TIMESTAMP_DIGITS_MAX 12

int tally_webhook_secret_parse(const char *text, size_t len, tally_webhook_secret_t *out, char *errbuf,
                               size_t errsize)
{
    if (sodium_init() < 0) {
        tally_errbuf_set(errbuf, errsize, "libsodium cannot initialise");
        return -1;
    }
    if (len > 0 && text[len - 1] == '\n')
        len--;
    if (len > 0 && text[len - 1] == '\r')
        len--;
    if (len < PREFIX_LEN || memcmp(text, PREFIX, PREFIX_LEN) != 0) {
        tally_errbuf_set(errbuf, errsize, "a webhook secret starts with \"whsec_\"");
        return -1;
    }
    const char *b64 = text + PREFIX_LEN;
    size_t b64_len = len - PREFIX_LEN;
    unsigned char key[TALLY_WEBHOOK_KEY_MAX + 3];
    size_t key_len = 0;
    const char *end = NULL;
    int rc = sodium_base642bin(key, sizeof key, b64, b64_len, NULL, &key_len, &end,
                               sodium_base64_VARIANT_ORIGINAL);
    if (rc != 0 || end != b64 + b64_len) {
        sodium_memzero(key, sizeof key);
        tally_errbuf_set(errbuf, errsize, "a webhook secret is \"whsec_\" and standard base64 (with padding)");
        return -1;
    }
    if (key_len < TALLY_WEBHOOK_KEY_MIN || key_len > TALLY_WEBHOOK_KEY_MAX) {
        sodium_memzero(key, sizeof key);
        tally_errbuf_set(errbuf, errsize, "a webhook secret's key is %d to %d bytes, this one has %zu",
                         TALLY_WEBHOOK_KEY_MIN, TALLY_WEBHOOK_KEY_MAX, key_len);
        return -1;
    }
    out->len = key_len;
    memcpy(out->key, key, key_len);
    sodium_memzero(key, sizeof key);
    return 0;
}

int tally_webhook_secret_load(const char *path, tally_webhook_secret_t *out, char *errbuf, size_t errsize)
{
    char *text = NULL;
    size_t len = 0;
    char why[160];
    if (tally_secret_file_read(path, "webhook secret file", 1024, &text, &len, errbuf, errsize) != 0)
        return -1;
    int rc = tally_webhook_secret_parse(text, len, out, why, sizeof why);
    if (rc != 0)
        tally_errbuf_set(errbuf, errsize, "webhook secret file %s: %s", path, why);
    sodium_memzero(text, len);
    free(text);
    return rc;
}

void tally_webhook_secret_generate(tally_webhook_secret_t *out, char text[TALLY_WEBHOOK_SECRET_TEXT_SIZE])
{
    if (sodium_init() < 0)
        abort();
    out->len = TALLY_WEBHOOK_KEY_MIN + 8;
    randombytes_buf(out->key, out->len);
    if (text != NULL) {
        memcpy(text, PREFIX, PREFIX_LEN);
        sodium_bin2base64(text + PREFIX_LEN, TALLY_WEBHOOK_SECRET_TEXT_SIZE - PREFIX_LEN, out->key, out->len,
                          sodium_base64_VARIANT_ORIGINAL);
    }
}

void tally_webhook_secret_clear(tally_webhook_secret_t *s)
{
    sodium_memzero(s, sizeof *s);
}

int tally_webhook_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > TALLY_WEBHOOK_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= 0x20 || c >= 0x7f || c == '.' || c == ',')
            return 0;
    }
    return 1;
}

/* The signed text is the timestamp header as sent, so a receiver signs what it got. */
static void mac(const tally_webhook_secret_t *s, const char *id, const char *ts, const void *body, size_t len,
                unsigned char out[MAC_BYTES])
{
    size_t n = strlen(ts);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, s->key, s->len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)id, strlen(id));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, body, len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

void tally_webhook_sign(const tally_webhook_secret_t *s, const char *id, int64_t timestamp, const void *body,
                        size_t len, char out[TALLY_WEBHOOK_SIGNATURE_SIZE])
{
    char ts[32];
    snprintf(ts, sizeof ts, "%" PRId64, timestamp);
    unsigned char m[MAC_BYTES];
    mac(s, id, ts, body, len, m);
    memcpy(out, "v1,", 3);
    sodium_bin2base64(out + 3, TALLY_WEBHOOK_SIGNATURE_SIZE - 3, m, sizeof m, sodium_base64_VARIANT_ORIGINAL);
}

/* The timestamp header: 1..TIMESTAMP_DIGITS_MAX decimal digits, nothing else. */
static int parse_timestamp(const char *text, int64_t *out)
{
    size_t n = strlen(text);
    if (n == 0 || n > TIMESTAMP_DIGITS_MAX)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return 0;
}

/* Whether one "v1,<base64>" entry of sig[0..len) is mac. */
static int entry_matches(const char *entry, size_t len, const unsigned char want[MAC_BYTES])
{
    if (len < 3 || memcmp(entry, "v1,", 3) != 0)
        return 0;
    unsigned char got[MAC_BYTES + 3];
    size_t got_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(got, sizeof got, entry + 3, len - 3, NULL, &got_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != entry + len || got_len != MAC_BYTES)
        return 0;
    return sodium_memcmp(got, want, MAC_BYTES) == 0;
}

tally_webhook_verdict_t tally_webhook_verify(const tally_webhook_secret_t *s, const char *id, const char *timestamp,
                                             const char *signature, const void *body, size_t len, int64_t now,
                                             int64_t tolerance)
{
    if (id == NULL || *id == '\0' || timestamp == NULL || *timestamp == '\0' || signature == NULL ||
        *signature == '\0')
        return TALLY_WEBHOOK_MISSING;
    int64_t ts = 0;
    if (!tally_webhook_id_valid(id) || parse_timestamp(timestamp, &ts) != 0)
        return TALLY_WEBHOOK_MALFORMED;
    if (ts < now - tolerance || ts > now + tolerance)
        return TALLY_WEBHOOK_STALE;
    unsigned char want[MAC_BYTES];
    mac(s, id, timestamp, body, len, want);
    int matched = 0, entries = 0;
    const char *p = signature;
    while (*p != '\0' && entries < SIGNATURES_MAX) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e != '\0' && *e != ' ')
            e++;
        if (e > p) {
            entries++;
            matched |= entry_matches(p, (size_t)(e - p), want);
        }
        p = e;
    }
    sodium_memzero(want, sizeof want);
    return matched ? TALLY_WEBHOOK_VALID : TALLY_WEBHOOK_BAD_SIGNATURE;
}

const char *tally_webhook_verdict_text(tally_webhook_verdict_t v)
{
    switch (v) {
    case TALLY_WEBHOOK_VALID:
        return "valid";
    case TALLY_WEBHOOK_MISSING:
        return "a webhook header is missing";
    case TALLY_WEBHOOK_MALFORMED:
        return "malformed webhook-id or webhook-timestamp";
    case TALLY_WEBHOOK_STALE:
        return "timestamp outside the tolerance";
    case TALLY_WEBHOOK_BAD_SIGNATURE:
        return "bad signature";
    }
    return "unknown";
}

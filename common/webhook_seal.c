#include "webhook_seal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "secret_file.h"
#include "xalloc.h"

_Static_assert(TALLY_WEBHOOK_SEAL_OVERHEAD == crypto_box_SEALBYTES, "sealed-box overhead");
_Static_assert(TALLY_WEBHOOK_PUBLIC_KEY_BYTES == crypto_box_PUBLICKEYBYTES, "X25519 public key size");

typedef struct wkey_t {
    char id[TALLY_KEY_ID_SIZE];
    unsigned char pk[crypto_box_PUBLICKEYBYTES];
    unsigned char sk[crypto_box_SECRETKEYBYTES];
} wkey_t;

struct tally_webhook_keyring_t {
    size_t count;
    wkey_t keys[TALLY_WEBHOOK_KEYS_MAX];
};

static int add_key(void *ctx, const char *id, const unsigned char seed[32], char *why, size_t whysize)
{
    tally_webhook_keyring_t *ring = ctx;
    for (size_t i = 0; i < ring->count; i++)
        if (strcmp(ring->keys[i].id, id) == 0) {
            snprintf(why, whysize, "key id %s appears twice", id);
            return -1;
        }
    if (ring->count == TALLY_WEBHOOK_KEYS_MAX) {
        snprintf(why, whysize, "more than %d keys", TALLY_WEBHOOK_KEYS_MAX);
        return -1;
    }
    wkey_t *k = &ring->keys[ring->count++];
    snprintf(k->id, sizeof k->id, "%s", id);
    crypto_box_seed_keypair(k->pk, k->sk, seed);
    return 0;
}

tally_webhook_keyring_t *tally_webhook_keyring_parse(const char *text, size_t len, const char *name, char *errbuf,
                                                     size_t errsize)
{
    if (sodium_init() < 0) {
        tally_errbuf_set(errbuf, errsize, "libsodium cannot initialise");
        return NULL;
    }
    tally_webhook_keyring_t *ring = tally_xcalloc(1, sizeof *ring);
    size_t added = 0;
    if (tally_key_lines_parse(text, len, name, "webhook key file", add_key, ring, &added, errbuf, errsize) != 0)
        goto err;
    if (ring->count == 0) {
        tally_errbuf_set(errbuf, errsize, "webhook key file %s: no key (expected \"<key id> <64 hex digits>\" lines)",
                         name);
        goto err;
    }
    return ring;
err:
    tally_webhook_keyring_free(ring);
    return NULL;
}

tally_webhook_keyring_t *tally_webhook_keyring_load(const char *path, char *errbuf, size_t errsize)
{
    char *text = NULL;
    size_t len = 0;
    if (tally_secret_file_read(path, "webhook key file", 65536, &text, &len, errbuf, errsize) != 0)
        return NULL;
    tally_webhook_keyring_t *ring = tally_webhook_keyring_parse(text, len, path, errbuf, errsize);
    sodium_memzero(text, len);
    free(text);
    return ring;
}

void tally_webhook_keyring_free(tally_webhook_keyring_t *ring)
{
    if (ring == NULL)
        return;
    sodium_memzero(ring, sizeof *ring);
    free(ring);
}

const char *tally_webhook_keyring_current_id(const tally_webhook_keyring_t *ring)
{
    return ring->keys[ring->count - 1].id;
}

static const wkey_t *find(const tally_webhook_keyring_t *ring, const char *key_id)
{
    for (size_t i = 0; i < ring->count; i++)
        if (strcmp(ring->keys[i].id, key_id) == 0)
            return &ring->keys[i];
    return NULL;
}

const unsigned char *tally_webhook_keyring_public(const tally_webhook_keyring_t *ring, const char *key_id)
{
    const wkey_t *k = find(ring, key_id);
    return k ? k->pk : NULL;
}

void tally_webhook_keyring_write_public(const tally_webhook_keyring_t *ring, tally_textbuf_t *out)
{
    char hex[2 * crypto_box_PUBLICKEYBYTES + 1];
    for (size_t i = 0; i < ring->count; i++) {
        sodium_bin2hex(hex, sizeof hex, ring->keys[i].pk, sizeof ring->keys[i].pk);
        tally_textbuf_printf(out, "%s %s\n", ring->keys[i].id, hex);
    }
}

typedef struct last_key_t {
    char id[TALLY_KEY_ID_SIZE];
    unsigned char pk[TALLY_WEBHOOK_PUBLIC_KEY_BYTES];
} last_key_t;

static int keep_last(void *ctx, const char *id, const unsigned char key[32], char *why, size_t whysize)
{
    (void)why;
    (void)whysize;
    last_key_t *last = ctx;
    snprintf(last->id, sizeof last->id, "%s", id);
    memcpy(last->pk, key, sizeof last->pk);
    return 0;
}

int tally_webhook_public_key_parse(const char *text, size_t len, const char *name, char key_id[TALLY_KEY_ID_SIZE],
                                   unsigned char pk[TALLY_WEBHOOK_PUBLIC_KEY_BYTES], char *errbuf, size_t errsize)
{
    last_key_t last;
    size_t added = 0;
    if (tally_key_lines_parse(text, len, name, "webhook public key file", keep_last, &last, &added, errbuf,
                              errsize) != 0)
        return -1;
    if (added == 0) {
        tally_errbuf_set(errbuf, errsize, "webhook public key file %s: no key", name);
        return -1;
    }
    memcpy(key_id, last.id, TALLY_KEY_ID_SIZE);
    memcpy(pk, last.pk, TALLY_WEBHOOK_PUBLIC_KEY_BYTES);
    return 0;
}

int tally_webhook_seal(const unsigned char pk[TALLY_WEBHOOK_PUBLIC_KEY_BYTES], const char *text, size_t len,
                       unsigned char out[TALLY_WEBHOOK_SEALED_MAX], size_t *out_len, char *errbuf, size_t errsize)
{
    if (len < TALLY_WEBHOOK_SEALED_TEXT_MIN || len > TALLY_WEBHOOK_SEALED_TEXT_MAX) {
        tally_errbuf_set(errbuf, errsize, "a webhook secret is %d to %d characters", TALLY_WEBHOOK_SEALED_TEXT_MIN,
                         TALLY_WEBHOOK_SEALED_TEXT_MAX);
        return -1;
    }
    tally_webhook_secret_t s;
    if (tally_webhook_secret_parse(text, len, &s, errbuf, errsize) != 0)
        return -1;
    tally_webhook_secret_clear(&s);
    if (crypto_box_seal(out, (const unsigned char *)text, len, pk) != 0) {
        tally_errbuf_set(errbuf, errsize, "the webhook public key is not usable");
        return -1;
    }
    *out_len = len + crypto_box_SEALBYTES;
    return 0;
}

int tally_webhook_seal_open(const tally_webhook_keyring_t *ring, const char *key_id, const unsigned char *sealed,
                            size_t len, tally_webhook_secret_t *out, char *errbuf, size_t errsize)
{
    const wkey_t *k = find(ring, key_id);
    if (k == NULL) {
        tally_errbuf_set(errbuf, errsize, "no webhook key %.64s in the key file (retired?)", key_id);
        return -1;
    }
    if (len < crypto_box_SEALBYTES + TALLY_WEBHOOK_SEALED_TEXT_MIN || len > TALLY_WEBHOOK_SEALED_MAX) {
        tally_errbuf_set(errbuf, errsize, "a sealed webhook secret is %d to %d bytes, not %zu",
                         crypto_box_SEALBYTES + TALLY_WEBHOOK_SEALED_TEXT_MIN, TALLY_WEBHOOK_SEALED_MAX, len);
        return -1;
    }
    unsigned char text[TALLY_WEBHOOK_SEALED_TEXT_MAX];
    size_t text_len = len - crypto_box_SEALBYTES;
    if (crypto_box_seal_open(text, sealed, len, k->pk, k->sk) != 0) {
        tally_errbuf_set(errbuf, errsize, "the sealed webhook secret does not open with key %s", key_id);
        return -1;
    }
    int rc = tally_webhook_secret_parse((const char *)text, text_len, out, errbuf, errsize);
    sodium_memzero(text, sizeof text);
    return rc;
}

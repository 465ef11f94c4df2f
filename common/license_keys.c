#include "license_keys.h"

#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "key_lines.h"
#include "secret_file.h"
#include "xalloc.h"

typedef struct skey_t {
    char id[TALLY_LICENSE_KEY_ID_SIZE];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
} skey_t;

struct tally_license_keyring_t {
    size_t count;
    skey_t keys[TALLY_LICENSE_KEYS_MAX];
};

typedef struct pkey_t {
    char id[TALLY_LICENSE_KEY_ID_SIZE];
    unsigned char pk[TALLY_LICENSE_PUBLIC_KEY_BYTES];
} pkey_t;

struct tally_license_pubkeys_t {
    size_t count;
    pkey_t keys[TALLY_LICENSE_KEYS_MAX];
};

bool tally_license_key_id_valid(const char *s, size_t len)
{
    return tally_key_id_valid(s, len);
}

static int add_secret(void *ctx, const char *id, const unsigned char seed[32], char *why, size_t whysize)
{
    tally_license_keyring_t *ring = ctx;
    for (size_t i = 0; i < ring->count; i++)
        if (strcmp(ring->keys[i].id, id) == 0) {
            snprintf(why, whysize, "key id %s appears twice", id);
            return -1;
        }
    if (ring->count == TALLY_LICENSE_KEYS_MAX) {
        snprintf(why, whysize, "more than %d keys", TALLY_LICENSE_KEYS_MAX);
        return -1;
    }
    skey_t *k = &ring->keys[ring->count++];
    snprintf(k->id, sizeof k->id, "%s", id);
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
    return 0;
}

tally_license_keyring_t *tally_license_keyring_parse(const char *text, size_t len, const char *name, char *errbuf,
                                                     size_t errsize)
{
    if (sodium_init() < 0) {
        snprintf(errbuf, errsize, "libsodium cannot initialise");
        return NULL;
    }
    tally_license_keyring_t *ring = tally_xcalloc(1, sizeof *ring);
    size_t added = 0;
    if (tally_key_lines_parse(text, len, name, "license key file", add_secret, ring, &added, errbuf, errsize) != 0)
        goto err;
    if (ring->count == 0) {
        snprintf(errbuf, errsize, "license key file %s: no key (expected \"<key id> <64 hex digits>\" lines)",
                 name);
        goto err;
    }
    return ring;
err:
    tally_license_keyring_free(ring);
    return NULL;
}

tally_license_keyring_t *tally_license_keyring_load(const char *path, char *errbuf, size_t errsize)
{
    char *text = NULL;
    size_t len = 0;
    if (tally_secret_file_read(path, "license key file", TALLY_LICENSE_KEY_FILE_MAX, &text, &len, errbuf,
                               errsize) != 0)
        return NULL;
    tally_license_keyring_t *ring = tally_license_keyring_parse(text, len, path, errbuf, errsize);
    sodium_memzero(text, len);
    free(text);
    return ring;
}

void tally_license_keyring_free(tally_license_keyring_t *ring)
{
    if (ring == NULL)
        return;
    sodium_memzero(ring, sizeof *ring);
    free(ring);
}

size_t tally_license_keyring_count(const tally_license_keyring_t *ring)
{
    return ring->count;
}

const char *tally_license_keyring_newest_id(const tally_license_keyring_t *ring)
{
    return ring->keys[ring->count - 1].id;
}

void tally_license_keyring_sign(const tally_license_keyring_t *ring, const unsigned char *msg, size_t len,
                                unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES])
{
    crypto_sign_detached(sig, NULL, msg, len, ring->keys[ring->count - 1].sk);
}

int tally_license_keyring_sign_with(const tally_license_keyring_t *ring, const char *key_id, const unsigned char *msg,
                                    size_t len, unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES])
{
    for (size_t i = 0; i < ring->count; i++)
        if (strcmp(ring->keys[i].id, key_id) == 0) {
            crypto_sign_detached(sig, NULL, msg, len, ring->keys[i].sk);
            return 0;
        }
    return -1;
}

tally_license_pubkeys_t *tally_license_keyring_public(const tally_license_keyring_t *ring)
{
    tally_license_pubkeys_t *set = tally_license_pubkeys_new();
    for (size_t i = 0; i < ring->count; i++) {
        snprintf(set->keys[i].id, sizeof set->keys[i].id, "%s", ring->keys[i].id);
        memcpy(set->keys[i].pk, ring->keys[i].pk, sizeof set->keys[i].pk);
    }
    set->count = ring->count;
    return set;
}

tally_license_pubkeys_t *tally_license_pubkeys_new(void)
{
    return tally_xcalloc(1, sizeof(tally_license_pubkeys_t));
}

void tally_license_pubkeys_free(tally_license_pubkeys_t *set)
{
    free(set);
}

int tally_license_pubkeys_add(tally_license_pubkeys_t *set, const char *id,
                              const unsigned char pk[TALLY_LICENSE_PUBLIC_KEY_BYTES], char *errbuf, size_t errsize)
{
    if (!tally_license_key_id_valid(id, strlen(id))) {
        snprintf(errbuf, errsize, "a key id is 1 to %d characters of A-Z a-z 0-9 . _ -", TALLY_LICENSE_KEY_ID_MAX);
        return -1;
    }
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->keys[i].id, id) == 0) {
            if (memcmp(set->keys[i].pk, pk, TALLY_LICENSE_PUBLIC_KEY_BYTES) == 0)
                return 0;
            snprintf(errbuf, errsize, "key id %s appears with two different public keys", id);
            return -1;
        }
    if (set->count == TALLY_LICENSE_KEYS_MAX) {
        snprintf(errbuf, errsize, "more than %d public keys", TALLY_LICENSE_KEYS_MAX);
        return -1;
    }
    pkey_t *k = &set->keys[set->count++];
    snprintf(k->id, sizeof k->id, "%s", id);
    memcpy(k->pk, pk, sizeof k->pk);
    return 0;
}

static int add_public(void *ctx, const char *id, const unsigned char pk[32], char *why, size_t whysize)
{
    return tally_license_pubkeys_add(ctx, id, pk, why, whysize);
}

int tally_license_pubkeys_parse(tally_license_pubkeys_t *set, const char *text, size_t len, const char *name,
                                char *errbuf, size_t errsize)
{
    size_t added = 0;
    if (tally_key_lines_parse(text, len, name, "public key file", add_public, set, &added, errbuf, errsize) != 0)
        return -1;
    if (added == 0) {
        snprintf(errbuf, errsize, "public key file %s: no key (expected \"<key id> <64 hex digits>\" lines)", name);
        return -1;
    }
    return 0;
}

int tally_license_pubkeys_load_file(tally_license_pubkeys_t *set, const char *path, char *errbuf, size_t errsize)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errbuf, errsize, "public key file %s: %s", path, strerror(errno));
        return -1;
    }
    char *text = tally_xcalloc(TALLY_LICENSE_KEY_FILE_MAX + 2, 1);
    size_t len = fread(text, 1, TALLY_LICENSE_KEY_FILE_MAX + 1, f);
    int rc = -1;
    if (ferror(f))
        snprintf(errbuf, errsize, "public key file %s: %s", path, strerror(errno));
    else if (len > TALLY_LICENSE_KEY_FILE_MAX)
        snprintf(errbuf, errsize, "public key file %s: larger than %d bytes", path, TALLY_LICENSE_KEY_FILE_MAX);
    else
        rc = tally_license_pubkeys_parse(set, text, len, path, errbuf, errsize);
    fclose(f);
    free(text);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tally_license_pubkeys_load_dir(tally_license_pubkeys_t *set, const char *dir, char *errbuf, size_t errsize)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(errbuf, errsize, "public key directory %s: %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".pub") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = tally_xrealloc(names, cap, sizeof *names);
        }
        names[n++] = tally_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, cmp_names);
    int rc = 0;
    size_t before = set->count, files = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t plen = strlen(dir) + strlen(names[i]) + 2;
        char *path = tally_xcalloc(plen, 1);
        snprintf(path, plen, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            files++;
            rc = tally_license_pubkeys_load_file(set, path, errbuf, errsize);
        }
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc == 0 && (files == 0 || set->count == before)) {
        snprintf(errbuf, errsize, "public key directory %s: no \"*.pub\" file with a key", dir);
        rc = -1;
    }
    return rc;
}

size_t tally_license_pubkeys_count(const tally_license_pubkeys_t *set)
{
    return set->count;
}

const unsigned char *tally_license_pubkeys_find(const tally_license_pubkeys_t *set, const char *id, size_t len)
{
    for (size_t i = 0; i < set->count; i++)
        if (strlen(set->keys[i].id) == len && memcmp(set->keys[i].id, id, len) == 0)
            return set->keys[i].pk;
    return NULL;
}

void tally_license_pubkeys_write(const tally_license_pubkeys_t *set, tally_textbuf_t *out)
{
    char hex[2 * TALLY_LICENSE_PUBLIC_KEY_BYTES + 1];
    for (size_t i = 0; i < set->count; i++) {
        sodium_bin2hex(hex, sizeof hex, set->keys[i].pk, sizeof set->keys[i].pk);
        tally_textbuf_printf(out, "%s %s\n", set->keys[i].id, hex);
    }
}

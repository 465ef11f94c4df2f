#include "pseudonym.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret_file.h"

#define MAX_KEYS 64
#define KEY_MIN 32
#define KEY_MAX crypto_generichash_blake2b_KEYBYTES_MAX
#define VERSION_MAX 65535

typedef struct pkey_t {
    int version;
    size_t len;
    unsigned char key[KEY_MAX];
    /* BLAKE2b after the key block, per kind: a reference then costs the
     * identifier's block only. */
    crypto_generichash_blake2b_state keyed[3];
    char prefix[12];       /* "v<version>:" */
    size_t prefix_len;
} pkey_t;

struct tally_pseudonym_t {
    size_t count;
    size_t newest;             /* index of the highest version */
    size_t seat;               /* index of the seat key (pseudonym.h) */
    pkey_t keys[MAX_KEYS];
};

/* BLAKE2b personalisation (16 bytes) per kind of identifier. */
static const unsigned char personal[][crypto_generichash_blake2b_PERSONALBYTES] = {
    [TALLY_PSEUDONYM_INSTALL] = "tally/install-id",
    [TALLY_PSEUDONYM_PROJECT] = "tally/project-id",
    [TALLY_PSEUDONYM_USER] = "tally/user-id\0\0\0",
};

void tally_pseudonym_free(tally_pseudonym_t *ps)
{
    if (ps == NULL)
        return;
    sodium_memzero(ps, sizeof *ps);
    free(ps);
}

/* Parses one non-comment line "<version> <hex>" into k. */
static int parse_line(char *line, pkey_t *k, char *why, size_t whysize)
{
    char *end;
    errno = 0;
    long v = strtol(line, &end, 10);
    if (end == line || errno != 0 || v < 1 || v > VERSION_MAX || !isspace((unsigned char)*end)) {
        snprintf(why, whysize, "expected \"<version 1-%d> <hex key>\"", VERSION_MAX);
        return -1;
    }
    while (isspace((unsigned char)*end))
        end++;
    char *hex = end;
    while (*end && !isspace((unsigned char)*end))
        end++;
    size_t hexlen = (size_t)(end - hex);
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0') {
        snprintf(why, whysize, "unexpected text after the key");
        return -1;
    }
    size_t len = 0;
    if (hexlen % 2 != 0 || hexlen / 2 < KEY_MIN || hexlen / 2 > KEY_MAX ||
        sodium_hex2bin(k->key, sizeof k->key, hex, hexlen, NULL, &len, NULL) != 0 || len != hexlen / 2) {
        snprintf(why, whysize, "the key must be %d to %d bytes in hex", KEY_MIN, (int)KEY_MAX);
        return -1;
    }
    k->version = (int)v;
    k->len = len;
    k->prefix_len = (size_t)snprintf(k->prefix, sizeof k->prefix, "v%d:", k->version);
    for (int kind = 0; kind < 3; kind++)
        crypto_generichash_blake2b_init_salt_personal(&k->keyed[kind], k->key, k->len, TALLY_PSEUDONYM_HASH_BYTES,
                                                      NULL, personal[kind]);
    return 0;
}

/* Parses "seat <version>" (after the word) into *version. */
static int parse_seat(const char *p, int *version, char *why, size_t whysize)
{
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (end == p || errno != 0 || v < 1 || v > VERSION_MAX || *end != '\0') {
        snprintf(why, whysize, "expected \"seat <version 1-%d>\"", VERSION_MAX);
        return -1;
    }
    *version = (int)v;
    return 0;
}

tally_pseudonym_t *tally_pseudonym_load(const char *path, char *errbuf, size_t errsize)
{
    char line[512], why[128];
    int lineno = 0, seat_version = 0, seat_lineno = 0;
    tally_pseudonym_t *ps = NULL;
    if (sodium_init() < 0) {
        snprintf(errbuf, errsize, "libsodium cannot initialise");
        return NULL;
    }
    /* Only a regular file its owner alone may access (common/secret_file.h). */
    int fd = tally_secret_file_open(path, "pseudonym key file", errbuf, errsize);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        snprintf(errbuf, errsize, "pseudonym key file %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    /* Unbuffered: no stdio buffer keeps a copy of the keys after fclose. */
    setvbuf(f, NULL, _IONBF, 0);
    /* The BLAKE2b states want 64-byte alignment, more than calloc promises. */
    size_t size = (sizeof *ps + 63) / 64 * 64;
    ps = aligned_alloc(64, size);
    if (ps == NULL)
        abort();
    memset(ps, 0, size);
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            snprintf(errbuf, errsize, "pseudonym key file %s:%d: line too long", path, lineno);
            goto err;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            continue;
        if (strncmp(p, "seat", 4) == 0 && isspace((unsigned char)p[4])) {
            if (seat_lineno != 0) {
                snprintf(errbuf, errsize, "pseudonym key file %s:%d: a second \"seat\" line (the first: line %d)",
                         path, lineno, seat_lineno);
                goto err;
            }
            if (parse_seat(p + 5, &seat_version, why, sizeof why) != 0) {
                snprintf(errbuf, errsize, "pseudonym key file %s:%d: %s", path, lineno, why);
                goto err;
            }
            seat_lineno = lineno;
            continue;
        }
        if (ps->count == MAX_KEYS) {
            snprintf(errbuf, errsize, "pseudonym key file %s:%d: more than %d keys", path, lineno, MAX_KEYS);
            goto err;
        }
        pkey_t *k = &ps->keys[ps->count];
        if (parse_line(p, k, why, sizeof why) != 0) {
            snprintf(errbuf, errsize, "pseudonym key file %s:%d: %s", path, lineno, why);
            goto err;
        }
        for (size_t i = 0; i < ps->count; i++)
            if (ps->keys[i].version == k->version) {
                snprintf(errbuf, errsize, "pseudonym key file %s:%d: version %d appears twice", path, lineno,
                         k->version);
                goto err;
            }
        if (ps->count == 0 || k->version > ps->keys[ps->newest].version)
            ps->newest = ps->count;
        ps->count++;
    }
    if (ferror(f)) {
        snprintf(errbuf, errsize, "pseudonym key file %s: %s", path, strerror(errno));
        goto err;
    }
    if (ps->count == 0) {
        snprintf(errbuf, errsize, "pseudonym key file %s: no key", path);
        goto err;
    }
    if (seat_lineno == 0 && ps->count > 1) {
        snprintf(errbuf, errsize,
                 "pseudonym key file %s: %zu keys and no \"seat <version>\" line; name the seat key, the version "
                 "seat references were made with (the oldest, unless it was changed on purpose): seat references "
                 "never rotate", path, ps->count);
        goto err;
    }
    if (seat_lineno != 0) {
        size_t i = 0;
        while (i < ps->count && ps->keys[i].version != seat_version)
            i++;
        if (i == ps->count) {
            snprintf(errbuf, errsize,
                     "pseudonym key file %s:%d: the seat key, version %d, is not in the file; every live seat's "
                     "reference was made with it: put its line back", path, seat_lineno,
                     seat_version);
            goto err;
        }
        ps->seat = i;
    }
    sodium_memzero(line, sizeof line);
    fclose(f);
    return ps;
err:
    sodium_memzero(line, sizeof line);
    fclose(f);
    tally_pseudonym_free(ps);
    return NULL;
}

int tally_pseudonym_version(const tally_pseudonym_t *ps)
{
    return ps->keys[ps->newest].version;
}

int tally_pseudonym_seat_version(const tally_pseudonym_t *ps)
{
    return ps->keys[ps->seat].version;
}

static size_t compute(const pkey_t *k, tally_pseudonym_kind_t kind, const char *id, size_t len,
                      char out[TALLY_PSEUDONYM_REF_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char h[TALLY_PSEUDONYM_HASH_BYTES];
    crypto_generichash_blake2b_state st = k->keyed[kind];
    crypto_generichash_blake2b_update(&st, (const unsigned char *)id, len);
    crypto_generichash_blake2b_final(&st, h, sizeof h);
    sodium_memzero(&st, sizeof st);
    memcpy(out, k->prefix, k->prefix_len);
    char *p = out + k->prefix_len;
    for (size_t i = 0; i < sizeof h; i++) {
        *p++ = hex[h[i] >> 4];
        *p++ = hex[h[i] & 15];
    }
    *p = '\0';
    return k->prefix_len + 2 * sizeof h;
}

size_t tally_pseudonym_ref(const tally_pseudonym_t *ps, tally_pseudonym_kind_t kind, const char *id, size_t len,
                           char out[TALLY_PSEUDONYM_REF_SIZE])
{
    return compute(&ps->keys[kind == TALLY_PSEUDONYM_USER ? ps->seat : ps->newest], kind, id, len, out);
}

int tally_pseudonym_ref_version(const tally_pseudonym_t *ps, int version, tally_pseudonym_kind_t kind,
                                const char *id, size_t len, char out[TALLY_PSEUDONYM_REF_SIZE], size_t *out_len)
{
    for (size_t i = 0; i < ps->count; i++)
        if (ps->keys[i].version == version) {
            *out_len = compute(&ps->keys[i], kind, id, len, out);
            return 0;
        }
    return -1;
}

#include "license_revoked.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canonical_json.h"
#include "license.h"
#include "license_armor.h"
#include "xalloc.h"

#define UUID_LEN 36

struct tally_license_revoked_t {
    int64_t issued_at;
    char key_id[TALLY_LICENSE_KEY_ID_SIZE];
    size_t count;
    char (*ids)[UUID_LEN + 1]; /* sorted */
};

static bool is_uuid(const char *s, size_t len)
{
    if (len != UUID_LEN)
        return false;
    for (size_t i = 0; i < UUID_LEN; i++) {
        char c = s[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int tally_license_revoked_sign(const char *const *ids, size_t n, int64_t issued_at,
                               const tally_license_keyring_t *ring, tally_textbuf_t *out, char *errbuf,
                               size_t errsize)
{
    char when[TALLY_LICENSE_TIME_SIZE];
    if (tally_license_time_format(issued_at, when) != 0) {
        snprintf(errbuf, errsize, "revocation list: issued_at outside 1970-9999");
        return -1;
    }
    if (n > TALLY_LICENSE_REVOKED_MAX) {
        snprintf(errbuf, errsize, "revocation list: more than %d ids", TALLY_LICENSE_REVOKED_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!is_uuid(ids[i], strlen(ids[i]))) {
            snprintf(errbuf, errsize, "revocation list: id %zu is not a lower-case UUID", i);
            return -1;
        }
    const char **sorted = tally_xcalloc(n ? n : 1, sizeof *sorted);
    if (n > 0)
        memcpy(sorted, ids, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_ids);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(sorted[i - 1], sorted[i]) != 0)
            json_array_append_new(arr, json_string(sorted[i]));
    free(sorted);
    json_t *o = json_pack("{s:i,s:s,s:s,s:o}", "format", 1, "issued_at", when, "key_id",
                          tally_license_keyring_newest_id(ring), "revoked", arr);
    tally_textbuf_t payload = {0}, msg = {0};
    int rc = tally_canonical_json(o, &payload, errbuf, errsize);
    json_decref(o);
    if (rc == 0) {
        unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES];
        tally_license_armor_signed_bytes(TALLY_LICENSE_REVOKED_LABEL, payload.data, payload.len, &msg);
        tally_license_keyring_sign(ring, (const unsigned char *)msg.data, msg.len, sig);
        tally_license_armor_write(TALLY_LICENSE_REVOKED_LABEL, payload.data, payload.len, sig, out);
    }
    tally_textbuf_free(&payload);
    tally_textbuf_free(&msg);
    return rc;
}

static int from_json(json_t *o, tally_license_revoked_t *list, char *errbuf, size_t errsize)
{
    json_t *format = json_object_get(o, "format"), *when = json_object_get(o, "issued_at");
    json_t *key = json_object_get(o, "key_id"), *arr = json_object_get(o, "revoked");
    if (!json_is_integer(format) || json_integer_value(format) != 1) {
        snprintf(errbuf, errsize, "unsupported revocation list format (this verifier reads format 1)");
        return -1;
    }
    if (json_object_size(o) != 4 || !json_is_string(when) || !json_is_string(key) || !json_is_array(arr) ||
        tally_license_time_parse(json_string_value(when), json_string_length(when), &list->issued_at) != 0 ||
        !tally_license_key_id_valid(json_string_value(key), json_string_length(key)) ||
        json_array_size(arr) > TALLY_LICENSE_REVOKED_MAX) {
        snprintf(errbuf, errsize, "revocation list payload: not exactly format, issued_at, key_id and revoked");
        return -1;
    }
    snprintf(list->key_id, sizeof list->key_id, "%s", json_string_value(key));
    list->count = json_array_size(arr);
    list->ids = tally_xcalloc(list->count ? list->count : 1, sizeof *list->ids);
    for (size_t i = 0; i < list->count; i++) {
        json_t *id = json_array_get(arr, i);
        if (!json_is_string(id) || !is_uuid(json_string_value(id), json_string_length(id))) {
            snprintf(errbuf, errsize, "revocation list: entry %zu is not a lower-case UUID", i);
            return -1;
        }
        memcpy(list->ids[i], json_string_value(id), UUID_LEN + 1);
        if (i > 0 && strcmp(list->ids[i - 1], list->ids[i]) >= 0) {
            snprintf(errbuf, errsize, "revocation list: entry %zu is not after the one before (sorted, each once)",
                     i);
            return -1;
        }
    }
    return 0;
}

tally_license_revoked_t *tally_license_revoked_read(const char *text, size_t len,
                                                    const tally_license_pubkeys_t *keys, char *errbuf,
                                                    size_t errsize)
{
    char why[192];
    if (len > TALLY_LICENSE_REVOKED_FILE_MAX) {
        snprintf(errbuf, errsize, "not a revocation list: larger than %d bytes", TALLY_LICENSE_REVOKED_FILE_MAX);
        return NULL;
    }
    size_t cap = len / 4 * 3 + 3;
    if (cap > TALLY_LICENSE_REVOKED_PAYLOAD_MAX)
        cap = TALLY_LICENSE_REVOKED_PAYLOAD_MAX;
    unsigned char *payload = tally_xcalloc(cap, 1), sig[TALLY_LICENSE_SIGNATURE_BYTES];
    size_t plen = 0;
    tally_license_revoked_t *list = tally_xcalloc(1, sizeof *list);
    json_t *o = NULL;
    tally_textbuf_t msg = {0};
    if (tally_license_armor_read(TALLY_LICENSE_REVOKED_LABEL, text, len, payload, cap, &plen, sig, why,
                                 sizeof why) != 0) {
        snprintf(errbuf, errsize, "not a revocation list: %s", why);
        goto err;
    }
    o = tally_canonical_json_parse((const char *)payload, plen, why, sizeof why);
    if (o == NULL) {
        snprintf(errbuf, errsize, "revocation list payload: %s", why);
        goto err;
    }
    if (!json_is_object(o)) {
        snprintf(errbuf, errsize, "revocation list payload: not a JSON object");
        goto err;
    }
    if (from_json(o, list, errbuf, errsize) != 0)
        goto err;
    const unsigned char *pk = tally_license_pubkeys_find(keys, list->key_id, strlen(list->key_id));
    if (pk == NULL) {
        snprintf(errbuf, errsize, "revocation list signed by key %s, which is not among the public keys given",
                 list->key_id);
        goto err;
    }
    tally_license_armor_signed_bytes(TALLY_LICENSE_REVOKED_LABEL, payload, plen, &msg);
    if (crypto_sign_verify_detached(sig, (const unsigned char *)msg.data, msg.len, pk) != 0) {
        snprintf(errbuf, errsize, "revocation list: the signature does not verify with key %s", list->key_id);
        goto err;
    }
    tally_textbuf_free(&msg);
    json_decref(o);
    free(payload);
    return list;
err:
    tally_textbuf_free(&msg);
    json_decref(o);
    free(payload);
    tally_license_revoked_free(list);
    return NULL;
}

void tally_license_revoked_free(tally_license_revoked_t *list)
{
    if (list == NULL)
        return;
    free(list->ids);
    free(list);
}

int64_t tally_license_revoked_issued_at(const tally_license_revoked_t *list)
{
    return list->issued_at;
}

const char *tally_license_revoked_key_id(const tally_license_revoked_t *list)
{
    return list->key_id;
}

size_t tally_license_revoked_count(const tally_license_revoked_t *list)
{
    return list->count;
}

static int cmp_str_entry(const void *key, const void *entry)
{
    return strcmp((const char *)key, (const char *)entry);
}

bool tally_license_revoked_contains(const tally_license_revoked_t *list, const char *license_id)
{
    return list->count > 0 &&
           bsearch(license_id, list->ids, list->count, sizeof *list->ids, cmp_str_entry) != NULL;
}

#include "license.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canonical_json.h"
#include "license_armor.h"
#include "license_revoked.h"
#include "timeutil.h"
#include "xalloc.h"

/* 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
#define TIME_MAX INT64_C(253402300799)

int tally_license_exit_code(tally_license_status_t status)
{
    switch (status) {
    case TALLY_LICENSE_VALID: return 0;
    case TALLY_LICENSE_REVOKED: return 7;
    case TALLY_LICENSE_NOT_YET_VALID:
    case TALLY_LICENSE_EXPIRED: return 6;
    default: return 1;
    }
}

const char *tally_license_status_name(tally_license_status_t status)
{
    switch (status) {
    case TALLY_LICENSE_VALID: return "valid";
    case TALLY_LICENSE_MALFORMED: return "malformed";
    case TALLY_LICENSE_UNKNOWN_KEY: return "unknown key";
    case TALLY_LICENSE_BAD_SIGNATURE: return "bad signature";
    case TALLY_LICENSE_REVOKED: return "revoked";
    case TALLY_LICENSE_NOT_YET_VALID: return "not yet valid";
    case TALLY_LICENSE_EXPIRED: return "expired";
    }
    return "invalid";
}

const char *tally_license_kind_name(tally_license_kind_t kind)
{
    switch (kind) {
    case TALLY_LICENSE_ENVIRONMENT: return "environment";
    case TALLY_LICENSE_PERSONAL_DEV: return "personal-dev";
    }
    return NULL;
}

int tally_license_time_format(int64_t t, char buf[TALLY_LICENSE_TIME_SIZE])
{
    char full[TALLY_RFC3339_SIZE];
    buf[0] = '\0';
    if (t < 0 || t > TIME_MAX || tally_rfc3339_format(t * 1000, full) != 0)
        return -1;
    memcpy(buf, full, 19); /* "YYYY-MM-DDTHH:MM:SS" of "...SS.mmmZ" */
    buf[19] = 'Z';
    buf[20] = '\0';
    return 0;
}

int tally_license_time_parse(const char *s, size_t len, int64_t *t)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (len != 20)
        return -1;
    for (size_t i = 0; i < 20; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return -1;
    int64_t ms;
    if (tally_rfc3339_parse(s, len, &ms) != 0 || ms < 0 || ms / 1000 > TIME_MAX)
        return -1;
    *t = ms / 1000;
    return 0;
}

static bool is_uuid(const char *s)
{
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return s[36] == '\0';
}

/* Valid UTF-8 of 1..max bytes; controls refused unless allow_controls
 * (U+0000 never). */
static bool good_text(const char *s, size_t max, bool allow_controls)
{
    size_t len = strnlen(s, max + 1);
    if (len == 0 || len > max)
        return false;
    tally_textbuf_t tmp = {0};
    bool ok = tally_canonical_json_string(s, len, &tmp) == 0;
    tally_textbuf_free(&tmp);
    if (ok && !allow_controls)
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                return false;
    return ok;
}

static int check_fields(const tally_license_t *lic, char *errbuf, size_t errsize)
{
    const char *bad = NULL;
    if (lic->format != TALLY_LICENSE_FORMAT)
        bad = "format (must be 1)";
    else if (!is_uuid(lic->license_id))
        bad = "license_id (a lower-case UUID)";
    else if (!good_text(lic->tenant_id, TALLY_LICENSE_ID_MAX, false))
        bad = "tenant_id (1-128 bytes of UTF-8, no control characters)";
    else if (!good_text(lic->tenant_name, TALLY_LICENSE_NAME_MAX, true))
        bad = "tenant_name (1-256 bytes of UTF-8)";
    else if (tally_license_kind_name(lic->kind) == NULL)
        bad = "kind (environment or personal-dev)";
    else if (!good_text(lic->subject_id, TALLY_LICENSE_ID_MAX, false))
        bad = lic->kind == TALLY_LICENSE_ENVIRONMENT ? "environment_id (1-128 bytes of UTF-8, no control characters)"
                                                     : "member_id (1-128 bytes of UTF-8, no control characters)";
    else if (lic->feature_count > TALLY_LICENSE_FEATURES_MAX)
        bad = "features (at most 64)";
    else if (lic->seats < 0 || lic->seats > TALLY_CANONICAL_INT_MAX)
        bad = "limits.seats (0 to 2^53-1)";
    else if (lic->monthly_api_calls < 0 || lic->monthly_api_calls > TALLY_CANONICAL_INT_MAX)
        bad = "limits.monthly_api_calls (0 to 2^53-1)";
    else if (lic->issued_at < 0 || lic->issued_at > TIME_MAX)
        bad = "issued_at (1970-9999)";
    else if (lic->valid_from < 0 || lic->valid_from > TIME_MAX)
        bad = "valid_from (1970-9999)";
    else if (lic->valid_until < 0 || lic->valid_until > TIME_MAX)
        bad = "valid_until (1970-9999)";
    else if (lic->valid_from >= lic->valid_until)
        bad = "valid_until (must be after valid_from)";
    else if (lic->issued_at >= lic->valid_until)
        bad = "valid_until (must be after issued_at)";
    else if (!tally_license_key_id_valid(lic->key_id, strnlen(lic->key_id, sizeof lic->key_id)))
        bad = "key_id (1-64 characters of A-Z a-z 0-9 . _ -)";
    if (bad == NULL)
        for (size_t i = 0; i < lic->feature_count; i++) {
            if (!good_text(lic->features[i], TALLY_LICENSE_ID_MAX, false)) {
                bad = "features (each 1-128 bytes of UTF-8, no control characters)";
                break;
            }
            if (i > 0 && strcmp(lic->features[i - 1], lic->features[i]) >= 0) {
                bad = "features (sorted by bytes, each once)";
                break;
            }
        }
    if (bad != NULL) {
        snprintf(errbuf, errsize, "license field %s", bad);
        return -1;
    }
    return 0;
}

static json_t *time_json(int64_t t)
{
    char buf[TALLY_LICENSE_TIME_SIZE];
    if (tally_license_time_format(t, buf) != 0)
        abort(); /* checked before */
    return json_string(buf);
}

int tally_license_payload(const tally_license_t *lic, tally_textbuf_t *out, char *errbuf, size_t errsize)
{
    if (check_fields(lic, errbuf, errsize) != 0)
        return -1;
    json_t *o = json_object();
    json_t *features = json_array();
    for (size_t i = 0; i < lic->feature_count; i++)
        json_array_append_new(features, json_string(lic->features[i]));
    json_object_set_new(o, "format", json_integer(lic->format));
    json_object_set_new(o, "license_id", json_string(lic->license_id));
    json_object_set_new(o, "tenant_id", json_string(lic->tenant_id));
    json_object_set_new(o, "tenant_name", json_string(lic->tenant_name));
    json_object_set_new(o, "kind", json_string(tally_license_kind_name(lic->kind)));
    json_object_set_new(o, lic->kind == TALLY_LICENSE_ENVIRONMENT ? "environment_id" : "member_id",
                        json_string(lic->subject_id));
    json_object_set_new(o, "features", features);
    json_object_set_new(o, "limits",
                        json_pack("{s:I,s:I}", "seats", (json_int_t)lic->seats, "monthly_api_calls",
                                  (json_int_t)lic->monthly_api_calls));
    json_object_set_new(o, "issued_at", time_json(lic->issued_at));
    json_object_set_new(o, "valid_from", time_json(lic->valid_from));
    json_object_set_new(o, "valid_until", time_json(lic->valid_until));
    json_object_set_new(o, "key_id", json_string(lic->key_id));
    size_t mark = out->len;
    int rc = tally_canonical_json(o, out, errbuf, errsize);
    json_decref(o);
    if (rc == 0 && out->len - mark > TALLY_LICENSE_PAYLOAD_MAX) {
        snprintf(errbuf, errsize, "license payload longer than %d bytes", TALLY_LICENSE_PAYLOAD_MAX);
        tally_textbuf_truncate(out, mark);
        rc = -1;
    }
    return rc;
}

static int cmp_features(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void sha256_hex_of(const void *bytes, size_t len, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, bytes, len);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

int tally_license_sign(tally_license_t *lic, const tally_license_keyring_t *ring, tally_textbuf_t *out,
                       char sha256_hex[65], char *errbuf, size_t errsize)
{
    lic->format = TALLY_LICENSE_FORMAT;
    snprintf(lic->key_id, sizeof lic->key_id, "%s", tally_license_keyring_newest_id(ring));
    if (lic->feature_count <= TALLY_LICENSE_FEATURES_MAX)
        qsort(lic->features, lic->feature_count, sizeof lic->features[0], cmp_features);
    tally_textbuf_t payload = {0}, msg = {0};
    int rc = tally_license_payload(lic, &payload, errbuf, errsize);
    if (rc == 0) {
        unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES];
        tally_license_armor_signed_bytes(TALLY_LICENSE_LABEL, payload.data, payload.len, &msg);
        tally_license_keyring_sign(ring, (const unsigned char *)msg.data, msg.len, sig);
        tally_license_armor_write(TALLY_LICENSE_LABEL, payload.data, payload.len, sig, out);
        if (sha256_hex != NULL)
            sha256_hex_of(payload.data, payload.len, sha256_hex);
    }
    tally_textbuf_free(&payload);
    tally_textbuf_free(&msg);
    return rc;
}

/* Copies string member key of o into dst[0..size); -1 when it is missing,
 * not a string, or longer than size - 1 (the rules are checked later). */
static int get_string(json_t *o, const char *key, char *dst, size_t size)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || json_string_length(v) >= size)
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_time(json_t *o, const char *key, int64_t *t)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return -1;
    return tally_license_time_parse(json_string_value(v), json_string_length(v), t);
}

static int from_json(json_t *o, tally_license_t *lic, char *errbuf, size_t errsize)
{
    memset(lic, 0, sizeof *lic);
    if (!json_is_object(o)) {
        snprintf(errbuf, errsize, "the payload is not a JSON object");
        return -1;
    }
    json_t *format = json_object_get(o, "format");
    if (!json_is_integer(format) || json_integer_value(format) != TALLY_LICENSE_FORMAT) {
        snprintf(errbuf, errsize, "unsupported license format (this verifier reads format %d)",
                 TALLY_LICENSE_FORMAT);
        return -1;
    }
    lic->format = TALLY_LICENSE_FORMAT;
    char kind[16];
    const char *bad = NULL;
    if (get_string(o, "kind", kind, sizeof kind) != 0)
        bad = "kind";
    else if (strcmp(kind, "environment") == 0)
        lic->kind = TALLY_LICENSE_ENVIRONMENT;
    else if (strcmp(kind, "personal-dev") == 0)
        lic->kind = TALLY_LICENSE_PERSONAL_DEV;
    else
        bad = "kind";
    if (bad != NULL) {
        snprintf(errbuf, errsize, "license field kind missing or not environment / personal-dev");
        return -1;
    }
    const char *subject = lic->kind == TALLY_LICENSE_ENVIRONMENT ? "environment_id" : "member_id";
    const size_t members = 12; /* every member but one of environment_id and member_id */
    json_t *features = json_object_get(o, "features");
    json_t *limits = json_object_get(o, "limits");
    json_t *seats = json_object_get(limits, "seats"), *calls = json_object_get(limits, "monthly_api_calls");
    if (get_string(o, "license_id", lic->license_id, sizeof lic->license_id) != 0)
        bad = "license_id";
    else if (get_string(o, "tenant_id", lic->tenant_id, sizeof lic->tenant_id) != 0)
        bad = "tenant_id";
    else if (get_string(o, "tenant_name", lic->tenant_name, sizeof lic->tenant_name) != 0)
        bad = "tenant_name";
    else if (get_string(o, subject, lic->subject_id, sizeof lic->subject_id) != 0)
        bad = subject;
    else if (!json_is_array(features) || json_array_size(features) > TALLY_LICENSE_FEATURES_MAX)
        bad = "features";
    else if (!json_is_object(limits) || json_object_size(limits) != 2 || !json_is_integer(seats) ||
             !json_is_integer(calls))
        bad = "limits";
    else if (get_time(o, "issued_at", &lic->issued_at) != 0)
        bad = "issued_at";
    else if (get_time(o, "valid_from", &lic->valid_from) != 0)
        bad = "valid_from";
    else if (get_time(o, "valid_until", &lic->valid_until) != 0)
        bad = "valid_until";
    else if (get_string(o, "key_id", lic->key_id, sizeof lic->key_id) != 0)
        bad = "key_id";
    else if (json_object_size(o) != members)
        bad = "members (one unknown, or environment_id and member_id together)";
    if (bad == NULL) {
        lic->seats = (int64_t)json_integer_value(seats);
        lic->monthly_api_calls = (int64_t)json_integer_value(calls);
        lic->feature_count = json_array_size(features);
        for (size_t i = 0; i < lic->feature_count && bad == NULL; i++) {
            json_t *f = json_array_get(features, i);
            if (!json_is_string(f) || json_string_length(f) > TALLY_LICENSE_ID_MAX)
                bad = "features";
            else
                memcpy(lic->features[i], json_string_value(f), json_string_length(f) + 1);
        }
    }
    if (bad != NULL) {
        snprintf(errbuf, errsize, "license field %s missing or of the wrong type", bad);
        return -1;
    }
    return check_fields(lic, errbuf, errsize);
}

int tally_license_payload_parse(const void *payload, size_t len, tally_license_t *out, char *errbuf, size_t errsize)
{
    char why[192];
    if (len > TALLY_LICENSE_PAYLOAD_MAX) {
        snprintf(errbuf, errsize, "license payload: larger than %d bytes", TALLY_LICENSE_PAYLOAD_MAX);
        return -1;
    }
    json_t *o = tally_canonical_json_parse((const char *)payload, len, why, sizeof why);
    if (o == NULL) {
        snprintf(errbuf, errsize, "license payload: %s", why);
        return -1;
    }
    int rc = from_json(o, out, why, sizeof why);
    json_decref(o);
    if (rc != 0) {
        snprintf(errbuf, errsize, "license payload: %s", why);
        return -1;
    }
    /* The payload is canonical and every member was read: writing the
     * license again must give the very same bytes. */
    tally_textbuf_t again = {0};
    rc = tally_license_payload(out, &again, why, sizeof why);
    if (rc == 0 && (again.len != len || memcmp(again.data, payload, again.len) != 0))
        rc = -1;
    tally_textbuf_free(&again);
    if (rc != 0) {
        snprintf(errbuf, errsize, "license payload: not in the canonical form of format %d", TALLY_LICENSE_FORMAT);
        return -1;
    }
    return 0;
}

int tally_license_parse(const char *text, size_t len, tally_license_file_t *out, char *errbuf, size_t errsize)
{
    char why[192];
    if (len > TALLY_LICENSE_FILE_MAX) {
        snprintf(errbuf, errsize, "not a license file: larger than %d bytes", TALLY_LICENSE_FILE_MAX);
        return -1;
    }
    if (tally_license_armor_read(TALLY_LICENSE_LABEL, text, len, out->payload, sizeof out->payload,
                                 &out->payload_len, out->signature, why, sizeof why) != 0) {
        snprintf(errbuf, errsize, "not a license file: %s", why);
        return -1;
    }
    return tally_license_payload_parse(out->payload, out->payload_len, &out->license, errbuf, errsize);
}

tally_license_status_t tally_license_verify_signature(const tally_license_file_t *file,
                                                      const tally_license_pubkeys_t *keys, char *errbuf,
                                                      size_t errsize)
{
    const char *id = file->license.key_id;
    const unsigned char *pk = tally_license_pubkeys_find(keys, id, strlen(id));
    if (pk == NULL) {
        snprintf(errbuf, errsize, "signed by key %s, which is not among the %zu public keys given", id,
                 tally_license_pubkeys_count(keys));
        return TALLY_LICENSE_UNKNOWN_KEY;
    }
    tally_textbuf_t msg = {0};
    tally_license_armor_signed_bytes(TALLY_LICENSE_LABEL, file->payload, file->payload_len, &msg);
    int rc = crypto_sign_verify_detached(file->signature, (const unsigned char *)msg.data, msg.len, pk);
    tally_textbuf_free(&msg);
    if (rc != 0) {
        snprintf(errbuf, errsize, "the signature does not verify with key %s: the file was changed or signed by "
                 "another key", id);
        return TALLY_LICENSE_BAD_SIGNATURE;
    }
    return TALLY_LICENSE_VALID;
}

tally_license_status_t tally_license_check_window(const tally_license_t *lic, int64_t now, int64_t skew)
{
    if (now < lic->valid_from - skew)
        return TALLY_LICENSE_NOT_YET_VALID;
    if (now >= lic->valid_until + skew)
        return TALLY_LICENSE_EXPIRED;
    return TALLY_LICENSE_VALID;
}

tally_license_status_t tally_license_check(const char *text, size_t len, const tally_license_pubkeys_t *keys,
                                           const struct tally_license_revoked_t *revoked, int64_t now,
                                           tally_license_file_t *out, char *errbuf, size_t errsize)
{
    tally_license_file_t *f = out ? out : malloc(sizeof *f);
    if (f == NULL)
        abort();
    tally_license_status_t st = TALLY_LICENSE_VALID;
    char a[TALLY_LICENSE_TIME_SIZE], b[TALLY_LICENSE_TIME_SIZE];
    if (tally_license_parse(text, len, f, errbuf, errsize) != 0) {
        st = TALLY_LICENSE_MALFORMED;
        goto done;
    }
    st = tally_license_verify_signature(f, keys, errbuf, errsize);
    if (st != TALLY_LICENSE_VALID)
        goto done;
    if (revoked != NULL && tally_license_revoked_contains(revoked, f->license.license_id)) {
        snprintf(errbuf, errsize, "license %s is revoked", f->license.license_id);
        st = TALLY_LICENSE_REVOKED;
        goto done;
    }
    st = tally_license_check_window(&f->license, now, TALLY_LICENSE_SKEW_S);
    if (st == TALLY_LICENSE_NOT_YET_VALID && tally_license_time_format(f->license.valid_from, a) == 0)
        snprintf(errbuf, errsize, "not valid before %s", a);
    else if (st == TALLY_LICENSE_EXPIRED && tally_license_time_format(f->license.valid_until, b) == 0)
        snprintf(errbuf, errsize, "expired at %s", b);
done:
    if (out == NULL)
        free(f);
    return st;
}

void tally_license_payload_sha256(const tally_license_file_t *file, char hex[65])
{
    sha256_hex_of(file->payload, file->payload_len, hex);
}

int tally_license_personal_dev_window(int64_t now, int64_t contract_from_day, int64_t contract_until_day,
                                      int64_t *valid_from, int64_t *valid_until)
{
    const int64_t day = 86400;
    if (contract_from_day > contract_until_day || contract_from_day < 0 || contract_until_day >= TIME_MAX / day)
        return -1;
    int64_t start = contract_from_day * day, end = (contract_until_day + 1) * day;
    if (now < start || now >= end || now < 0)
        return -1;
    *valid_from = now;
    *valid_until = now + TALLY_LICENSE_PERSONAL_DEV_MAX_S < end ? now + TALLY_LICENSE_PERSONAL_DEV_MAX_S : end;
    return 0;
}

int tally_license_resign(const void *payload, size_t len, const tally_license_keyring_t *ring, tally_license_t *lic,
                         tally_textbuf_t *out, char *errbuf, size_t errsize)
{
    tally_license_t *parsed = tally_xcalloc(1, sizeof *parsed);
    int rc = 0;
    if (tally_license_payload_parse(payload, len, parsed, errbuf, errsize) != 0) {
        rc = TALLY_LICENSE_RESIGN_MALFORMED;
        goto cleanup;
    }
    tally_textbuf_t msg = {0};
    unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES];
    tally_license_armor_signed_bytes(TALLY_LICENSE_LABEL, payload, len, &msg);
    rc = tally_license_keyring_sign_with(ring, parsed->key_id, (const unsigned char *)msg.data, msg.len, sig);
    tally_textbuf_free(&msg);
    if (rc != 0) {
        snprintf(errbuf, errsize, "license %s: its key %s is no longer in the key file", parsed->license_id,
                 parsed->key_id);
        rc = TALLY_LICENSE_RESIGN_NO_KEY;
        goto cleanup;
    }
    tally_license_armor_write(TALLY_LICENSE_LABEL, payload, len, sig, out);
    if (lic != NULL)
        *lic = *parsed;
cleanup:
    free(parsed);
    return rc;
}

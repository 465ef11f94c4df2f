/* Unit tests of common/license: the committed test vector is reproduced
 * byte for byte and verifies; round trips of both kinds; every single-byte
 * change, truncation or extension of a license file is refused; wrong key,
 * unknown key id, revoked, expired and not yet valid (the skew allowance
 * just inside and just outside), each with its exit code; key rotation;
 * strict parsing (CRLF, wrapped base64, non-canonical or unknown payloads
 * refused even when validly signed); field rules at signing. */
#include "license.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "license_armor.h"
#include "license_revoked.h"
#include "license_vector.h"

#define KEY_A "ka 1111111111111111111111111111111111111111111111111111111111111111\n"
#define KEY_A_OTHER "ka 2222222222222222222222222222222222222222222222222222222222222222\n"
#define KEY_B "kb 3333333333333333333333333333333333333333333333333333333333333333\n"

static tally_license_pubkeys_t *pub_of(const char *text)
{
    char err[256];
    tally_license_pubkeys_t *set = tally_license_pubkeys_new();
    cr_assert_eq(tally_license_pubkeys_parse(set, text, strlen(text), "test", err, sizeof err), 0, "%s", err);
    return set;
}

/* A license file of the vector's payload signed by text's newest key. */
static char *signed_file(const char *keys, tally_license_t *lic, size_t *len)
{
    char err[256];
    tally_license_keyring_t *ring = ring_of(keys);
    tally_textbuf_t out = {0};
    cr_assert_eq(tally_license_sign(lic, ring, &out, NULL, err, sizeof err), 0, "%s", err);
    tally_license_keyring_free(ring);
    *len = out.len;
    return out.data;
}

/* payload (any bytes) in a license envelope, validly signed by keys. */
static char *sign_raw(const char *keys, const char *payload, size_t *len)
{
    tally_license_keyring_t *ring = ring_of(keys);
    tally_textbuf_t msg = {0}, out = {0};
    unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES];
    tally_license_armor_signed_bytes(TALLY_LICENSE_LABEL, payload, strlen(payload), &msg);
    tally_license_keyring_sign(ring, (const unsigned char *)msg.data, msg.len, sig);
    tally_license_armor_write(TALLY_LICENSE_LABEL, payload, strlen(payload), sig, &out);
    tally_textbuf_free(&msg);
    tally_license_keyring_free(ring);
    *len = out.len;
    return out.data;
}

static tally_license_status_t check(const char *text, size_t len, const char *pubtext, int64_t now, char *err,
                                    size_t errsize)
{
    tally_license_pubkeys_t *pub = pub_of(pubtext);
    tally_license_status_t st = tally_license_check(text, len, pub, NULL, now, NULL, err, errsize);
    tally_license_pubkeys_free(pub);
    return st;
}

Test(license, the_test_vector_is_reproduced_byte_for_byte)
{
    char err[256], sha[65];
    size_t file_len, payload_len, pub_len, keys_len;
    char *file = vector_read("vector.license", &file_len);
    char *payload = vector_read("vector.payload.json", &payload_len);
    char *pubtext = vector_read("vector.pub", &pub_len);
    char *keys = vector_read("vector.keys", &keys_len);
    cr_assert_str_eq(keys, VECTOR_KEYS);
    tally_license_keyring_t *ring = ring_of(keys);
    tally_license_t lic;
    vector_license(&lic);
    tally_textbuf_t out = {0}, pl = {0}, pt = {0};
    cr_assert_eq(tally_license_sign(&lic, ring, &out, sha, err, sizeof err), 0, "%s", err);
    cr_assert_eq(out.len, file_len);
    cr_assert_eq(memcmp(out.data, file, file_len), 0, "the license file differs from vector.license:\n%s", out.data);
    cr_assert_eq(tally_license_payload(&lic, &pl, err, sizeof err), 0, "%s", err);
    cr_assert_eq(pl.len, payload_len);
    cr_assert_eq(memcmp(pl.data, payload, payload_len), 0, "payload differs:\n%s", pl.data);
    tally_license_pubkeys_t *pub = tally_license_keyring_public(ring);
    tally_license_pubkeys_write(pub, &pt);
    cr_assert_str_eq(pt.data, pubtext);
    cr_assert_str_eq(pt.data, "test-2026-12 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n",
                     "RFC 8032 TEST 1 public key");
    /* The exact bytes signed: "TALLY LICENSE\n" || payload. */
    size_t signed_len;
    char *signed_bytes = vector_read("vector.signed", &signed_len);
    tally_textbuf_t msg = {0};
    tally_license_armor_signed_bytes(TALLY_LICENSE_LABEL, pl.data, pl.len, &msg);
    cr_assert_eq(msg.len, signed_len);
    cr_assert_eq(memcmp(msg.data, signed_bytes, signed_len), 0);
    tally_textbuf_free(&msg);
    free(signed_bytes);
    /* payload_sha256 is the SHA-256 of the payload bytes. */
    unsigned char h[32];
    char hex[65];
    crypto_hash_sha256(h, (const unsigned char *)payload, payload_len);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    cr_assert_str_eq(sha, hex);
    tally_license_pubkeys_free(pub);
    tally_license_keyring_free(ring);
    tally_textbuf_free(&out);
    tally_textbuf_free(&pl);
    tally_textbuf_free(&pt);
    free(file);
    free(payload);
    free(pubtext);
    free(keys);
}

Test(license, the_test_vector_verifies_with_the_committed_public_key)
{
    char err[256];
    size_t file_len, pub_len;
    char *file = vector_read("vector.license", &file_len);
    char *pubtext = vector_read("vector.pub", &pub_len);
    tally_license_pubkeys_t *pub = pub_of(pubtext);
    tally_license_file_t f;
    tally_license_status_t st =
        tally_license_check(file, file_len, pub, NULL, vector_time("2026-12-20T12:00:00Z"), &f, err, sizeof err);
    cr_assert_eq(st, TALLY_LICENSE_VALID, "%s", err);
    tally_license_t want;
    vector_license(&want);
    cr_assert_str_eq(f.license.license_id, want.license_id);
    cr_assert_str_eq(f.license.tenant_name, want.tenant_name);
    cr_assert_eq(f.license.kind, TALLY_LICENSE_PERSONAL_DEV);
    cr_assert_str_eq(f.license.subject_id, "m-ada");
    cr_assert_eq(f.license.feature_count, 3);
    cr_assert_str_eq(f.license.features[0], "api");
    cr_assert_str_eq(f.license.features[2], "seats");
    cr_assert_eq(f.license.seats, 25);
    cr_assert_eq(f.license.monthly_api_calls, 1000000);
    cr_assert_eq(f.license.valid_until, want.valid_until);
    cr_assert_str_eq(f.license.key_id, "test-2026-12");
    tally_license_pubkeys_free(pub);
    free(file);
    free(pubtext);
}

Test(license, round_trip_of_both_kinds)
{
    char err[256];
    tally_license_t lic;
    for (int kind = TALLY_LICENSE_ENVIRONMENT; kind <= TALLY_LICENSE_PERSONAL_DEV; kind++) {
        vector_license(&lic);
        lic.kind = (tally_license_kind_t)kind;
        memset(lic.subject_id, 0, sizeof lic.subject_id);
        snprintf(lic.subject_id, sizeof lic.subject_id, "%s", kind == TALLY_LICENSE_ENVIRONMENT ? "prod" : "m-1");
        lic.feature_count = 0;
        memset(lic.features, 0, sizeof lic.features);
        size_t len;
        char *file = signed_file(KEY_A, &lic, &len);
        cr_assert_str_eq(lic.key_id, "ka", "the signer writes its key id into the license");
        cr_assert(strstr(file, "-----BEGIN TALLY LICENSE-----\n") == file);
        tally_license_file_t f;
        tally_license_keyring_t *ring = ring_of(KEY_A);
        tally_license_pubkeys_t *pub = tally_license_keyring_public(ring);
        cr_assert_eq(tally_license_check(file, len, pub, NULL, lic.valid_from, &f, err, sizeof err),
                     TALLY_LICENSE_VALID, "%s", err);
        cr_assert_eq(memcmp(&f.license, &lic, sizeof lic), 0, "the parsed license equals the one signed");
        char json[TALLY_LICENSE_PAYLOAD_MAX + 1];
        memcpy(json, f.payload, f.payload_len);
        json[f.payload_len] = '\0';
        cr_assert(strstr(json, kind == TALLY_LICENSE_ENVIRONMENT ? "\"environment_id\":\"prod\"" : "\"member_id\":\"m-1\"") != NULL, "%s", json);
        cr_assert(strstr(json, "\"features\":[]") != NULL, "%s", json);
        tally_license_pubkeys_free(pub);
        tally_license_keyring_free(ring);
        free(file);
    }
}

/* The test: every single-byte change of a file is refused. Each
 * byte is replaced by several others (bits flipped, a LF, a base64 digit,
 * '='); the answer must be an exit code 1 status, never valid. Cutting the
 * file at any length and adding a byte are refused too. */
Test(license, every_single_byte_change_is_refused)
{
    char err[256];
    size_t len, pub_len;
    char *file = vector_read("vector.license", &len);
    char *pubtext = vector_read("vector.pub", &pub_len);
    tally_license_pubkeys_t *pub = pub_of(pubtext);
    int64_t now = vector_time("2026-12-20T12:00:00Z");
    cr_assert_eq(tally_license_check(file, len, pub, NULL, now, NULL, err, sizeof err), TALLY_LICENSE_VALID);
    char *copy = malloc(len + 1);
    size_t tried = 0;
    for (size_t i = 0; i < len; i++) {
        const unsigned char orig = (unsigned char)file[i];
        const unsigned char values[] = {orig ^ 0x01, orig ^ 0x02, orig ^ 0x20, orig ^ 0x80, '\n', '\r', 'A',
                                        'g', '=', '/', '+', ' ', 0};
        for (size_t v = 0; v < sizeof values; v++) {
            if (values[v] == orig)
                continue;
            memcpy(copy, file, len);
            copy[i] = (char)values[v];
            tally_license_status_t st = tally_license_check(copy, len, pub, NULL, now, NULL, err, sizeof err);
            cr_assert_neq(st, TALLY_LICENSE_VALID, "byte %zu set to 0x%02x: accepted", i, values[v]);
            cr_assert_eq(tally_license_exit_code(st), 1, "byte %zu set to 0x%02x: %s", i, values[v],
                         tally_license_status_name(st));
            tried++;
        }
    }
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_eq(tally_license_check(file, cut, pub, NULL, now, NULL, err, sizeof err),
                     TALLY_LICENSE_MALFORMED, "cut at %zu accepted", cut);
    memcpy(copy, file, len);
    for (int c = 0; c < 256; c++) {
        copy[len] = (char)c;
        cr_assert_eq(tally_license_check(copy, len + 1, pub, NULL, now, NULL, err, sizeof err),
                     TALLY_LICENSE_MALFORMED, "byte 0x%02x appended: accepted", c);
    }
    cr_assert_gt(tried, len * 10);
    cr_log_info("license: %zu single-byte changes of a %zu-byte file, all refused", tried, len);
    free(copy);
    tally_license_pubkeys_free(pub);
    free(file);
    free(pubtext);
}

Test(license, wrong_key_and_unknown_key_id_are_invalid)
{
    char err[256];
    tally_license_t lic;
    vector_license(&lic);
    size_t len;
    char *file = signed_file(KEY_A, &lic, &len);
    tally_license_keyring_t *other = ring_of(KEY_A_OTHER), *b = ring_of(KEY_B);
    tally_license_pubkeys_t *pub_other = tally_license_keyring_public(other), *pub_b = tally_license_keyring_public(b);
    /* Same key id, another key: the signature does not verify. */
    tally_license_status_t st = tally_license_check(file, len, pub_other, NULL, lic.valid_from, NULL, err, sizeof err);
    cr_assert_eq(st, TALLY_LICENSE_BAD_SIGNATURE, "%s", tally_license_status_name(st));
    cr_assert_eq(tally_license_exit_code(st), 1);
    cr_assert(strstr(err, "ka") != NULL, "%s", err);
    /* A key id the verifier does not have. */
    st = tally_license_check(file, len, pub_b, NULL, lic.valid_from, NULL, err, sizeof err);
    cr_assert_eq(st, TALLY_LICENSE_UNKNOWN_KEY, "%s", tally_license_status_name(st));
    cr_assert_eq(tally_license_exit_code(st), 1);
    cr_assert(strstr(err, "signed by key ka") != NULL, "%s", err);
    tally_license_pubkeys_free(pub_other);
    tally_license_pubkeys_free(pub_b);
    tally_license_keyring_free(other);
    tally_license_keyring_free(b);
    free(file);
}

/* Valid while valid_from - 300 s <= now < valid_until + 300 s. */
Test(license, expired_and_not_yet_valid_with_the_skew_allowance)
{
    char err[256];
    tally_license_t lic;
    vector_license(&lic);
    size_t len;
    char *file = signed_file(KEY_A, &lic, &len);
    tally_license_keyring_t *ring = ring_of(KEY_A);
    tally_license_pubkeys_t *pub = tally_license_keyring_public(ring);
    cr_assert_eq(TALLY_LICENSE_SKEW_S, 300);
    struct {
        int64_t now;
        tally_license_status_t want;
    } cases[] = {
        {lic.valid_from - 301, TALLY_LICENSE_NOT_YET_VALID},
        {lic.valid_from - 300, TALLY_LICENSE_VALID},
        {lic.valid_from, TALLY_LICENSE_VALID},
        {lic.valid_until - 1, TALLY_LICENSE_VALID},
        {lic.valid_until + 299, TALLY_LICENSE_VALID},
        {lic.valid_until + 300, TALLY_LICENSE_EXPIRED},
        {lic.valid_until + 86400 * 365, TALLY_LICENSE_EXPIRED},
        {0, TALLY_LICENSE_NOT_YET_VALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        tally_license_status_t st = tally_license_check(file, len, pub, NULL, cases[i].now, NULL, err, sizeof err);
        cr_assert_eq(st, cases[i].want, "case %zu: %s (%s)", i, tally_license_status_name(st), err);
        cr_assert_eq(tally_license_exit_code(st), cases[i].want == TALLY_LICENSE_VALID ? 0 : 6);
    }
    cr_assert_eq(tally_license_check(file, len, pub, NULL, lic.valid_until + 300, NULL, err, sizeof err),
                 TALLY_LICENSE_EXPIRED);
    cr_assert_str_eq(err, "expired at 2027-01-06T00:00:00Z");
    cr_assert_eq(tally_license_check(file, len, pub, NULL, lic.valid_from - 301, NULL, err, sizeof err),
                 TALLY_LICENSE_NOT_YET_VALID);
    cr_assert_str_eq(err, "not valid before 2026-12-07T00:00:00Z");
    tally_license_pubkeys_free(pub);
    tally_license_keyring_free(ring);
    free(file);
}

Test(license, revoked_with_the_list_valid_without_it)
{
    char err[256];
    tally_license_t lic;
    vector_license(&lic);
    size_t len;
    char *file = signed_file(KEY_A, &lic, &len);
    tally_license_keyring_t *ring = ring_of(KEY_A);
    tally_license_pubkeys_t *pub = tally_license_keyring_public(ring);
    const char *ids[] = {"ffffffff-0000-4000-8000-000000000000", lic.license_id};
    tally_textbuf_t with = {0}, without = {0};
    cr_assert_eq(tally_license_revoked_sign(ids, 2, lic.issued_at, ring, &with, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_license_revoked_sign(ids, 1, lic.issued_at, ring, &without, err, sizeof err), 0, "%s", err);
    tally_license_revoked_t *lw = tally_license_revoked_read(with.data, with.len, pub, err, sizeof err);
    cr_assert_not_null(lw, "%s", err);
    tally_license_revoked_t *lo = tally_license_revoked_read(without.data, without.len, pub, err, sizeof err);
    cr_assert_not_null(lo, "%s", err);
    tally_license_status_t st = tally_license_check(file, len, pub, lw, lic.valid_from, NULL, err, sizeof err);
    cr_assert_eq(st, TALLY_LICENSE_REVOKED);
    cr_assert_eq(tally_license_exit_code(st), 7);
    cr_assert(strstr(err, lic.license_id) != NULL, "%s", err);
    /* Revoked wins over expired: revocation is checked first. */
    cr_assert_eq(tally_license_check(file, len, pub, lw, lic.valid_until + 86400, NULL, err, sizeof err),
                 TALLY_LICENSE_REVOKED);
    cr_assert_eq(tally_license_check(file, len, pub, lo, lic.valid_from, NULL, err, sizeof err),
                 TALLY_LICENSE_VALID, "%s", err);
    cr_assert_eq(tally_license_check(file, len, pub, NULL, lic.valid_from, NULL, err, sizeof err),
                 TALLY_LICENSE_VALID, "offline, without a list: %s", err);
    tally_license_revoked_free(lw);
    tally_license_revoked_free(lo);
    tally_textbuf_free(&with);
    tally_textbuf_free(&without);
    tally_license_pubkeys_free(pub);
    tally_license_keyring_free(ring);
    free(file);
}

/* A new key id signs new licenses; licenses of the older key verify as
 * long as its public key is kept. */
Test(license, key_rotation_keeps_older_licenses_valid)
{
    char err[256];
    tally_license_t old_lic, new_lic;
    vector_license(&old_lic);
    vector_license(&new_lic);
    size_t old_len, new_len;
    char *old_file = signed_file(KEY_A, &old_lic, &old_len);
    char *new_file = signed_file(KEY_A KEY_B, &new_lic, &new_len);
    cr_assert_str_eq(old_lic.key_id, "ka");
    cr_assert_str_eq(new_lic.key_id, "kb", "the last line signs");
    tally_license_keyring_t *both = ring_of(KEY_A KEY_B);
    tally_license_pubkeys_t *pub = tally_license_keyring_public(both);
    cr_assert_eq(tally_license_pubkeys_count(pub), 2, "the older key is still published");
    cr_assert_eq(tally_license_check(old_file, old_len, pub, NULL, old_lic.valid_from, NULL, err, sizeof err),
                 TALLY_LICENSE_VALID, "%s", err);
    cr_assert_eq(tally_license_check(new_file, new_len, pub, NULL, new_lic.valid_from, NULL, err, sizeof err),
                 TALLY_LICENSE_VALID, "%s", err);
    /* Dropping the old public key retires its licenses. */
    tally_license_keyring_t *b = ring_of(KEY_B);
    tally_license_pubkeys_t *only_b = tally_license_keyring_public(b);
    cr_assert_eq(tally_license_check(old_file, old_len, only_b, NULL, old_lic.valid_from, NULL, err, sizeof err),
                 TALLY_LICENSE_UNKNOWN_KEY);
    tally_license_pubkeys_free(only_b);
    tally_license_keyring_free(b);
    tally_license_pubkeys_free(pub);
    tally_license_keyring_free(both);
    free(old_file);
    free(new_file);
}

/* Bytes that a signer might have produced but that are not this format are
 * refused even when the signature over them is good. */
Test(license, validly_signed_but_not_the_format_is_malformed)
{
    char err[256];
    tally_license_keyring_t *ring = ring_of(KEY_A);
    tally_license_pubkeys_t *pub = tally_license_keyring_public(ring);
    tally_license_t lic;
    vector_license(&lic);
    tally_textbuf_t good = {0};
    lic.format = 1;
    snprintf(lic.key_id, sizeof lic.key_id, "ka");
    lic.feature_count = 0;
    cr_assert_eq(tally_license_payload(&lic, &good, err, sizeof err), 0, "%s", err);
    size_t len;
    char *file = sign_raw(KEY_A, good.data, &len);
    cr_assert_eq(tally_license_check(file, len, pub, NULL, lic.valid_from, NULL, err, sizeof err),
                 TALLY_LICENSE_VALID, "the control: %s", err);
    free(file);
    struct {
        const char *from, *to, *why;
    } edits[] = {
        {"{\"features\":[],", "{ \"features\":[],", "canonical"},
        {"\"format\":1", "\"format\":2", "unsupported license format"},
        {"\"format\":1", "\"format\":1.0", "canonical"},
        {"\"features\":[]", "\"features\":[\"b\",\"a\"]", "sorted"},
        {"\"features\":[]", "\"features\":[\"a\",\"a\"]", "sorted"},
        {"\"kind\":\"personal-dev\"", "\"kind\":\"personal\"", "kind"},
        {"\"member_id\":\"m-ada\"", "\"member_id\":\"m-ada\",\"more\":1", "members"},
        {"{\"features\"", "{\"environment_id\":\"prod\",\"features\"", "members"},
        {"\"kind\":\"personal-dev\"", "\"kind\":\"environment\"", "environment_id"},
        {"\"limits\":{", "\"limits\":{\"extra\":1,", "limits"},
        {"\"seats\":25", "\"seats\":-1", "seats"},
        {"\"issued_at\":\"2026-12-07T00:00:00Z\"", "\"issued_at\":\"2026-12-07T00:00:00.000Z\"", "issued_at"},
        {"\"valid_until\":\"2027-01-06T00:00:00Z\"", "\"valid_until\":\"2026-12-06T00:00:00Z\"", "valid_until"},
        {"\"tenant_id\":\"acme\"", "\"tenant_id\":\"ac\\tme\"", "tenant_id"},
        {"\"tenant_id\":\"acme\"", "\"tenant_id\":null", "tenant_id"},
        {"\"license_id\":\"0f1e2d3c", "\"license_id\":\"0F1E2D3C", "license_id"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        const char *at = strstr(good.data, edits[i].from);
        cr_assert_not_null(at, "edit %zu: %s not in %s", i, edits[i].from, good.data);
        tally_textbuf_t bad = {0};
        tally_textbuf_append(&bad, good.data, (size_t)(at - good.data));
        tally_textbuf_puts(&bad, edits[i].to);
        tally_textbuf_puts(&bad, at + strlen(edits[i].from));
        file = sign_raw(KEY_A, bad.data, &len);
        err[0] = '\0';
        tally_license_status_t st = tally_license_check(file, len, pub, NULL, lic.valid_from, NULL, err, sizeof err);
        cr_assert_eq(st, TALLY_LICENSE_MALFORMED, "edit %zu (%s) gave %s", i, edits[i].to,
                     tally_license_status_name(st));
        cr_assert(strstr(err, edits[i].why) != NULL, "edit %zu: %s", i, err);
        free(file);
        tally_textbuf_free(&bad);
    }
    tally_textbuf_free(&good);
    tally_license_pubkeys_free(pub);
    tally_license_keyring_free(ring);
}

Test(license, the_envelope_is_strict)
{
    char err[256];
    size_t len, pub_len;
    char *file = vector_read("vector.license", &len);
    char *pubtext = vector_read("vector.pub", &pub_len);
    int64_t now = vector_time("2026-12-20T00:00:00Z");
    /* CRLF line ends. */
    tally_textbuf_t crlf = {0};
    for (size_t i = 0; i < len; i++) {
        if (file[i] == '\n')
            tally_textbuf_putc(&crlf, '\r');
        tally_textbuf_putc(&crlf, file[i]);
    }
    cr_assert_eq(check(crlf.data, crlf.len, pubtext, now, err, sizeof err), TALLY_LICENSE_MALFORMED);
    cr_assert(strstr(err, "carriage return") != NULL, "%s", err);
    /* The payload wrapped at 64 columns like PEM. */
    tally_textbuf_t wrapped = {0};
    const char *p2 = strchr(file, '\n') + 1, *p3 = strchr(p2, '\n') + 1;
    tally_textbuf_append(&wrapped, file, (size_t)(p2 - file));
    for (const char *p = p2; p < p3 - 1; p += 64) {
        size_t n = (size_t)(p3 - 1 - p) < 64 ? (size_t)(p3 - 1 - p) : 64;
        tally_textbuf_append(&wrapped, p, n);
        tally_textbuf_putc(&wrapped, '\n');
    }
    tally_textbuf_puts(&wrapped, p3);
    cr_assert_eq(check(wrapped.data, wrapped.len, pubtext, now, err, sizeof err), TALLY_LICENSE_MALFORMED);
    /* Oversized. */
    char *big = calloc(1, TALLY_LICENSE_FILE_MAX + 2);
    memcpy(big, file, len);
    memset(big + len, '\n', TALLY_LICENSE_FILE_MAX + 1 - len);
    cr_assert_eq(check(big, TALLY_LICENSE_FILE_MAX + 1, pubtext, now, err, sizeof err), TALLY_LICENSE_MALFORMED);
    cr_assert(strstr(err, "larger than") != NULL, "%s", err);
    /* A revocation list is not a license, even under a good key. */
    size_t rlen;
    char *rev = vector_read("vector.revoked", &rlen);
    cr_assert_eq(check(rev, rlen, pubtext, now, err, sizeof err), TALLY_LICENSE_MALFORMED);
    free(rev);
    free(big);
    tally_textbuf_free(&crlf);
    tally_textbuf_free(&wrapped);
    free(file);
    free(pubtext);
}

Test(license, signing_refuses_what_breaks_a_rule)
{
    char err[256];
    tally_license_keyring_t *ring = ring_of(KEY_A);
    tally_license_t lic;
    tally_textbuf_t out = {0};
#define REFUSED(stmt, word)                                                                                         \
    do {                                                                                                            \
        vector_license(&lic);                                                                                       \
        stmt;                                                                                                       \
        err[0] = '\0';                                                                                              \
        cr_assert_eq(tally_license_sign(&lic, ring, &out, NULL, err, sizeof err), -1, "accepted: %s", #stmt);       \
        cr_assert(strstr(err, word) != NULL, "%s: %s", #stmt, err);                                                 \
        cr_assert_eq(out.len, 0, "a refused license writes nothing");                                               \
    } while (0)
    REFUSED(strcpy(lic.features[1], "seats"), "features");
    REFUSED(lic.feature_count = TALLY_LICENSE_FEATURES_MAX + 1, "features");
    REFUSED(strcpy(lic.features[0], ""), "features");
    REFUSED(strcpy(lic.license_id, "not-a-uuid"), "license_id");
    REFUSED(lic.license_id[0] = 'F', "license_id");
    REFUSED(lic.valid_until = lic.valid_from, "valid_until");
    REFUSED(lic.issued_at = lic.valid_until, "valid_until");
    REFUSED(lic.valid_from = -1, "valid_from");
    REFUSED(lic.seats = -1, "seats");
    REFUSED(lic.monthly_api_calls = INT64_C(9007199254740992), "monthly_api_calls");
    REFUSED(strcpy(lic.tenant_id, "a\nb"), "tenant_id");
    REFUSED(strcpy(lic.tenant_id, ""), "tenant_id");
    REFUSED(strcpy(lic.subject_id, "\x7f"), "member_id");
    REFUSED(strcpy(lic.tenant_name, "bad \xc3"), "tenant_name");
    REFUSED(lic.kind = (tally_license_kind_t)7, "kind");
#undef REFUSED
    /* Control characters are fine in the name (escaped), and the signer
     * sorts the features. */
    vector_license(&lic);
    strcpy(lic.tenant_name, "line\nbreak\x01");
    cr_assert_eq(tally_license_sign(&lic, ring, &out, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(lic.features[0], "api");
    cr_assert_str_eq(lic.features[1], "console");
    cr_assert_str_eq(lic.features[2], "seats");
    tally_textbuf_free(&out);
    tally_license_keyring_free(ring);
}

Test(license, times_are_utc_seconds_in_one_shape)
{
    int64_t t;
    char buf[TALLY_LICENSE_TIME_SIZE];
    cr_assert_eq(tally_license_time_parse("1970-01-01T00:00:00Z", 20, &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(tally_license_time_parse("2026-12-07T02:53:19Z", 20, &t), 0);
    cr_assert_eq(tally_license_time_format(t, buf), 0);
    cr_assert_str_eq(buf, "2026-12-07T02:53:19Z");
    static const char *const bad[] = {"2026-12-07t02:53:19Z", "2026-12-07T02:53:19z", "2026-12-07T02:53:19+00:00",
                                      "2026-12-07T02:53:19.0Z", "2026-12-07 02:53:19Z", "2026-02-30T00:00:00Z",
                                      "2026-12-07T24:00:00Z", "1969-12-31T23:59:59Z", "+026-12-07T02:53:19Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(tally_license_time_parse(bad[i], strlen(bad[i]), &t), -1, "%s accepted", bad[i]);
    cr_assert_eq(tally_license_time_format(-1, buf), -1);
    cr_assert_eq(tally_license_time_format(INT64_C(253402300800), buf), -1);
}

Test(license, exit_codes)
{
    cr_assert_eq(tally_license_exit_code(TALLY_LICENSE_VALID), 0);
    cr_assert_eq(tally_license_exit_code(TALLY_LICENSE_MALFORMED), 1);
    cr_assert_eq(tally_license_exit_code(TALLY_LICENSE_UNKNOWN_KEY), 1);
    cr_assert_eq(tally_license_exit_code(TALLY_LICENSE_BAD_SIGNATURE), 1);
    cr_assert_eq(tally_license_exit_code(TALLY_LICENSE_NOT_YET_VALID), 6);
    cr_assert_eq(tally_license_exit_code(TALLY_LICENSE_EXPIRED), 6);
    cr_assert_eq(tally_license_exit_code(TALLY_LICENSE_REVOKED), 7);
}

/* A personal-dev license lasts 30 days at most and never outlives the
 * contract (whose valid_until day is inclusive). */
Test(license, a_personal_dev_window_never_outlives_the_contract)
{
    const int64_t day = 86400;
    int64_t from_day = vector_time("2026-01-01T00:00:00Z") / day, until_day = vector_time("2026-12-31T00:00:00Z") / day;
    int64_t end = vector_time("2027-01-01T00:00:00Z");
    int64_t f = -1, u = -1;
    int64_t now = vector_time("2026-06-01T10:00:00Z");
    cr_assert_eq(tally_license_personal_dev_window(now, from_day, until_day, &f, &u), 0);
    cr_assert_eq(f, now);
    cr_assert_eq(u, now + 30 * day, "30 days in the middle of the contract");
    now = vector_time("2026-12-20T10:00:00Z");
    cr_assert_eq(tally_license_personal_dev_window(now, from_day, until_day, &f, &u), 0);
    cr_assert_eq(u, end, "cut at the end of the contract's last day");
    now = end - 1;
    cr_assert_eq(tally_license_personal_dev_window(now, from_day, until_day, &f, &u), 0);
    cr_assert_eq(u, end);
    f = u = 7;
    cr_assert_eq(tally_license_personal_dev_window(end, from_day, until_day, &f, &u), -1, "after the contract");
    cr_assert_eq(tally_license_personal_dev_window(from_day * day - 1, from_day, until_day, &f, &u), -1,
                 "before the contract");
    cr_assert_eq(tally_license_personal_dev_window(now, until_day, from_day, &f, &u), -1, "an empty contract");
    cr_assert(f == 7 && u == 7, "outputs untouched on refusal");
    /* Every hour of a one-day contract: inside it, never past it, signable. */
    char err[256];
    tally_license_keyring_t *ring = ring_of(KEY_A);
    for (int64_t t = from_day * day; t < (from_day + 1) * day; t += 3600) {
        cr_assert_eq(tally_license_personal_dev_window(t, from_day, from_day, &f, &u), 0);
        cr_assert(u <= (from_day + 1) * day && u > f);
        tally_license_t lic;
        vector_license(&lic);
        lic.issued_at = lic.valid_from = f;
        lic.valid_until = u;
        tally_textbuf_t out = {0};
        cr_assert_eq(tally_license_sign(&lic, ring, &out, NULL, err, sizeof err), 0, "%s", err);
        tally_textbuf_free(&out);
    }
    tally_license_keyring_free(ring);
}

Test(license, a_stored_payload_signed_again_is_the_same_file)
{
    char err[256];
    size_t file_len, payload_len;
    char *file = vector_read("vector.license", &file_len);
    char *payload = vector_read("vector.payload.json", &payload_len);
    /* The vector's key is the older one now: a newer key signs new licenses,
     * the stored payload is still signed by the key it names. */
    tally_license_keyring_t *ring = ring_of(VECTOR_KEYS KEY_A);
    tally_textbuf_t out = {0};
    tally_license_t lic;
    cr_assert_eq(tally_license_resign(payload, payload_len, ring, &lic, &out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(out.len, file_len);
    cr_assert_eq(memcmp(out.data, file, file_len), 0, "not vector.license:\n%s", out.data);
    cr_assert_str_eq(lic.license_id, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0");
    cr_assert_str_eq(lic.key_id, "test-2026-12");
    tally_textbuf_free(&out);
    tally_license_keyring_free(ring);

    /* Its key retired: no file, the error names the key. */
    ring = ring_of(KEY_A KEY_B);
    cr_assert_eq(tally_license_resign(payload, payload_len, ring, NULL, &out, err, sizeof err),
                 TALLY_LICENSE_RESIGN_NO_KEY);
    cr_assert(strstr(err, "test-2026-12") != NULL, "%s", err);
    cr_assert_eq(out.len, 0);
    tally_license_keyring_free(ring);

    /* A payload that is not canonical (a space added) is not signed. */
    ring = ring_of(VECTOR_KEYS);
    char *spaced = calloc(1, payload_len + 2);
    spaced[0] = ' ';
    memcpy(spaced + 1, payload, payload_len);
    cr_assert_eq(tally_license_resign(spaced, payload_len + 1, ring, NULL, &out, err, sizeof err),
                 TALLY_LICENSE_RESIGN_MALFORMED);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(tally_license_resign("", 0, ring, NULL, &out, err, sizeof err), TALLY_LICENSE_RESIGN_MALFORMED);
    cr_assert_eq(out.len, 0);
    tally_license_keyring_free(ring);
    free(spaced);
    free(file);
    free(payload);
}

/* Unit tests of common/license_revoked: the committed list of the test
 * vector is reproduced and verifies; ids are sorted and repeats dropped;
 * lookups; an empty list; every single-byte change, a list signed by an
 * unknown or another key, a non-canonical or unsorted list (validly
 * signed), and a license presented as a list are refused. */
#include "license_revoked.h"

#include <criterion/criterion.h>
#include <string.h>

#include "license_armor.h"
#include "license_vector.h"

#define ID1 "00000000-0000-4000-8000-000000000001"
#define ID2 "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0"
#define ID3 "ffffffff-ffff-4fff-bfff-ffffffffffff"

static tally_license_pubkeys_t *vector_pub(void)
{
    tally_license_keyring_t *ring = ring_of(VECTOR_KEYS);
    tally_license_pubkeys_t *pub = tally_license_keyring_public(ring);
    tally_license_keyring_free(ring);
    return pub;
}

static char *sign_raw(const char *payload, size_t *len)
{
    tally_license_keyring_t *ring = ring_of(VECTOR_KEYS);
    tally_textbuf_t msg = {0}, out = {0};
    unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES];
    tally_license_armor_signed_bytes(TALLY_LICENSE_REVOKED_LABEL, payload, strlen(payload), &msg);
    tally_license_keyring_sign(ring, (const unsigned char *)msg.data, msg.len, sig);
    tally_license_armor_write(TALLY_LICENSE_REVOKED_LABEL, payload, strlen(payload), sig, &out);
    tally_textbuf_free(&msg);
    tally_license_keyring_free(ring);
    *len = out.len;
    return out.data;
}

Test(license_revoked, the_vector_list_is_reproduced_and_verifies)
{
    char err[256];
    size_t len;
    char *want = vector_read("vector.revoked", &len);
    tally_license_keyring_t *ring = ring_of(VECTOR_KEYS);
    const char *ids[] = {ID2, ID1, ID2};
    tally_textbuf_t out = {0};
    cr_assert_eq(tally_license_revoked_sign(ids, 3, vector_time("2026-12-08T00:00:00Z"), ring, &out, err,
                                            sizeof err), 0, "%s", err);
    cr_assert_eq(out.len, len);
    cr_assert_eq(memcmp(out.data, want, len), 0, "differs from vector.revoked:\n%s", out.data);
    tally_license_pubkeys_t *pub = vector_pub();
    tally_license_revoked_t *list = tally_license_revoked_read(want, len, pub, err, sizeof err);
    cr_assert_not_null(list, "%s", err);
    cr_assert_eq(tally_license_revoked_count(list), 2, "sorted, the repeat dropped");
    cr_assert_eq(tally_license_revoked_issued_at(list), vector_time("2026-12-08T00:00:00Z"));
    cr_assert_str_eq(tally_license_revoked_key_id(list), "test-2026-12");
    cr_assert(tally_license_revoked_contains(list, ID1));
    cr_assert(tally_license_revoked_contains(list, ID2));
    cr_assert_not(tally_license_revoked_contains(list, ID3));
    cr_assert_not(tally_license_revoked_contains(list, "0f1e2d3c"));
    tally_license_revoked_free(list);
    tally_license_pubkeys_free(pub);
    tally_license_keyring_free(ring);
    tally_textbuf_free(&out);
    free(want);
}

Test(license_revoked, an_empty_list_and_bad_ids)
{
    char err[256];
    tally_license_keyring_t *ring = ring_of(VECTOR_KEYS);
    tally_license_pubkeys_t *pub = vector_pub();
    tally_textbuf_t out = {0};
    cr_assert_eq(tally_license_revoked_sign(NULL, 0, 0, ring, &out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(out.data, "-----BEGIN TALLY REVOKED LICENSES-----\n") == out.data);
    tally_license_revoked_t *list = tally_license_revoked_read(out.data, out.len, pub, err, sizeof err);
    cr_assert_not_null(list, "%s", err);
    cr_assert_eq(tally_license_revoked_count(list), 0);
    cr_assert_not(tally_license_revoked_contains(list, ID1));
    tally_license_revoked_free(list);
    tally_textbuf_reset(&out);
    const char *bad[] = {ID1, "0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F0"};
    cr_assert_eq(tally_license_revoked_sign(bad, 2, 0, ring, &out, err, sizeof err), -1);
    cr_assert(strstr(err, "id 1") != NULL, "%s", err);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(tally_license_revoked_sign(bad, 1, -1, ring, &out, err, sizeof err), -1);
    tally_textbuf_free(&out);
    tally_license_pubkeys_free(pub);
    tally_license_keyring_free(ring);
}

Test(license_revoked, every_single_byte_change_is_refused)
{
    char err[256];
    size_t len;
    char *text = vector_read("vector.revoked", &len);
    tally_license_pubkeys_t *pub = vector_pub();
    char *copy = malloc(len);
    for (size_t i = 0; i < len; i++) {
        const unsigned char orig = (unsigned char)text[i];
        const unsigned char values[] = {orig ^ 0x01, orig ^ 0x20, orig ^ 0x80, '\n', 'A', '='};
        for (size_t v = 0; v < sizeof values; v++) {
            if (values[v] == orig)
                continue;
            memcpy(copy, text, len);
            copy[i] = (char)values[v];
            tally_license_revoked_t *list = tally_license_revoked_read(copy, len, pub, err, sizeof err);
            cr_assert_null(list, "byte %zu set to 0x%02x: accepted", i, values[v]);
        }
    }
    free(copy);
    free(text);
    tally_license_pubkeys_free(pub);
}

Test(license_revoked, unknown_key_other_key_and_wrong_documents_are_refused)
{
    char err[256];
    size_t len;
    char *text = vector_read("vector.revoked", &len);
    tally_license_keyring_t *other = ring_of("test-2026-12 1111111111111111111111111111111111111111111111111111111111111111\n");
    tally_license_keyring_t *unknown = ring_of("k9 1111111111111111111111111111111111111111111111111111111111111111\n");
    tally_license_pubkeys_t *pub_other = tally_license_keyring_public(other);
    tally_license_pubkeys_t *pub_unknown = tally_license_keyring_public(unknown);
    cr_assert_null(tally_license_revoked_read(text, len, pub_other, err, sizeof err));
    cr_assert(strstr(err, "does not verify") != NULL, "%s", err);
    cr_assert_null(tally_license_revoked_read(text, len, pub_unknown, err, sizeof err));
    cr_assert(strstr(err, "not among the public keys") != NULL, "%s", err);
    tally_license_pubkeys_t *pub = vector_pub();
    /* Validly signed, but not sorted / not canonical / extra member. */
    static const char *const payloads[] = {
        "{\"format\":1,\"issued_at\":\"2026-12-08T00:00:00Z\",\"key_id\":\"test-2026-12\",\"revoked\":[\"" ID2
        "\",\"" ID1 "\"]}",
        "{\"format\":1,\"issued_at\":\"2026-12-08T00:00:00Z\",\"key_id\":\"test-2026-12\",\"revoked\":[\"" ID1
        "\",\"" ID1 "\"]}",
        "{\"format\":1, \"issued_at\":\"2026-12-08T00:00:00Z\",\"key_id\":\"test-2026-12\",\"revoked\":[]}",
        "{\"extra\":0,\"format\":1,\"issued_at\":\"2026-12-08T00:00:00Z\",\"key_id\":\"test-2026-12\",\"revoked\":[]}",
        "{\"format\":2,\"issued_at\":\"2026-12-08T00:00:00Z\",\"key_id\":\"test-2026-12\",\"revoked\":[]}",
        "[]",
    };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        size_t n;
        char *signed_text = sign_raw(payloads[i], &n);
        cr_assert_null(tally_license_revoked_read(signed_text, n, pub, err, sizeof err), "payload %zu accepted", i);
        free(signed_text);
    }
    /* The control: the same shape, canonical, is accepted. */
    size_t n;
    char *ok = sign_raw("{\"format\":1,\"issued_at\":\"2026-12-08T00:00:00Z\",\"key_id\":\"test-2026-12\","
                        "\"revoked\":[\"" ID1 "\",\"" ID2 "\"]}", &n);
    tally_license_revoked_t *list = tally_license_revoked_read(ok, n, pub, err, sizeof err);
    cr_assert_not_null(list, "%s", err);
    tally_license_revoked_free(list);
    free(ok);
    /* A license is not a revocation list. */
    size_t llen;
    char *lic = vector_read("vector.license", &llen);
    cr_assert_null(tally_license_revoked_read(lic, llen, pub, err, sizeof err));
    free(lic);
    tally_license_pubkeys_free(pub);
    tally_license_pubkeys_free(pub_other);
    tally_license_pubkeys_free(pub_unknown);
    tally_license_keyring_free(other);
    tally_license_keyring_free(unknown);
    free(text);
}

/* license_id.c: the Idempotency-Key rule and the license id derived from
 * (tenant, member, key): fixed, version 8 and variant bits set, different
 * for any different part. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "license_id.h"

Test(license_id, idempotency_keys)
{
    cr_assert(tally_console_idempotency_key_ok("a", 1));
    cr_assert(tally_console_idempotency_key_ok("Ab_9-z", 6));
    char k[66];
    memset(k, 'x', 65);
    k[65] = '\0';
    cr_assert(tally_console_idempotency_key_ok(k, 64));
    cr_assert_not(tally_console_idempotency_key_ok(k, 65), "65 characters");
    cr_assert_not(tally_console_idempotency_key_ok("", 0));
    cr_assert_not(tally_console_idempotency_key_ok(NULL, 0));
    const char *bad[] = {"a b", "a.b", "a/b", "a|b", "é", "a\tb", "a=b", "a+b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(tally_console_idempotency_key_ok(bad[i], strlen(bad[i])), "%s", bad[i]);
    cr_assert_not(tally_console_idempotency_key_ok("ab\0c", 4), "a NUL inside");
}

Test(license_id, derived_from_tenant_member_and_key)
{
    cr_assert(sodium_init() >= 0);
    char a[TALLY_CONSOLE_LICENSE_ID_SIZE], b[TALLY_CONSOLE_LICENSE_ID_SIZE];
    tally_console_license_id("acme", "m-acme", "k1", a);
    /* The first 16 bytes of SHA-256("acme\0m-acme\0k1") with the bits set. */
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)"acme\0m-acme\0k1", 14);
    h[6] = (unsigned char)((h[6] & 0x0f) | 0x80);
    h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
    char want[37];
    snprintf(want, sizeof want, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
             h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
    cr_assert_str_eq(a, want);
    cr_assert_eq(a[14], '8', "version 8: %s", a);
    cr_assert(strchr("89ab", a[19]) != NULL, "variant: %s", a);
    tally_console_license_id("acme", "m-acme", "k1", b);
    cr_assert_str_eq(a, b, "the same request, the same id");
    tally_console_license_id("acme", "m-acme", "k2", b);
    cr_assert_str_neq(a, b, "another key");
    tally_console_license_id("acme", "m-other", "k1", b);
    cr_assert_str_neq(a, b, "another member");
    tally_console_license_id("globex", "m-acme", "k1", b);
    cr_assert_str_neq(a, b, "another tenant");
    /* The separators keep "ab"+"c" apart from "a"+"bc". */
    tally_console_license_id("ab", "c", "k", a);
    tally_console_license_id("a", "bc", "k", b);
    cr_assert_str_neq(a, b);
}

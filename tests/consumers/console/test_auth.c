/* auth: token shapes, the staff token's rules and its comparison. The
 * database lookup is tested against the real binary (test_console_auth). */
#include <criterion/criterion.h>
#include <string.h>

#include "auth.h"

Test(auth, token_shape)
{
    cr_assert(tally_auth_token_shaped("tct_" "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_01234"));
    cr_assert(!tally_auth_token_shaped("tct_" "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_0123"), "42 characters");
    cr_assert(!tally_auth_token_shaped("tct_" "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_012345"), "44 characters");
    cr_assert(!tally_auth_token_shaped("tct_" "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ+/01234"), "base64, not base64url");
    cr_assert(!tally_auth_token_shaped("tck_" "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_01234"));
    cr_assert(!tally_auth_token_shaped(""));
    cr_assert(!tally_auth_token_shaped(NULL));
}

Test(auth, sha256_is_lower_hex_of_the_whole_token)
{
    char hex[TALLY_SESSION_ID_HEX + 1];
    tally_auth_sha256_hex("abc", hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(auth, staff_token_rules)
{
    char err[256];
    cr_assert_eq(tally_auth_staff_token_check("0123456789abcdef0123456789abcdef", err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_auth_staff_token_check("0123456789abcdef0123456789abcde", err, sizeof err), -1, "31 characters");
    cr_assert(strstr(err, "0123") == NULL, "the token is never echoed: %s", err);
    cr_assert_eq(tally_auth_staff_token_check("0123456789abcdef0123456789abcde\"", err, sizeof err), -1);
    cr_assert_eq(tally_auth_staff_token_check("0123456789abcdef 0123456789abcdef", err, sizeof err), -1);
    cr_assert_eq(tally_auth_staff_token_check("tct_0123456789abcdef0123456789abcdef", err, sizeof err), -1,
                 "a console token's prefix");
}

Test(auth, staff_comparison)
{
    tally_auth_t *a = tally_auth_new("0123456789abcdef0123456789abcdef");
    cr_assert(tally_auth_is_staff(a, "0123456789abcdef0123456789abcdef"));
    cr_assert(!tally_auth_is_staff(a, "0123456789abcdef0123456789abcdeF"));
    cr_assert(!tally_auth_is_staff(a, "0123456789abcdef0123456789abcdef0"));
    cr_assert(!tally_auth_is_staff(a, ""));
    tally_principal_t p;
    char err[64];
    cr_assert_eq(tally_auth_authenticate(a, NULL, "0123456789abcdef0123456789abcdef", &p, err, sizeof err), 1);
    cr_assert(p.staff && p.tenant_id[0] == '\0');
    cr_assert_eq(tally_auth_authenticate(a, NULL, "not-a-token", &p, err, sizeof err), 0,
                 "a text that is no token never reaches the database");
    tally_auth_free(a);
    a = tally_auth_new(NULL);
    cr_assert(!tally_auth_is_staff(a, ""), "no staff token: nobody is staff");
    cr_assert(!tally_auth_is_staff(a, "0123456789abcdef0123456789abcdef"));
    tally_auth_free(a);
}

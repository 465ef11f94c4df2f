/* license_list: a license's status at an instant, by the verifier's rule
 * (common/license.h): valid from valid_from - TALLY_LICENSE_SKEW_S
 * (inclusive) until valid_until + TALLY_LICENSE_SKEW_S (exclusive), and
 * revoked above all. The query itself runs on a real console as
 * tally_reader in test_console_licenses.c. */
#include <criterion/criterion.h>

#include "license.h"
#include "license_list.h"

Test(license_list, status_at_the_edges_of_the_window_with_the_skew_allowance)
{
    const int64_t from = 1796601600000, until = from + 30LL * 86400000, skew = TALLY_LICENSE_SKEW_S * 1000LL;
    cr_assert_str_eq(tally_license_list_status(from - skew - 1, from, until, 0), "not yet valid");
    cr_assert_str_eq(tally_license_list_status(from - skew, from, until, 0), "valid");
    cr_assert_str_eq(tally_license_list_status(from - 59999, from, until, 0), "valid",
                     "issued within the minute the page's clock shows: valid");
    cr_assert_str_eq(tally_license_list_status(from, from, until, 0), "valid");
    cr_assert_str_eq(tally_license_list_status(until + skew - 1, from, until, 0), "valid");
    cr_assert_str_eq(tally_license_list_status(until + skew, from, until, 0), "expired");
    cr_assert_str_eq(tally_license_list_status(until + 86400000, from, until, 0), "expired");
    cr_assert_str_eq(tally_license_list_status(from, from, until, 1), "revoked");
    cr_assert_str_eq(tally_license_list_status(until + skew, from, until, 1), "revoked", "revoked beats expired");
    cr_assert_str_eq(tally_license_list_status(from - skew - 1, from, until, 1), "revoked");
}

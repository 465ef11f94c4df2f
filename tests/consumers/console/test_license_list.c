/* license_list: a license's status at an instant, at the window's edges
 * (valid_from inclusive, valid_until exclusive), and revoked above all.
 * The query itself runs on a real console as tally_reader in
 * test_console_licenses.c. */
#include <criterion/criterion.h>

#include "license_list.h"

Test(license_list, status_at_the_edges_of_the_window)
{
    const int64_t from = 1796601600000, until = from + 30LL * 86400000;
    cr_assert_str_eq(tally_license_list_status(from - 1, from, until, 0), "not yet valid");
    cr_assert_str_eq(tally_license_list_status(from, from, until, 0), "valid");
    cr_assert_str_eq(tally_license_list_status(until - 1, from, until, 0), "valid");
    cr_assert_str_eq(tally_license_list_status(until, from, until, 0), "expired");
    cr_assert_str_eq(tally_license_list_status(until + 86400000, from, until, 0), "expired");
    cr_assert_str_eq(tally_license_list_status(from, from, until, 1), "revoked");
    cr_assert_str_eq(tally_license_list_status(until + 1, from, until, 1), "revoked", "revoked beats expired");
    cr_assert_str_eq(tally_license_list_status(from - 1, from, until, 1), "revoked");
}

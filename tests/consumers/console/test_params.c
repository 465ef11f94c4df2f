/* params: periods (bounded to 13 months back), statuses, form values. */
#include <criterion/criterion.h>
#include <string.h>

#include "params.h"

/* 2026-12-07T02:00:00Z */
#define NOW INT64_C(1796522400000)

Test(params, period_window)
{
    char err[128];
    cr_assert_eq(tally_params_period_check("2026-12", NOW, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_params_period_check("2025-11", NOW, err, sizeof err), 0, "13 months back: %s", err);
    cr_assert_eq(tally_params_period_check("2025-10", NOW, err, sizeof err), -1);
    cr_assert(strstr(err, "13 months") != NULL, "%s", err);
    cr_assert_eq(tally_params_period_check("2027-01", NOW, err, sizeof err), -1);
    cr_assert(strstr(err, "future") != NULL, "%s", err);
}

Test(params, period_shapes)
{
    char err[128];
    static const char *const bad[] = {"", "2026", "2026-1", "2026-13", "2026-00", "2026/11", "2026-11-01",
                                      " 2026-11", "2026-11 ", "２０２６-11", "-026-11", "2026-1a", "2026%2D11"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(tally_params_period_check(bad[i], NOW, err, sizeof err), -1, "%s accepted", bad[i]);
    char now[16];
    tally_params_period_now(NOW, now, sizeof now);
    cr_assert_str_eq(now, "2026-12");
}

Test(params, status_values)
{
    cr_assert(tally_params_status_ok("ok") && tally_params_status_ok("warning") && tally_params_status_ok("over"));
    cr_assert(!tally_params_status_ok("") && !tally_params_status_ok("OK") && !tally_params_status_ok("over "));
}

Test(params, decode)
{
    char out[16];
    cr_assert_eq(tally_params_decode("a%2Bb+c", 7, 1, out, sizeof out), 5);
    cr_assert_str_eq(out, "a+b c");
    cr_assert_eq(tally_params_decode("a+b", 3, 0, out, sizeof out), 3);
    cr_assert_str_eq(out, "a+b");
    cr_assert_eq(tally_params_decode("%00", 3, 1, out, sizeof out), -1, "a NUL");
    cr_assert_eq(tally_params_decode("%4", 2, 1, out, sizeof out), -1, "a cut escape");
    cr_assert_eq(tally_params_decode("%zz", 3, 1, out, sizeof out), -1, "not hex");
    cr_assert_eq(tally_params_decode("0123456789abcdef", 16, 1, out, sizeof out), -1, "too long for out");
}

Test(params, form_values)
{
    char out[64];
    const char *body = "a=1&token=tct_x%2By&b=";
    cr_assert_eq(tally_params_form_value(body, strlen(body), "token", out, sizeof out), 1);
    cr_assert_str_eq(out, "tct_x+y");
    cr_assert_eq(tally_params_form_value(body, strlen(body), "b", out, sizeof out), 1);
    cr_assert_str_eq(out, "");
    cr_assert_eq(tally_params_form_value(body, strlen(body), "tok", out, sizeof out), 0);
    const char *twice = "token=a&token=b";
    cr_assert_eq(tally_params_form_value(twice, strlen(twice), "token", out, sizeof out), -1);
    cr_assert_eq(tally_params_form_value("", 0, "token", out, sizeof out), 0);
    cr_assert_eq(tally_params_form_value("token", 5, "token", out, sizeof out), 1);
    cr_assert_str_eq(out, "");
}

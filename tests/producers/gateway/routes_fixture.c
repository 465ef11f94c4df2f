/*
 * routes_fixture.c: a gateway and the schema catalog per test for the route
 * suites (see routes_fixture.h).
 */
#include "routes_fixture.h"

#include "fixtures.h"

#include <criterion/criterion.h>

tally_test_gateway_t routes_gw;
tally_catalog_t *routes_cat;

void routes_setup(void)
{
    char err[512];
    routes_cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(routes_cat, "%s", err);
    tally_test_gateway_start(&routes_gw, NULL);
}

void routes_teardown(void)
{
    tally_test_gateway_stop(&routes_gw);
    tally_catalog_free(routes_cat);
}

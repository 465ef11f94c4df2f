#ifndef TALLY_TEST_GATEWAY_ROUTES_FIXTURE_H
#define TALLY_TEST_GATEWAY_ROUTES_FIXTURE_H

#include "gateway_fixture.h"
#include "schema_catalog.h"

/* What the route suites share: a tally-gateway on the real broker started
 * per test with the default options (routes_setup, routes_teardown as the
 * suite's .init and .fini), and the source tree's schema catalog to decode
 * what it wrote. */
extern tally_test_gateway_t routes_gw;
extern tally_catalog_t *routes_cat;

void routes_setup(void);
void routes_teardown(void);

#endif

/* pages.c: the list of pages (pages.h). */
#include "pages.h"

#include <string.h>

#include "page_defs.h"

#define PAGE(n, title, staff) {#n, title, staff, tally_page_##n##_load, tally_page_##n##_render, 0}

static const tally_page_t all_pages[] = {
    PAGE(overview, "Overview", 0),
    PAGE(usage, "Usage", 0),
    PAGE(seats, "Seats", 0),
    PAGE(team, "Team and environments", 0),
    {"licenses", "Licenses", 0, tally_page_licenses_load, tally_page_licenses_render, 1},
    {"webhook", "Webhook", 0, tally_page_webhook_load, tally_page_webhook_render, 1},
    PAGE(tenants, "Tenants", 1),
    PAGE(product, "Product analytics", 1),
    {"vendor-licenses", "Issued licenses", 1, tally_page_vendor_licenses_load, tally_page_vendor_licenses_render, 1},
};
#define N_PAGES (sizeof all_pages / sizeof all_pages[0])

const tally_page_t *tally_page_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < N_PAGES; i++)
        if (strcmp(all_pages[i].name, name) == 0)
            return &all_pages[i];
    return NULL;
}

const tally_page_t *tally_page_all(size_t *n)
{
    *n = N_PAGES;
    return all_pages;
}

/* The product-event catalog: the real file loads with the events the CLI and
 * Admin app send; malformed catalogs are refused with an error naming them. */
#include "event_catalog.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char errbuf[512];

static tally_event_catalog_t *load_real(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/schemas/product-events.json", getenv("TALLY_SOURCE_DIR"));
    tally_event_catalog_t *cat = tally_event_catalog_load(path, errbuf, sizeof errbuf);
    cr_assert_not_null(cat, "%s", errbuf);
    return cat;
}

/* Writes text to a temp file, loads it, expects failure mentioning needle. */
static void expect_refused(const char *text, const char *needle)
{
    char path[] = "/tmp/tally-catalog-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    errbuf[0] = '\0';
    tally_event_catalog_t *cat = tally_event_catalog_load(path, errbuf, sizeof errbuf);
    unlink(path);
    cr_assert_null(cat, "catalog %s was accepted", text);
    cr_assert(strstr(errbuf, path) != NULL, "error does not name the file: %s", errbuf);
    cr_assert(strstr(errbuf, needle) != NULL, "error '%s' does not mention '%s'", errbuf, needle);
}

Test(event_catalog, real_catalog_has_the_seeded_events)
{
    tally_event_catalog_t *cat = load_real();
    const char *names[] = {"project.create.start", "project.create.end", "project.create.error",
                           "deploy.start", "deploy.end", "deploy.error", "telemetry.enabled",
                           "telemetry.disabled", "admin.started", "custom_domain.updated"};
    cr_assert_eq(tally_event_catalog_count(cat), sizeof names / sizeof names[0]);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int ev = tally_event_catalog_find(cat, names[i], strlen(names[i]));
        cr_assert(ev >= 0, "missing %s", names[i]);
        cr_assert(strlen(tally_event_catalog_purpose(cat, ev)) > 10, "%s has no purpose", names[i]);
    }
    tally_event_catalog_free(cat);
}

Test(event_catalog, sources_and_properties_are_enforced)
{
    tally_event_catalog_t *cat = load_real();
    int create = tally_event_catalog_find(cat, "project.create.start", 20);
    int admin = tally_event_catalog_find(cat, "admin.started", 13);
    cr_assert(tally_event_catalog_source_allowed(cat, create, TALLY_SOURCE_CLI));
    cr_assert_not(tally_event_catalog_source_allowed(cat, create, TALLY_SOURCE_ADMIN));
    cr_assert(tally_event_catalog_source_allowed(cat, admin, TALLY_SOURCE_ADMIN));
    cr_assert(tally_event_catalog_property_allowed(cat, create, "template", 8));
    cr_assert_not(tally_event_catalog_property_allowed(cat, create, "email", 5));
    cr_assert_not(tally_event_catalog_property_allowed(cat, create, "templat", 7));
    cr_assert_eq(tally_event_catalog_find(cat, "project.create", 14), -1);
    cr_assert_eq(tally_event_catalog_find(cat, "nope", 4), -1);
    cr_assert_not(tally_event_catalog_property_allowed(cat, -1, "template", 8));
    tally_event_catalog_free(cat);
}

Test(event_catalog, malformed_catalogs_are_refused)
{
    expect_refused("{\"events\": [", "");
    expect_refused("{}", "events");
    expect_refused("{\"events\": []}", "events");
    expect_refused("{\"events\": [{\"name\": \"Bad Name\", \"purpose\": \"x\", \"sources\": [\"CLI\"], \"properties\": {}}]}", "name");
    expect_refused("{\"events\": [{\"name\": \"a\", \"sources\": [\"CLI\"], \"properties\": {}}]}", "purpose");
    expect_refused("{\"events\": [{\"name\": \"a\", \"purpose\": \"p\", \"sources\": [\"WEB\"], \"properties\": {}}]}", "CLI or ADMIN");
    expect_refused("{\"events\": [{\"name\": \"a\", \"purpose\": \"p\", \"sources\": [\"CLI\"], \"properties\": {\"k\": 1}}]}", "property");
    expect_refused("{\"events\": [{\"name\": \"a\", \"purpose\": \"p\", \"sources\": [\"CLI\"], \"properties\": {}},"
                   "{\"name\": \"a\", \"purpose\": \"p\", \"sources\": [\"CLI\"], \"properties\": {}}]}", "twice");
}

Test(event_catalog, missing_file_is_named)
{
    tally_event_catalog_t *cat = tally_event_catalog_load("/nonexistent/catalog.json", errbuf, sizeof errbuf);
    cr_assert_null(cat);
    cr_assert(strstr(errbuf, "/nonexistent/catalog.json") != NULL, "%s", errbuf);
}

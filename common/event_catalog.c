#include "event_catalog.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_MAX_PROPERTIES 64

typedef struct {
    char *name;
    char *purpose;
    unsigned sources;
    size_t nprops;
    char *props[CATALOG_MAX_PROPERTIES];
    char *prop_purposes[CATALOG_MAX_PROPERTIES];
} catalog_event_t;

struct tally_event_catalog_t {
    size_t count;
    catalog_event_t *events;
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL) {
        fprintf(stderr, "tally: out of memory\n");
        abort();
    }
    return d;
}

static int valid_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_'))
            return 0;
    return 1;
}

void tally_event_catalog_free(tally_event_catalog_t *cat)
{
    if (cat == NULL)
        return;
    for (size_t i = 0; i < cat->count; i++) {
        free(cat->events[i].name);
        free(cat->events[i].purpose);
        for (size_t p = 0; p < cat->events[i].nprops; p++) {
            free(cat->events[i].props[p]);
            free(cat->events[i].prop_purposes[p]);
        }
    }
    free(cat->events);
    free(cat);
}

tally_event_catalog_t *tally_event_catalog_load(const char *path, char *errbuf, size_t errsize)
{
    json_error_t jerr;
    tally_event_catalog_t *cat = NULL;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(errbuf, errsize, "event catalog %s:%d: %s", path, jerr.line, jerr.text);
        return NULL;
    }
    json_t *events = json_object_get(root, "events");
    if (!json_is_array(events) || json_array_size(events) == 0) {
        snprintf(errbuf, errsize, "event catalog %s: needs a non-empty \"events\" array", path);
        goto err;
    }
    cat = calloc(1, sizeof *cat);
    if (cat == NULL || (cat->events = calloc(json_array_size(events), sizeof *cat->events)) == NULL)
        abort();
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        const char *name = json_string_value(json_object_get(ev, "name"));
        const char *purpose = json_string_value(json_object_get(ev, "purpose"));
        json_t *sources = json_object_get(ev, "sources");
        json_t *props = json_object_get(ev, "properties");
        if (name == NULL || !valid_name(name)) {
            snprintf(errbuf, errsize, "event catalog %s: event %zu: \"name\" must be lowercase a-z0-9._ (1-64)", path, i);
            goto err;
        }
        if (tally_event_catalog_find(cat, name, strlen(name)) >= 0) {
            snprintf(errbuf, errsize, "event catalog %s: event %s declared twice", path, name);
            goto err;
        }
        if (purpose == NULL || !*purpose) {
            snprintf(errbuf, errsize, "event catalog %s: event %s has no \"purpose\"", path, name);
            goto err;
        }
        if (!json_is_array(sources) || json_array_size(sources) == 0) {
            snprintf(errbuf, errsize, "event catalog %s: event %s needs \"sources\"", path, name);
            goto err;
        }
        if (!json_is_object(props) || json_object_size(props) > CATALOG_MAX_PROPERTIES) {
            snprintf(errbuf, errsize, "event catalog %s: event %s needs a \"properties\" object (at most %d)",
                     path, name, CATALOG_MAX_PROPERTIES);
            goto err;
        }
        catalog_event_t *ce = &cat->events[cat->count++];
        ce->name = xstrdup(name);
        ce->purpose = xstrdup(purpose);
        size_t j;
        json_t *s;
        json_array_foreach(sources, j, s) {
            const char *sv = json_string_value(s);
            if (sv && strcmp(sv, "CLI") == 0)
                ce->sources |= TALLY_SOURCE_CLI;
            else if (sv && strcmp(sv, "ADMIN") == 0)
                ce->sources |= TALLY_SOURCE_ADMIN;
            else {
                snprintf(errbuf, errsize, "event catalog %s: event %s: source must be CLI or ADMIN", path, name);
                goto err;
            }
        }
        const char *key;
        json_t *why;
        json_object_foreach(props, key, why) {
            if (!valid_name(key) || !json_is_string(why) || !*json_string_value(why)) {
                snprintf(errbuf, errsize,
                         "event catalog %s: event %s: property \"%.64s\" needs a valid name and a purpose",
                         path, name, key);
                goto err;
            }
            ce->prop_purposes[ce->nprops] = xstrdup(json_string_value(why));
            ce->props[ce->nprops++] = xstrdup(key);
        }
    }
    json_decref(root);
    return cat;
err:
    json_decref(root);
    tally_event_catalog_free(cat);
    return NULL;
}

int tally_event_catalog_find(const tally_event_catalog_t *cat, const char *name, size_t len)
{
    for (size_t i = 0; i < cat->count; i++)
        if (strlen(cat->events[i].name) == len && memcmp(cat->events[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

int tally_event_catalog_source_allowed(const tally_event_catalog_t *cat, int ev, tally_source_t source)
{
    return ev >= 0 && (size_t)ev < cat->count && (cat->events[ev].sources & (unsigned)source) != 0;
}

int tally_event_catalog_property_allowed(const tally_event_catalog_t *cat, int ev,
                                         const char *key, size_t len)
{
    if (ev < 0 || (size_t)ev >= cat->count)
        return 0;
    const catalog_event_t *ce = &cat->events[ev];
    for (size_t p = 0; p < ce->nprops; p++)
        if (strlen(ce->props[p]) == len && memcmp(ce->props[p], key, len) == 0)
            return 1;
    return 0;
}

size_t tally_event_catalog_count(const tally_event_catalog_t *cat)
{
    return cat->count;
}

const char *tally_event_catalog_name(const tally_event_catalog_t *cat, int ev)
{
    return cat->events[ev].name;
}

const char *tally_event_catalog_purpose(const tally_event_catalog_t *cat, int ev)
{
    return cat->events[ev].purpose;
}

size_t tally_event_catalog_property_count(const tally_event_catalog_t *cat, int ev)
{
    return cat->events[ev].nprops;
}

const char *tally_event_catalog_property_name(const tally_event_catalog_t *cat, int ev, size_t i)
{
    return cat->events[ev].props[i];
}

const char *tally_event_catalog_property_purpose(const tally_event_catalog_t *cat, int ev, size_t i)
{
    return cat->events[ev].prop_purposes[i];
}

#ifndef TALLY_EVENT_CATALOG_H
#define TALLY_EVENT_CATALOG_H

#include <stddef.h>

/* The product-analytics event catalog (schemas/product-events.json): which
 * event names exist, which sources may send each, which properties each may
 * carry. Read-only once loaded, so threads may share it. */
typedef struct tally_event_catalog_t tally_event_catalog_t;

typedef enum {
    TALLY_SOURCE_CLI = 1 << 0,
    TALLY_SOURCE_ADMIN = 1 << 1,
} tally_source_t;

/* Loads and validates the catalog file. Returns an owned catalog, or NULL
 * with an error naming the file and the faulty entry in errbuf. */
tally_event_catalog_t *tally_event_catalog_load(const char *path, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* NULL is a no-op. */
void tally_event_catalog_free(tally_event_catalog_t *cat);

/* Index of the event called name (length len, need not be NUL-terminated),
 * or -1 when the catalog has no such event. */
int tally_event_catalog_find(const tally_event_catalog_t *cat, const char *name, size_t len);

/* Whether event index ev may be sent by source. */
int tally_event_catalog_source_allowed(const tally_event_catalog_t *cat, int ev, tally_source_t source);

/* Whether event index ev may carry property key (length len). */
int tally_event_catalog_property_allowed(const tally_event_catalog_t *cat, int ev,
                                         const char *key, size_t len);

/* Number of events; name and purpose of event index ev (borrowed from cat). */
size_t tally_event_catalog_count(const tally_event_catalog_t *cat);
const char *tally_event_catalog_name(const tally_event_catalog_t *cat, int ev);
const char *tally_event_catalog_purpose(const tally_event_catalog_t *cat, int ev);

/* Properties of event index ev: count, and name and purpose of the i-th
 * (borrowed from cat), in the catalog file's order. */
size_t tally_event_catalog_property_count(const tally_event_catalog_t *cat, int ev);
const char *tally_event_catalog_property_name(const tally_event_catalog_t *cat, int ev, size_t i);
const char *tally_event_catalog_property_purpose(const tally_event_catalog_t *cat, int ev, size_t i);

#endif

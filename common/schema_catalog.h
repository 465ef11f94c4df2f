/*
 * The schema catalog: every version of every schema, loaded from a folder
 * laid out as <dir>/<Name>/<version>.avsc, found by the fingerprint of its
 * Parsing Canonical Form (what the single-object encoding carries) or as
 * the latest version of a name. Read-only once loaded, so threads share it.
 */
#ifndef TALLY_SCHEMA_CATALOG_H
#define TALLY_SCHEMA_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>
#include <jansson.h>

/* One schema version. Owned by its catalog and valid until
 * tally_catalog_free; treat every field as read-only. */
typedef struct tally_catalog_entry_t {
    char *name;                /* folder name, e.g. "UsageReport" */
    int version;               /* from <version>.avsc, >= 1 */
    char *path;                /* the file it was loaded from */
    json_t *json;              /* the schema as parsed JSON (defaults, docs) */
    avro_schema_t schema;      /* the schema as parsed by avro-c */
    avro_value_iface_t *iface; /* avro-c generic class of schema */
    char *canonical;           /* Parsing Canonical Form */
    uint64_t fingerprint;      /* CRC-64-AVRO of canonical */
    size_t index;              /* position in the catalog, 0..count-1 */
} tally_catalog_entry_t;

typedef struct tally_catalog_t tally_catalog_t;

/* Loads every <dir>/<Name>/<version>.avsc (other files and hidden entries
 * are ignored). Returns an owned catalog (free with tally_catalog_free), or
 * NULL with errbuf naming the folder or file and the reason: unreadable
 * folder, no schema at all, invalid JSON, a schema avro-c rejects, a
 * version that is not a positive integer, a named schema whose name is not
 * its folder's, or one fingerprint under two names. */
tally_catalog_t *tally_catalog_load(const char *dir, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees the catalog and its entries; NULL is a no-op. */
void tally_catalog_free(tally_catalog_t *cat);

/* The entry whose canonical form has this fingerprint (borrowed), or NULL.
 * When versions of one name share a canonical form, the latest of them. */
const tally_catalog_entry_t *tally_catalog_find(const tally_catalog_t *cat, uint64_t fingerprint);

/* The highest version of name (borrowed), or NULL. */
const tally_catalog_entry_t *tally_catalog_latest(const tally_catalog_t *cat, const char *name);

/* One version of name (borrowed), or NULL. */
const tally_catalog_entry_t *tally_catalog_get(const tally_catalog_t *cat, const char *name,
                                               int version);

/* Iteration in (name, version) order: entries 0..count-1 (borrowed). */
size_t tally_catalog_count(const tally_catalog_t *cat);
const tally_catalog_entry_t *tally_catalog_entry(const tally_catalog_t *cat, size_t index);

#endif

/*
 * hostile_bodies.h: the bodies of test_gateway_hostile.c's corpus: valid
 * events broken in exactly one way, and bodies too big to write out (deep
 * nesting, 10 MB strings, oversized batches, gzip bombs and broken gzip,
 * oversized Control Panel events). Each builder returns a malloc'd body and
 * its length in *len.
 */
#ifndef TALLY_TEST_HOSTILE_BODIES_H
#define TALLY_TEST_HOSTILE_BODIES_H

#include <stddef.h>

/* The valid event a case starts from; BASE_NONE: the case's body is the
 * whole body. */
typedef enum { BASE_NONE, BASE_PRODUCT, BASE_USAGE, BASE_SEAT, BASE_CP } base_t;

/* base with patch (a template of a JSON object merged over it; may be
 * NULL) and without the field drop (may be NULL). */
char *patched(base_t base, const char *patch, const char *drop, size_t *len);

char *nest_arrays(size_t *len);
char *nest_objects(size_t *len);
char *string_10mb(size_t *len);
char *property_100kb(size_t *len);
char *property_key_300(size_t *len);
char *properties_1000_keys(size_t *len);
char *batch_over_array(size_t *len);
char *batch_over_ndjson(size_t *len);
char *gzip_bomb_1g(size_t *len);
char *gzip_bomb_9m(size_t *len);
char *gzip_bad_event(size_t *len);
char *gzip_truncated(size_t *len);
char *gzip_trailing_garbage(size_t *len);
char *gzip_corrupt(size_t *len);
char *raw_nul_byte(size_t *len);
char *cp_features_1000(size_t *len);
char *cp_tenant_too_long(size_t *len);

#endif /* TALLY_TEST_HOSTILE_BODIES_H */

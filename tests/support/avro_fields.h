/* Setting one field of an avro-c record by name in a test: each failure is
 * a Criterion assertion naming the field and avro-c's reason. */
#ifndef TALLY_TEST_AVRO_FIELDS_H
#define TALLY_TEST_AVRO_FIELDS_H

#include <avro.h>
#include <stdint.h>

void tally_test_avro_set_string(avro_value_t *rec, const char *field, const char *v);
void tally_test_avro_set_long(avro_value_t *rec, const char *field, int64_t v);
void tally_test_avro_set_enum(avro_value_t *rec, const char *field, int v);

#endif

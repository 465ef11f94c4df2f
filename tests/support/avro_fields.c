#include "avro_fields.h"

#include <criterion/criterion.h>

/* The field, or an assertion failure naming it. */
static avro_value_t field_of(avro_value_t *rec, const char *field)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, field, &f, NULL), 0, "%s: %s", field, avro_strerror());
    return f;
}

void tally_test_avro_set_string(avro_value_t *rec, const char *field, const char *v)
{
    avro_value_t f = field_of(rec, field);
    cr_assert_eq(avro_value_set_string(&f, v), 0, "%s: %s", field, avro_strerror());
}

void tally_test_avro_set_long(avro_value_t *rec, const char *field, int64_t v)
{
    avro_value_t f = field_of(rec, field);
    cr_assert_eq(avro_value_set_long(&f, v), 0, "%s: %s", field, avro_strerror());
}

void tally_test_avro_set_enum(avro_value_t *rec, const char *field, int v)
{
    avro_value_t f = field_of(rec, field);
    cr_assert_eq(avro_value_set_enum(&f, v), 0, "%s: %s", field, avro_strerror());
}

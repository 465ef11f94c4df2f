/*
 * codec_fixture.h: what the suites of common/codec share (test_codec.c:
 * round trips, the header, encoder errors and the hot path;
 * test_codec_hostile.c: malformed and hostile input;
 * test_codec_resolution.c: schema resolution between versions): catalogs,
 * values of the real schemas filled and read by field name, encoding and
 * decoding, hand-made headers and varints, and record R's versions for a
 * catalog in a temporary folder (catalog_dir.h).
 */
#ifndef TALLY_TEST_CODEC_FIXTURE_H
#define TALLY_TEST_CODEC_FIXTURE_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "schema_catalog.h"

/* Record R: v1; v2 widens a, reorders and drops a symbol of E, adds n and
 * p with defaults; v3 adds b without a default. */
#define R_V1 "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}," \
             "{\"name\":\"s\",\"type\":\"string\"}," \
             "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}}]}"
#define R_V2 "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"}," \
             "{\"name\":\"s\",\"type\":\"string\"}," \
             "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"C\",\"B\"]}}," \
             "{\"name\":\"n\",\"type\":[\"null\",\"string\"],\"default\":null}," \
             "{\"name\":\"p\",\"type\":\"int\",\"default\":5}]}"
#define R_V3 "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}," \
             "{\"name\":\"s\",\"type\":\"string\"}," \
             "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}}," \
             "{\"name\":\"b\",\"type\":\"int\"}]}"


tally_catalog_t *load(const char *which);

const tally_catalog_entry_t *latest(const tally_catalog_t *cat, const char *name);

avro_value_t field(avro_value_t *rec, const char *name);

void set_string(avro_value_t *rec, const char *name, const char *s);

void set_long(avro_value_t *rec, const char *name, int64_t v);

void set_int(avro_value_t *rec, const char *name, int32_t v);

void set_enum(avro_value_t *rec, const char *name, const char *symbol);

const char *get_string(avro_value_t *rec, const char *name);

int64_t get_long(avro_value_t *rec, const char *name);

const char *get_enum(avro_value_t *rec, const char *name);

/* The branch of a union field, with its discriminant. */
avro_value_t branch(avro_value_t *rec, const char *name, int *disc);

void fill_usage(avro_value_t *v, int64_t seq);

void fill_seat(avro_value_t *v);

/* ControlPanelEvent with payload branch 1 (EnvironmentCreated) or 5
 * (LicenseTermsSet, which holds an array). */
void fill_control(avro_value_t *v, int which);

/* Encodes v and returns a malloc'd copy of the message. */
uint8_t *encode(tally_encoder_t *enc, avro_value_t *v, size_t *len);

int decode(tally_decoder_t *dec, const void *buf, size_t len, avro_value_t **v,
           const tally_catalog_entry_t **w, char *err, size_t errsize);

/* Zig-zag varint into p; returns its length. */
size_t put_long(uint8_t *p, int64_t v);

size_t put_header(uint8_t *p, const tally_catalog_entry_t *e);

void expect_code(tally_decoder_t *dec, const uint8_t *buf, size_t len, int want, const char *what);

#endif /* TALLY_TEST_CODEC_FIXTURE_H */

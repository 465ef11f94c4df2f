/*
 * avro_buf.h: writes Avro binary (single-object encoding) straight into a
 * reusable buffer, for the clean records the anonymizer emits: their
 * schemas are checked at start (transform.c), so writing them field by
 * field is safe, and it costs a fraction of building avro-c generic values
 * and walking them twice (size, then write). The tests compare its output
 * with avro-c's encoding of the same values.
 */
#ifndef TALLY_ANONYMIZER_AVRO_BUF_H
#define TALLY_ANONYMIZER_AVRO_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct tally_avro_buf_t {
    unsigned char *p;
    size_t len, cap;
} tally_avro_buf_t;

/* Empties b and writes the single-object header (C3 01, fingerprint LE). */
void tally_avro_buf_begin(tally_avro_buf_t *b, uint64_t fingerprint);

/* long, int, enum index, union branch, block count: zigzag varint. */
void tally_avro_buf_long(tally_avro_buf_t *b, int64_t v);

/* string or bytes: length, then the bytes (s borrowed). */
void tally_avro_buf_string(tally_avro_buf_t *b, const char *s, size_t len);

void tally_avro_buf_bool(tally_avro_buf_t *b, int v);

/* Frees the buffer; the struct may be reused. */
void tally_avro_buf_free(tally_avro_buf_t *b);

#endif /* TALLY_ANONYMIZER_AVRO_BUF_H */

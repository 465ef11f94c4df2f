#include "avro_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(tally_avro_buf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (b->p == NULL) {
        fprintf(stderr, "avro_buf: out of memory (%zu bytes)\n", cap);
        abort();
    }
    b->cap = cap;
}

void tally_avro_buf_begin(tally_avro_buf_t *b, uint64_t fingerprint)
{
    b->len = 0;
    reserve(b, 10);
    b->p[0] = 0xC3;
    b->p[1] = 0x01;
    for (int i = 2; i < 10; i++, fingerprint >>= 8)
        b->p[i] = (unsigned char)(fingerprint & 0xff);
    b->len = 10;
}

void tally_avro_buf_long(tally_avro_buf_t *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    reserve(b, 10);
    while (z > 0x7f) {
        b->p[b->len++] = (unsigned char)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    b->p[b->len++] = (unsigned char)z;
}

void tally_avro_buf_string(tally_avro_buf_t *b, const char *s, size_t len)
{
    tally_avro_buf_long(b, (int64_t)len);
    reserve(b, len);
    if (len)
        memcpy(b->p + b->len, s, len);
    b->len += len;
}

void tally_avro_buf_bool(tally_avro_buf_t *b, int v)
{
    reserve(b, 1);
    b->p[b->len++] = v ? 1 : 0;
}

void tally_avro_buf_free(tally_avro_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

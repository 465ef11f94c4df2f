#ifndef TALLY_GATEWAY_BODY_H
#define TALLY_GATEWAY_BODY_H

/* Request bodies: media type, gzip, and splitting into JSON events. */

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TALLY_MEDIA_JSON,      /* application/json: one object or an array */
    TALLY_MEDIA_NDJSON,    /* application/x-ndjson: one object per line */
    TALLY_MEDIA_TEXT,      /* text/plain holding JSON (navigator.sendBeacon) */
} tally_media_t;

/* Errors, each mapping to one HTTP status. */
enum {
    TALLY_BODY_ERR_MEDIA = -415,       /* unsupported Content-Type or charset */
    TALLY_BODY_ERR_ENCODING = -4151,   /* unsupported Content-Encoding (415) */
    TALLY_BODY_ERR_TOO_LARGE = -413,   /* over a size or count cap */
    TALLY_BODY_ERR_MALFORMED = -400,   /* not JSON, bad gzip, empty */
};

/* Classifies a Content-Type header value (may be NULL: then JSON is assumed
 * only if allow_missing). text/plain only when allow_text. A charset other
 * than utf-8 is refused. */
int tally_body_media(const char *content_type, int allow_text, tally_media_t *media,
                     char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Inflates a gzip body into out (capacity cap bytes, borrowed). Refuses,
 * with TALLY_BODY_ERR_TOO_LARGE, output beyond cap (a gzip bomb stops at
 * cap bytes of work), and trailing garbage or a corrupt stream with
 * TALLY_BODY_ERR_MALFORMED. *out_len gets the inflated length. */
int tally_body_gunzip(const void *in, size_t in_len, void *out, size_t cap, size_t *out_len,
                      char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* One event slot of a split body: the event's JSON text, borrowed from
 * the body (a JSON object, well formed, not yet checked against any
 * schema), or text NULL when this item is rejected, and then why. */
typedef struct {
    const char *text;
    size_t len;
    char error[256];
} tally_body_item_t;

/* Splits body (borrowed) into at most max_events items (array of
 * max_events slots, owned by the caller), in one pass that checks the
 * JSON syntax of all of it (json_reader.h) and builds nothing. A JSON
 * object is one item; a JSON array gives one item per element (a
 * non-object element is rejected by index); NDJSON gives one item per
 * non-empty line (a line that is not one JSON object is rejected by
 * index). The body as a whole is refused (TALLY_BODY_ERR_MALFORMED) when
 * it is not JSON at all (anywhere in it: nothing is half-read), is
 * another JSON type, or is empty; more than max_events is
 * TALLY_BODY_ERR_TOO_LARGE. Duplicate keys are left to the conversion of
 * each event. Errors never quote the body. On success *count items are
 * set; their texts point into body. */
int tally_body_split(const char *body, size_t len, tally_media_t media, tally_body_item_t *items,
                     size_t max_events, size_t *count, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif

/* server_body.c: reading the body of a request that writes (the license
 * and alert settings routes): its Content-Type, a JSON object of known
 * members, a short text. */
#include "server_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int tally_cs_content_type_is(console_req_t *r, const char *type)
{
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = strlen(type);
    return ct != NULL && strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int tally_cs_text_ok(const char *s, size_t len, size_t max)
{
    json_t *probe = json_stringn(s, len);   /* NULL: not UTF-8 */
    json_decref(probe);
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
        chars += (c & 0xc0) != 0x80;
    }
    return probe != NULL && chars >= 1 && chars <= max;
}

json_t *tally_cs_body_object(console_req_t *r, const char *const *allowed, char *why, size_t whysize)
{
    json_error_t je;
    json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        snprintf(why, whysize, "the body must be a JSON object%s", j ? "" : " (it does not parse)");
        json_decref(j);
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i] == NULL) {
            snprintf(why, whysize, "unknown field \"%.40s\"", tally_cs_text_ok(key, strlen(key), 40) ? key : "?");
            json_decref(j);
            return NULL;
        }
    }
    return j;
}

/* server_license.c: GET /api/v1/licenses/keys (docs/console.md,
 * docs/licenses.md): the public keys of the console's signing keyring
 * (--license-keys), for verifiers. Anyone may ask: public keys are not
 * secret. JSON [{"key_id","public_key"}] in the keyring's order (oldest
 * first, the signing key last), or with ?format=pub the public key file
 * format ("<id> <hex>" lines) that `tally license verify --public-key`
 * reads. Cacheable (ETag, max-age 300). */
#include "server_internal.h"

#include "license_keys.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char cache_control[] = "public, max-age=300";

enum MHD_Result tally_cs_license_keys(console_req_t *r)
{
    const tally_license_pubkeys_t *keys = r->srv->o.license_keys;
    if (keys == NULL)
        return tally_cs_error(r, 503, "unavailable", "license signing not configured");
    const char *format = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "format");
    if (format != NULL && strcmp(format, "pub") != 0 && strcmp(format, "json") != 0)
        return tally_cs_error(r, 400, "bad parameter", "format: pub or json");
    tally_textbuf_t text = {0};
    tally_license_pubkeys_write(keys, &text);
    size_t len = text.len;
    char *pub = text.data;   /* taken: the answer frees it, or below */
    if (format != NULL && strcmp(format, "pub") == 0)
        return tally_cs_cached(r, "text/plain; charset=utf-8", pub, len, cache_control, NULL);
    /* The JSON face from the same lines: "<id> <hex>\n" each. */
    json_t *list = json_array();
    for (char *line = pub; line < pub + len;) {
        char *nl = memchr(line, '\n', (size_t)(pub + len - line));
        char *sp = memchr(line, ' ', (size_t)((nl ? nl : pub + len) - line));
        if (nl == NULL || sp == NULL)
            break;
        json_array_append_new(list, json_pack("{s:s%,s:s%}", "key_id", line, (size_t)(sp - line), "public_key",
                                              sp + 1, (size_t)(nl - sp - 1)));
        line = nl + 1;
    }
    free(pub);
    char *body = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    return tally_cs_cached(r, "application/json", body, strlen(body), cache_control, NULL);
}

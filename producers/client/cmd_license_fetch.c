/* tally license fetch: a member's personal-dev license from the console
 * (POST /api/v1/licenses with the member's console token), saved as a file.
 *
 * Idempotency. Every request carries an Idempotency-Key, so a retry after a
 * timeout gets the license the first attempt issued instead of a second one.
 * The key is --idempotency-key when given; else the one kept in the sidecar
 * file "<out>.idempotency-key" by an earlier attempt that did not finish;
 * else a new random UUID, written to that sidecar (mode 0600) BEFORE the
 * request is sent. The sidecar is removed once the license is saved; while
 * it exists, `tally license fetch` with the same --out reuses its key.
 *
 * The answer (201, or 200 for a replay) must be a license file that parses
 * (common/license.h; the signature is checked by `tally license verify`).
 * It is saved with mode 0644 crash-safely (temporary file + rename). An
 * existing different file at --out is not replaced without --force.
 * Exit: 0 saved (or already there, same bytes); 1 a bad answer or a
 * different file in the way; 2 usage; 4 refused (401/403/404); 5 the
 * console is unavailable (no answer, 408, 429, 5xx): retry, the key is kept. */
#include "app.h"
#include "commands.h"
#include "fsutil.h"
#include "ids.h"
#include "license.h"
#include "transport.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The console's Idempotency-Key rule (docs/licenses.md, "Idempotency"):
 * 1 to 64 characters of A-Z a-z 0-9 _ -. */
#define KEY_MAX 64

static int key_ok(const char *s, size_t n)
{
    if (n == 0 || n > KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

/* The key to send: --idempotency-key, the sidecar's, or a new one saved
 * to the sidecar. 0, or -1 (message printed). */
static int idempotency_key(const tally_client_settings_t *s, const char *sidecar, char key[KEY_MAX + 1])
{
    char err[512], *data = NULL;
    size_t len = 0;
    if (s->idempotency_key != NULL) {
        size_t n = strlen(s->idempotency_key);
        if (!key_ok(s->idempotency_key, n)) {
            fprintf(stderr, "tally: license fetch: --idempotency-key wants 1-%d characters of A-Z a-z 0-9 _ -\n",
                    KEY_MAX);
            return -1;
        }
        memcpy(key, s->idempotency_key, n + 1);
        return 0;
    }
    int rc = tally_fs_read_file(sidecar, KEY_MAX + 2, &data, &len, err, sizeof err);
    if (rc == 0) {
        while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
            data[--len] = '\0';
        if (key_ok(data, len)) {
            memcpy(key, data, len + 1);
            free(data);
            fprintf(stderr, "tally: license fetch: retrying with the idempotency key %s kept in %s\n", key,
                    sidecar);
            return 0;
        }
        free(data);
    } else if (rc != TALLY_FS_ENOENT) {
        fprintf(stderr, "tally: license fetch: %s\n", err);
        return -1;
    }
    tally_ids_uuid4(key);
    char line[KEY_MAX + 2];
    int n = snprintf(line, sizeof line, "%s\n", key);
    if (tally_fs_write_atomic(sidecar, line, (size_t)n, 0600, err, sizeof err) != 0) {
        fprintf(stderr, "tally: license fetch: cannot keep the idempotency key: %s\n", err);
        return -1;
    }
    return 0;
}

/* The console's {"error","detail"}, or the start of the body. */
static void print_refusal(long status, const tally_response_t *r)
{
    json_t *j = json_loadb(r->body, r->len, 0, NULL);
    const char *e = j ? json_string_value(json_object_get(j, "error")) : NULL;
    const char *d = j ? json_string_value(json_object_get(j, "detail")) : NULL;
    if (e != NULL)
        fprintf(stderr, "tally: license fetch: the console answered %ld %s%s%s\n", status, e, d ? ": " : "",
                d ? d : "");
    else
        fprintf(stderr, "tally: license fetch: the console answered %ld: %.200s\n", status, r->body);
    json_decref(j);
}

/* Saves text to out unless a different file is there (without --force).
 * An exit code. */
static int save(const tally_client_settings_t *s, const char *out, const char *text, size_t len)
{
    char err[512], *old = NULL;
    size_t old_len = 0;
    int rc = tally_fs_read_file(out, TALLY_LICENSE_FILE_MAX + 1, &old, &old_len, err, sizeof err);
    if (rc == 0) {
        bool same = old_len == len && memcmp(old, text, len) == 0;
        free(old);
        if (same)
            return TALLY_EXIT_OK;
        if (!s->force) {
            fprintf(stderr,
                    "tally: license fetch: %s holds another file: not replaced (--force replaces it; "
                    "the idempotency key is kept, so a retry gets this same license)\n",
                    out);
            return TALLY_EXIT_ERROR;
        }
    }
    if (tally_fs_write_atomic(out, text, len, 0644, err, sizeof err) != 0) {
        fprintf(stderr, "tally: license fetch: cannot save %s: %s\n", out, err);
        return TALLY_EXIT_ERROR;
    }
    return TALLY_EXIT_OK;
}

int tally_license_fetch(const tally_client_settings_t *s, size_t argc, const char *const argv[])
{
    (void)argv;
    char err[512], key[KEY_MAX + 1], header[KEY_MAX + 32];
    if (argc != 0 || s->console_url == NULL || s->token == NULL) {
        fprintf(stderr, "tally: license fetch: give --console-url URL and --token TOKEN (or TALLY_TOKEN), "
                        "and no other argument\n");
        return TALLY_EXIT_USAGE;
    }
    const char *out = s->out != NULL ? s->out : "tally.license";
    char *sidecar = malloc(strlen(out) + sizeof ".idempotency-key");
    if (sidecar == NULL)
        abort();
    sprintf(sidecar, "%s.idempotency-key", out);
    int rc = TALLY_EXIT_USAGE;
    tally_transport_t *t = NULL;
    tally_response_t r = {0};
    if (idempotency_key(s, sidecar, key) != 0)
        goto done;
    if (tally_transport_cleartext_remote(s->console_url))
        fprintf(stderr, "tally: warning: sending the console token over cleartext http:// to %s\n", s->console_url);
    tally_transport_opts_t o = {.base_url = s->console_url,
                                .timeout_ms = s->request_timeout_ms,
                                .connect_timeout_ms = s->connect_timeout_ms,
                                .debug = s->debug ? stderr : NULL};
    if ((t = tally_transport_new(&o, err, sizeof err)) == NULL) {
        fprintf(stderr, "tally: license fetch: %s\n", err);
        rc = TALLY_EXIT_ERROR;
        goto done;
    }
    snprintf(header, sizeof header, "Idempotency-Key: %s", key);
    if (tally_transport_post_with(t, "/api/v1/licenses", s->token, "console token", header, "{}", 2, &r) != 0) {
        fprintf(stderr, "tally: license fetch: no answer from %s: %s; retry: the idempotency key %s is kept\n",
                s->console_url, r.error, key);
        rc = TALLY_EXIT_DEFERRED;
        goto done;
    }
    if (r.status == 401 || r.status == 403 || r.status == 404) {
        print_refusal(r.status, &r);
        rc = TALLY_EXIT_REFUSED;
        goto done;
    }
    if (r.status == 408 || r.status == 429 || r.status >= 500) {
        print_refusal(r.status, &r);
        fprintf(stderr, "tally: license fetch: retry later: the idempotency key %s is kept\n", key);
        rc = TALLY_EXIT_DEFERRED;
        goto done;
    }
    if (r.status != 200 && r.status != 201) {
        print_refusal(r.status, &r);
        rc = TALLY_EXIT_ERROR;
        goto done;
    }
    tally_license_file_t *file = calloc(1, sizeof *file);
    if (file == NULL)
        abort();
    if (tally_license_parse(r.body, r.len, file, err, sizeof err) != 0) {
        fprintf(stderr, "tally: license fetch: the console's answer is not a license file: %s\n", err);
        free(file);
        rc = TALLY_EXIT_ERROR;
        goto done;
    }
    rc = save(s, out, r.body, r.len);
    if (rc == TALLY_EXIT_OK) {
        char until[TALLY_LICENSE_TIME_SIZE];
        if (tally_license_time_format(file->license.valid_until, until) != 0)
            until[0] = '\0';
        printf("saved %s: license %s (%s, tenant %s) until %s, idempotency key %s\n", out,
               file->license.license_id, tally_license_kind_name(file->license.kind), file->license.tenant_id,
               until, key);
        if (unlink(sidecar) != 0 && errno != ENOENT)
            fprintf(stderr, "tally: license fetch: cannot remove %s: %s\n", sidecar, strerror(errno));
    }
    free(file);
done:
    tally_response_clear(&r);
    tally_transport_free(t);
    free(sidecar);
    return rc;
}

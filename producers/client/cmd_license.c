/* tally license verify|show: checks a signed license file offline with the
 * pure core of common/license.h (docs/licenses.md, "Verifying with the tally
 * client"). No spool, no state: the answer is one line and the exit code
 * of tally_license_exit_code, 2 for a bad command line or an unreadable
 * file or key. The one network use: --online gets the revocation list from
 * the console (a list that cannot be had is exit 1: revocation is then
 * unknown, and the user asked for it). */
#include "app.h"
#include "commands.h"
#include "fsutil.h"
#include "license.h"
#include "license_keys.h"
#include "license_revoked.h"
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Reads path (followed like any file the user names) into a new buffer
 * (owned). 0, or -1 with a message on stderr. */
static int read_named(const char *what, const char *path, size_t max, char **data, size_t *len)
{
    char err[512];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "tally: license: cannot open %s %s: %s\n", what, path, strerror(errno));
        return -1;
    }
    int rc = tally_fs_read_fd(fd, max, data, len, err, sizeof err);
    close(fd);
    if (rc != 0)
        fprintf(stderr, "tally: license: cannot read %s %s: %s\n", what, path, err);
    return rc == 0 ? 0 : -1;
}

/* The public keys of --public-key or --public-keys (owned), NULL with a
 * message when neither or both are given or they cannot be read. */
static tally_license_pubkeys_t *load_keys(const tally_client_settings_t *s)
{
    char err[512];
    if (s->public_key != NULL && s->public_keys != NULL) {
        fprintf(stderr, "tally: license: give --public-key FILE or --public-keys DIR, not both\n");
        return NULL;
    }
    tally_license_pubkeys_t *keys = tally_license_pubkeys_new();
    int rc = s->public_key != NULL ? tally_license_pubkeys_load_file(keys, s->public_key, err, sizeof err)
                                   : tally_license_pubkeys_load_dir(keys, s->public_keys, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "tally: license: public keys refused: %s\n", err);
        tally_license_pubkeys_free(keys);
        return NULL;
    }
    return keys;
}

/* The instant to check at: --now (RFC 3339 UTC, "YYYY-MM-DDTHH:MM:SSZ") or
 * the clock. 0 or -1 (message printed). */
static int check_time(const tally_client_settings_t *s, int64_t *now)
{
    if (s->now == NULL) {
        *now = (int64_t)time(NULL);
        return 0;
    }
    if (tally_license_time_parse(s->now, strlen(s->now), now) != 0) {
        fprintf(stderr, "tally: license: --now wants YYYY-MM-DDTHH:MM:SSZ, not \"%.40s\"\n", s->now);
        return -1;
    }
    return 0;
}

static void describe(const tally_license_t *lic, char *out, size_t size)
{
    char until[TALLY_LICENSE_TIME_SIZE];
    if (tally_license_time_format(lic->valid_until, until) != 0)
        until[0] = '\0';
    snprintf(out, size, "license %s (%s, tenant %s, %s %s, key %s) valid until %s", lic->license_id,
             tally_license_kind_name(lic->kind), lic->tenant_id,
             lic->kind == TALLY_LICENSE_ENVIRONMENT ? "environment" : "member", lic->subject_id, lic->key_id, until);
}

/* The revocation list from the console (--online): GET
 * <console-url>/api/v1/licenses/revoked into a new buffer (owned). 0, or -1
 * with a line printed (no answer, or not a 200). */
static int get_online(const tally_client_settings_t *s, char **text, size_t *len)
{
    char err[512];
    tally_transport_opts_t o = {.base_url = s->console_url,
                                .timeout_ms = s->request_timeout_ms,
                                .connect_timeout_ms = s->connect_timeout_ms,
                                .debug = s->debug ? stderr : NULL};
    tally_transport_t *t = tally_transport_new(&o, err, sizeof err);
    if (t == NULL) {
        printf("invalid: revocation not checked: %s\n", err);
        return -1;
    }
    tally_response_t r = {0};
    int rc = -1;
    if (tally_transport_post_with(t, "/api/v1/licenses/revoked", NULL, NULL, NULL, NULL, 0, &r) != 0)
        printf("invalid: revocation not checked: no answer from %s: %s\n", s->console_url, r.error);
    else if (r.status != 200)
        printf("invalid: revocation not checked: %s answered %ld for the revocation list\n", s->console_url,
               r.status);
    else {
        *text = r.body;
        *len = r.len;
        r.body = NULL;
        rc = 0;
    }
    tally_response_clear(&r);
    tally_transport_free(t);
    return rc;
}

/* --revoked LIST or --online, verified with keys: an owned list, or NULL
 * with a message (*bad set to the exit code) when it is refused; NULL and
 * *bad clear with neither. */
static tally_license_revoked_t *load_revoked(const tally_client_settings_t *s, const tally_license_pubkeys_t *keys,
                                             int64_t now, int *bad)
{
    char err[512], *text = NULL;
    size_t len = 0;
    const char *where = s->online ? s->console_url : s->revoked;
    *bad = 0;
    if (s->revoked == NULL && !s->online)
        return NULL;
    if (s->online && get_online(s, &text, &len) != 0) {
        *bad = 1;
        return NULL;
    }
    if (!s->online &&
        read_named("revocation list", s->revoked, TALLY_LICENSE_REVOKED_FILE_MAX, &text, &len) != 0) {
        *bad = TALLY_EXIT_USAGE;
        return NULL;
    }
    tally_license_revoked_t *list = tally_license_revoked_read(text, len, keys, err, sizeof err);
    free(text);
    if (list == NULL) {
        printf("invalid: revocation list from %s refused: %s\n", where, err);
        *bad = 1;
        return NULL;
    }
    int64_t issued = tally_license_revoked_issued_at(list);
    if (now - issued > TALLY_LICENSE_REVOKED_MAX_AGE_S) {
        char at[TALLY_LICENSE_TIME_SIZE];
        if (tally_license_time_format(issued, at) != 0)
            at[0] = '\0';
        fprintf(stderr,
                "tally: warning: the revocation list %s was issued at %s, more than %d days ago: a license "
                "revoked since is not in it (fetch a new one)\n",
                where, at, TALLY_LICENSE_REVOKED_MAX_AGE_S / 86400);
    }
    return list;
}

static int license_verify(const tally_client_settings_t *s, const char *path)
{
    char err[512], line[1024], *text = NULL;
    size_t len = 0;
    int64_t now;
    if (s->public_key == NULL && s->public_keys == NULL) {
        fprintf(stderr, "tally: license verify: which public keys? --public-key FILE or --public-keys DIR\n");
        return TALLY_EXIT_USAGE;
    }
    if (s->online && (s->revoked != NULL || s->console_url == NULL)) {
        fprintf(stderr, "tally: license verify: --online wants --console-url URL, and no --revoked\n");
        return TALLY_EXIT_USAGE;
    }
    if (check_time(s, &now) != 0)
        return TALLY_EXIT_USAGE;
    tally_license_pubkeys_t *keys = load_keys(s);
    if (keys == NULL)
        return TALLY_EXIT_USAGE;
    if (read_named("license file", path, TALLY_LICENSE_FILE_MAX + 1, &text, &len) != 0) {
        tally_license_pubkeys_free(keys);
        return TALLY_EXIT_USAGE;
    }
    int bad;
    tally_license_revoked_t *revoked = load_revoked(s, keys, now, &bad);
    if (bad != 0) {
        free(text);
        tally_license_pubkeys_free(keys);
        return bad;
    }
    tally_license_file_t *file = calloc(1, sizeof *file);
    if (file == NULL)
        abort();
    err[0] = '\0';
    tally_license_status_t st = tally_license_check(text, len, keys, revoked, now, file, err, sizeof err);
    if (st == TALLY_LICENSE_MALFORMED) {
        printf("invalid: %s is not a license file: %s\n", path, err);
    } else {
        describe(&file->license, line, sizeof line);
        if (st == TALLY_LICENSE_VALID)
            printf("valid: %s%s\n", line, revoked ? "" : " (revocation not checked)");
        else
            printf("%s: %s: %s\n", st == TALLY_LICENSE_UNKNOWN_KEY || st == TALLY_LICENSE_BAD_SIGNATURE ? "invalid"
                                                                                                      : "refused",
                   line, err[0] ? err : tally_license_status_name(st));
    }
    int rc = tally_license_exit_code(st);
    free(file);
    free(text);
    tally_license_revoked_free(revoked);
    tally_license_pubkeys_free(keys);
    return rc;
}

static int license_show(const tally_client_settings_t *s, const char *path)
{
    char err[512], *text = NULL;
    size_t len = 0;
    if (read_named("license file", path, TALLY_LICENSE_FILE_MAX + 1, &text, &len) != 0)
        return TALLY_EXIT_USAGE;
    tally_license_file_t *file = calloc(1, sizeof *file);
    if (file == NULL)
        abort();
    int rc = 0;
    if (tally_license_parse(text, len, file, err, sizeof err) != 0) {
        printf("invalid: %s is not a license file: %s\n", path, err);
        rc = 1;
        goto done;
    }
    json_t *payload = json_loadb((const char *)file->payload, file->payload_len, 0, NULL);
    char *pretty = payload ? json_dumps(payload, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (pretty == NULL)
        abort(); /* parsed above: only out of memory */
    printf("%s\n", pretty);
    free(pretty);
    json_decref(payload);
    if (s->public_key == NULL && s->public_keys == NULL) {
        printf("signature: key %s, not checked (give --public-key FILE or --public-keys DIR)\n",
               file->license.key_id);
        goto done;
    }
    tally_license_pubkeys_t *keys = load_keys(s);
    if (keys == NULL) {
        rc = TALLY_EXIT_USAGE;
        goto done;
    }
    tally_license_status_t st = tally_license_verify_signature(file, keys, err, sizeof err);
    if (st == TALLY_LICENSE_VALID)
        printf("signature: key %s, verified (validity window and revocation: tally license verify)\n",
               file->license.key_id);
    else
        printf("signature: key %s, REFUSED: %s\n", file->license.key_id, err);
    rc = tally_license_exit_code(st);
    tally_license_pubkeys_free(keys);
done:
    free(file);
    free(text);
    return rc;
}

int tally_cmd_license(const tally_client_settings_t *s, size_t argc, const char *const argv[])
{
    if (argc == 0) {
        fprintf(stderr, "tally: license: verify FILE, show FILE or fetch (see tally --help)\n");
        return TALLY_EXIT_USAGE;
    }
    bool verify = strcmp(argv[0], "verify") == 0, show = strcmp(argv[0], "show") == 0;
    if (strcmp(argv[0], "fetch") == 0)
        return tally_license_fetch(s, argc - 1, argv + 1);
    if (!verify && !show) {
        fprintf(stderr, "tally: license: unknown subcommand \"%.40s\": verify, show or fetch\n", argv[0]);
        return TALLY_EXIT_USAGE;
    }
    if (argc != 2) {
        fprintf(stderr, "tally: license %s: give exactly one license FILE\n", argv[0]);
        return TALLY_EXIT_USAGE;
    }
    return verify ? license_verify(s, argv[1]) : license_show(s, argv[1]);
}

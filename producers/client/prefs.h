#ifndef TALLY_CLIENT_PREFS_H
#define TALLY_CLIENT_PREFS_H

/* The user's choices, kept in <config-dir>/config.json:
 *
 *   {"telemetry": false, "install_id": "<uuid>", "notice_shown_at": "<RFC 3339>"}
 *
 * telemetry: product analytics on (default) or off; install_id: the random
 * id of this installation that product events carry; notice_shown_at: when
 * the first-run notice was shown. Keys this version does not know are kept
 * as they are when the file is saved. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct tally_prefs_t {
    char *path;   /* <config-dir>/config.json, owned */
    json_t *doc;  /* the file's object, owned */
} tally_prefs_t;

/* Loads <config_dir>/config.json (borrowed path) into p; a missing file is
 * an empty one. A file that is not a JSON object is an error naming it. On
 * success free p with tally_prefs_clear. */
int tally_prefs_load(tally_prefs_t *p, const char *config_dir, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Creates the folder (mode 0700) and saves crash-safely (mode 0600). */
int tally_prefs_save(const tally_prefs_t *p, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

void tally_prefs_clear(tally_prefs_t *p);

bool tally_prefs_telemetry_enabled(const tally_prefs_t *p);
void tally_prefs_set_telemetry(tally_prefs_t *p, bool enabled);

/* The install id (borrowed from p), or NULL when none was made yet. */
const char *tally_prefs_install_id(const tally_prefs_t *p);
/* Makes and stores a new install id; returns it (borrowed from p). */
const char *tally_prefs_new_install_id(tally_prefs_t *p);

bool tally_prefs_notice_shown(const tally_prefs_t *p);
void tally_prefs_set_notice_shown(tally_prefs_t *p, long long now_ms);

#endif

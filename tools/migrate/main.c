/* tally-migrate: applies deploy/postgres/migrations to a database, each
 * exactly once, and refuses a history that was tampered with. */
#include "config.h"
#include "log.h"
#include "pg.h"
#include "pg_migrate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    char *pg_url;
    char *migrations;
    int log_level;
} migrate_settings_t;

int main(int argc, char **argv)
{
    migrate_settings_t s = {0};
    const tally_config_option_t options[] = {
        TALLY_CONFIG_SECRET_STR("pg-url", &s.pg_url, "postgresql://postgres@127.0.0.1:55432/tally",
                                "PostgreSQL connection URL or key=value string"),
        TALLY_CONFIG_STR("migrations", &s.migrations, "deploy/postgres/migrations",
                         "folder of NNNN_name.sql migrations"),
        TALLY_CONFIG_ENUM("log-level", &s.log_level, "info", tally_log_level_names,
                          "debug, info, warn or error"),
    };
    char err[1024];
    int rc = 1, applied = 0;
    PGconn *conn = NULL;
    tally_config_t *cfg = tally_config_new("tally-migrate", TALLY_VERSION,
        "Applies the PostgreSQL migrations that the database has not recorded yet.",
        options, sizeof options / sizeof options[0]);
    int prc = tally_config_parse(cfg, argc, argv, err, sizeof err);
    if (prc == TALLY_CONFIG_HELP || prc == TALLY_CONFIG_VERSION) {
        rc = 0;
        goto cleanup;
    }
    if (prc != 0) {
        fprintf(stderr, "tally-migrate: %s (see --help)\n", err);
        rc = 2;
        goto cleanup;
    }
    tally_log_set_level((tally_log_level_t)s.log_level);
    conn = tally_pg_connect(s.pg_url, "tally-migrate", err, sizeof err);
    if (conn == NULL) {
        tally_log_error("migrate", "%s", err);
        goto cleanup;
    }
    if (tally_migrate_apply(conn, s.migrations, &applied, err, sizeof err) != 0) {
        tally_log_error("migrate", "%s", err);
        goto cleanup;
    }
    tally_log_info("migrate", "%d migration(s) applied; schema up to date", applied);
    rc = 0;
cleanup:
    PQfinish(conn);
    tally_config_free(cfg);
    return rc;
}

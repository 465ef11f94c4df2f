/* The real `tally` binary and the files it keeps: it follows no symbolic
 * link in its spool or state folders (a planted link is refused, never read
 * nor written through), refuses a spool or state folder that another user
 * owns or that group or others may write (naming the folder), and warns
 * when it would send an API key or admin token over cleartext http:// to a
 * host other than this machine. The gateway is down: events go to the
 * spool. Runs as root (it chowns a folder to nobody). */
#include "app.h"
#include "cli_harness.h"

#include <pwd.h>

static cli_env_t env;
static char down_flag[128];
static char tally_dir[160], spool_dir[200];

static void setup(void)
{
    cli_env_init(&env);
    snprintf(down_flag, sizeof down_flag, "--gateway=http://127.0.0.1:%d", cli_closed_port());
    snprintf(tally_dir, sizeof tally_dir, "%s/tally", env.state);
    snprintf(spool_dir, sizeof spool_dir, "%s/spool", tally_dir);
}

static void teardown(void)
{
    cli_env_cleanup(&env);
}

TestSuite(cli_files, .init = setup, .fini = teardown, .timeout = 120);

static void mkdir_mode(const char *path, mode_t mode)
{
    cr_assert(mkdir(path, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", path, strerror(errno));
    cr_assert_eq(chmod(path, mode), 0, "chmod %s: %s", path, strerror(errno));
}

static void make_state_folders(mode_t state_mode, mode_t spool_mode)
{
    mkdir_mode(env.state, 0700);
    mkdir_mode(tally_dir, state_mode);
    mkdir_mode(spool_dir, spool_mode);
}

/* Segment files (seg-*) in folder. */
static int segments_in(const char *folder)
{
    DIR *d = opendir(folder);
    cr_assert_not_null(d, "%s: %s", folder, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, "seg-", 4) == 0;
    closedir(d);
    return n;
}

static cli_result_t send_product(void)
{
    const char *args[] = {down_flag, "send", "product", "{\"event\":\"deploy.start\"}", NULL};
    return cli_run(&env, NULL, (const char *const[]){"TALLY_TELEMETRY=1", NULL}, args);
}

/* A send with the spool folder refused: the event is not spooled, stderr
 * names the folder and why. */
static void assert_refused(const char *folder, const char *why)
{
    cli_result_t r = send_product();
    cr_assert(strstr(r.err, folder) != NULL, "stderr names %s: %s", folder, r.err);
    cr_assert(strstr(r.err, why) != NULL, "stderr says '%s': %s", why, r.err);
    cr_assert_neq(r.status, TALLY_EXIT_DEFERRED, "nothing may be spooled there");
    cr_assert_eq(segments_in(spool_dir), 0, "a segment was written into the refused folder");
    cli_result_free(&r);
}

Test(cli_files, spool_folder_writable_by_others_is_refused)
{
    make_state_folders(0700, 0777);
    assert_refused(spool_dir, "writable by group or others");
    /* Group-writable alone is refused too. */
    cr_assert_eq(chmod(spool_dir, 0770), 0);
    assert_refused(spool_dir, "writable by group or others");
    /* And a state folder others may write (they could swap the spool). */
    cr_assert_eq(chmod(spool_dir, 0700), 0);
    cr_assert_eq(chmod(tally_dir, 0757), 0);
    assert_refused(tally_dir, "writable by group or others");
    /* Fixed: the same send spools. */
    cr_assert_eq(chmod(tally_dir, 0700), 0);
    cli_result_t r = send_product();
    cr_assert_eq(r.status, TALLY_EXIT_DEFERRED);
    cr_assert_eq(segments_in(spool_dir), 1);
    cli_result_free(&r);
}

Test(cli_files, spool_folder_of_another_user_is_refused)
{
    cr_assert_eq(geteuid(), 0, "this test runs as root: it gives a folder to nobody");
    struct passwd *nobody = getpwnam("nobody");
    cr_assert_not_null(nobody);
    make_state_folders(0700, 0700);
    cr_assert_eq(chown(spool_dir, nobody->pw_uid, nobody->pw_gid), 0, "%s", strerror(errno));
    assert_refused(spool_dir, "owned by another user");
    cr_assert_eq(chown(spool_dir, 0, 0), 0);
    cr_assert_eq(chown(tally_dir, nobody->pw_uid, nobody->pw_gid), 0, "%s", strerror(errno));
    assert_refused(tally_dir, "owned by another user");
}

Test(cli_files, symlinked_spool_folder_is_refused)
{
    char elsewhere[200];
    snprintf(elsewhere, sizeof elsewhere, "%s/elsewhere", env.dir);
    mkdir_mode(env.state, 0700);
    mkdir_mode(tally_dir, 0700);
    mkdir_mode(elsewhere, 0700);
    cr_assert_eq(symlink(elsewhere, spool_dir), 0);
    cli_result_t r = send_product();
    cr_assert(strstr(r.err, spool_dir) != NULL && strstr(r.err, "symbolic link") != NULL, "%s", r.err);
    cr_assert_eq(segments_in(elsewhere), 0, "written through the link");
    cli_result_free(&r);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

Test(cli_files, symlinked_spool_files_are_refused_and_not_written_through)
{
    make_state_folders(0700, 0700);
    /* A segment that is a link to a file of someone else's: not read, not
     * counted, not sent. */
    char victim[200], link[300];
    snprintf(victim, sizeof victim, "%s/victim.ndjson", env.dir);
    const char *segment = "{\"tally_spool\":1,\"kind\":\"product\",\"auth\":\"\",\"created_at\":1}\n"
                          "{\"event_id\":\"6b6b6b6b-0000-4000-8000-000000000001\",\"event\":\"deploy.start\","
                          "\"source\":\"CLI\",\"occurred_at\":1780000000000,\"install_id\":\"x\"}\n";
    write_text(victim, segment);
    snprintf(link, sizeof link, "%s/seg-0000000000001-00000001-000001-00000001.ndjson", spool_dir);
    cr_assert_eq(symlink(victim, link), 0);
    /* The spool's lock file, a link to where nothing is yet: opening it
     * with O_CREAT through the link would create that file. */
    char lock_target[200], lock[300];
    snprintf(lock_target, sizeof lock_target, "%s/created-through-link", env.dir);
    snprintf(lock, sizeof lock, "%s/.lock", spool_dir);
    cr_assert_eq(symlink(lock_target, lock), 0);

    const char *spool_args[] = {"spool", NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, spool_args);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(cli_spool_events(r.out), 0, "the linked segment was read: %s", r.out);
    cli_result_free(&r);

    /* A send past the spool's cap takes the lock (to trim) and a flush
     * claims every segment. */
    const char *args[] = {down_flag, "--spool-max-events=1", "send", "product", "{\"event\":\"deploy.start\"}",
                          "{\"event\":\"deploy.end\"}", NULL};
    r = cli_run(&env, NULL, (const char *const[]){"TALLY_TELEMETRY=1", NULL}, args);
    cli_result_free(&r);
    const char *flush[] = {down_flag, "flush", NULL};
    r = cli_run(&env, NULL, (const char *const[]){"TALLY_TELEMETRY=1", NULL}, flush);
    cr_assert(strstr(r.err, "symbolic link") != NULL, "the refusal is reported: %s", r.err);
    cli_result_free(&r);
    struct stat st;
    cr_assert_neq(stat(lock_target, &st), 0, "the lock was opened through its link: %s exists", lock_target);
    char *after = cli_slurp(victim);
    cr_assert_str_eq(after, segment, "the linked file changed");
    free(after);
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "the link is left as it is");
}

/* --dry-run: nothing leaves the machine; the warning is about the URL. */
static cli_result_t dry_usage(const char *gateway, bool with_key)
{
    char flag[200];
    snprintf(flag, sizeof flag, "--gateway=%s", gateway);
    const char *report = "{\"tenant_id\":\"t\",\"environment_id\":\"e\",\"reporter_id\":"
                         "\"6b6b6b6b-0000-4000-8000-000000000002\",\"reporter_started_at\":1780000000000,\"seq\":1,"
                         "\"observed_at\":1780000000000,\"api_calls\":1,\"status_4xx\":0,\"status_5xx\":0,"
                         "\"exec_ms\":1}";
    const char *args[] = {flag, "--dry-run", "send", "usage", report, NULL};
    return cli_run(&env, NULL,
                   (const char *const[]){with_key ? "TALLY_API_KEY=tk_test_0123456789abcdef" : "TALLY_API_KEY",
                                         NULL},
                   args);
}

Test(cli_files, cleartext_gateway_with_a_credential_warns_unless_loopback)
{
    static const char *const warned[] = {"http://example.com", "http://example.com:8080/", "http://10.0.0.5:8080",
                                         "http://127.0.0.1.example.com", "http://user@example.com",
                                         "http://EXAMPLE.COM"};
    for (size_t i = 0; i < sizeof warned / sizeof warned[0]; i++) {
        cli_result_t r = dry_usage(warned[i], true);
        cr_assert_eq(r.status, 0, "%s", warned[i]);
        cr_assert(strstr(r.err, "warning") != NULL && strstr(r.err, "http://") != NULL &&
                      strstr(r.err, "API key") != NULL,
                  "%s: no warning: %s", warned[i], r.err);
        cr_assert(strstr(r.err, "tk_test_0123456789abcdef") == NULL, "the key itself is never printed");
        cli_result_free(&r);
    }
    static const char *const quiet[] = {"http://127.0.0.1:8080", "http://127.3.4.5", "http://localhost:8080",
                                        "http://LOCALHOST", "http://[::1]:8080", "https://example.com"};
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++) {
        cli_result_t r = dry_usage(quiet[i], true);
        cr_assert_eq(r.status, 0, "%s", quiet[i]);
        cr_assert(strstr(r.err, "warning") == NULL, "%s: %s", quiet[i], r.err);
        cli_result_free(&r);
    }
    /* No credential, nothing to protect. */
    const char *args[] = {"--gateway=http://example.com", "--dry-run", "send", "product",
                          "{\"event\":\"deploy.start\"}", NULL};
    cli_result_t r = cli_run(&env, NULL, (const char *const[]){"TALLY_TELEMETRY=1", NULL}, args);
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.err, "warning") == NULL, "%s", r.err);
    cli_result_free(&r);
    /* The admin token is named too. */
    const char *cp[] = {"--gateway=http://example.com", "--dry-run", "send", "controlpanel",
                        "{\"event_id\":\"6b6b6b6b-0000-4000-8000-000000000003\",\"tenant_id\":\"t\","
                        "\"occurred_at\":1780000000000,\"payload\":{\"TenantRegistered\":{\"name\":\"T\"}}}",
                        NULL};
    r = cli_run(&env, NULL, (const char *const[]){"TALLY_ADMIN_TOKEN=admin-token-0123456789abcdef0123", NULL}, cp);
    cr_assert(strstr(r.err, "warning") != NULL && strstr(r.err, "admin token") != NULL, "%s", r.err);
    cli_result_free(&r);
}

/* fsutil: the client's files follow no symbolic link (a read of a link is
 * refused; a crash-safe write replaces a link and never writes through a
 * link planted at its temporary name), and a private folder is the user's
 * own, unlinked and writable by nobody else (another owner: test_cli_files). */
#include "fsutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tally-test-fsutil-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(fsutil, .init = setup, .fini = teardown);

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static char *get(const char *path)
{
    char *data = NULL, err[256];
    size_t len;
    cr_assert_eq(tally_fs_read_file(path, 1 << 20, &data, &len, err, sizeof err), 0, "%s", err);
    return data;
}

Test(fsutil, a_link_is_not_read)
{
    char victim[128], link[128], *data = NULL, err[256];
    size_t len;
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(link, sizeof link, "%s/state.json", dir);
    put(victim, "secret");
    cr_assert_eq(symlink(victim, link), 0);
    cr_assert_eq(tally_fs_read_file(link, 1 << 20, &data, &len, err, sizeof err), -1);
    cr_assert_null(data);
    cr_assert(strstr(err, link) != NULL && strstr(err, "symbolic link") != NULL, "%s", err);
}

Test(fsutil, a_write_never_goes_through_a_link)
{
    char victim[128], path[128], tmp[160];
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(path, sizeof path, "%s/state.json", dir);
    put(victim, "untouched");
    /* A link at the temporary name this process will use, and one at the
     * file itself. */
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cr_assert_eq(symlink(victim, tmp), 0);
    cr_assert_eq(symlink(victim, path), 0);
    char err[256];
    cr_assert_eq(tally_fs_write_atomic(path, "new", 3, 0600, err, sizeof err), 0, "%s", err);
    char *v = get(victim), *p = get(path);
    cr_assert_str_eq(v, "untouched");
    cr_assert_str_eq(p, "new");
    free(v);
    free(p);
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
    cr_assert_neq(lstat(tmp, &st), 0, "the temporary name is gone");
}

Test(fsutil, private_folder)
{
    char sub[128], err[256], link[128];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    cr_assert_eq(tally_fs_private_dir(sub, err, sizeof err), 0, "%s", err);
    struct stat st;
    cr_assert_eq(stat(sub, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    cr_assert_eq(chmod(sub, 0720), 0);
    cr_assert_eq(tally_fs_private_dir(sub, err, sizeof err), -1);
    cr_assert(strstr(err, sub) != NULL && strstr(err, "writable by group or others (mode 0720)") != NULL, "%s",
              err);
    cr_assert_eq(chmod(sub, 0702), 0);
    cr_assert_eq(tally_fs_private_dir(sub, err, sizeof err), -1);
    cr_assert_eq(chmod(sub, 0755), 0);   /* readable is fine */
    cr_assert_eq(tally_fs_private_dir(sub, err, sizeof err), 0, "%s", err);
    snprintf(link, sizeof link, "%s/link", dir);
    cr_assert_eq(symlink(sub, link), 0);
    cr_assert_eq(tally_fs_private_dir(link, err, sizeof err), -1);
    cr_assert(strstr(err, "symbolic link") != NULL, "%s", err);
}

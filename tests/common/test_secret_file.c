/* Unit tests of common/secret_file: a secret file is read only when its
 * owner alone may access it (judged on the opened file, links followed),
 * a FIFO or a directory is refused without hanging, and the size bound
 * holds. */
#include "secret_file.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[128];

static void write_mode(const char *text, mode_t mode)
{
    snprintf(path, sizeof path, "/tmp/tally-test-secret-%d", (int)getpid());
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

static void cleanup(void)
{
    unlink(path);
}

TestSuite(secret_file, .fini = cleanup);

Test(secret_file, group_or_other_bits_are_refused_owner_only_is_read)
{
    char err[256], *text = NULL;
    size_t len = 0;
    static const mode_t refused[] = {0640, 0604, 0660, 0644, 0620, 0602, 0610, 0601, 0700 | 0001};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        write_mode("secret\n", refused[i]);
        err[0] = '\0';
        cr_assert_eq(tally_secret_file_read(path, "test key file", 100, &text, &len, err, sizeof err), -1,
                     "mode %04o accepted", (unsigned)refused[i]);
        cr_assert(strstr(err, "test key file") && strstr(err, path) && strstr(err, "chmod 600"), "%s", err);
    }
    static const mode_t accepted[] = {0600, 0400};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        write_mode("secret\n", accepted[i]);
        cr_assert_eq(tally_secret_file_read(path, "test key file", 100, &text, &len, err, sizeof err), 0, "%s", err);
        cr_assert_eq(len, 7);
        cr_assert_str_eq(text, "secret\n");
        sodium_memzero(text, len);
        free(text);
    }
}

Test(secret_file, a_symlink_is_judged_by_the_file_it_names)
{
    char err[256], link_path[160];
    snprintf(link_path, sizeof link_path, "/tmp/tally-test-secret-link-%d", (int)getpid());
    write_mode("k\n", 0600);
    unlink(link_path);
    cr_assert_eq(symlink(path, link_path), 0);
    int fd = tally_secret_file_open(link_path, "key file", err, sizeof err);
    cr_assert(fd >= 0, "%s", err);
    close(fd);
    cr_assert_eq(chmod(path, 0644), 0);
    cr_assert_eq(tally_secret_file_open(link_path, "key file", err, sizeof err), -1);
    cr_assert(strstr(err, "0644") != NULL, "%s", err);
    unlink(link_path);
}

Test(secret_file, fifo_directory_and_missing_file_are_refused)
{
    char err[256], fifo[128];
    cr_assert_eq(tally_secret_file_open("/tmp", "key file", err, sizeof err), -1);
    cr_assert(strstr(err, "not a regular file") != NULL, "%s", err);
    snprintf(fifo, sizeof fifo, "/tmp/tally-test-secret-fifo-%d", (int)getpid());
    unlink(fifo);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(tally_secret_file_open(fifo, "key file", err, sizeof err), -1, "a FIFO was accepted");
    cr_assert(strstr(err, "not a regular file") != NULL, "%s", err);
    unlink(fifo);
    cr_assert_eq(tally_secret_file_open("/nonexistent/tally-key", "key file", err, sizeof err), -1);
    cr_assert(strstr(err, "No such file") != NULL, "%s", err);
}

Test(secret_file, larger_than_the_bound_is_refused)
{
    char err[256], *text = NULL;
    size_t len = 0;
    write_mode("0123456789", 0600);
    cr_assert_eq(tally_secret_file_read(path, "key file", 10, &text, &len, err, sizeof err), 0, "%s", err);
    cr_assert_eq(len, 10);
    free(text);
    text = NULL;
    cr_assert_eq(tally_secret_file_read(path, "key file", 9, &text, &len, err, sizeof err), -1);
    cr_assert(strstr(err, "larger than 9 bytes") != NULL, "%s", err);
    cr_assert_null(text);
}

/* A schema catalog in a temporary folder (catalog_dir.h). */
#define _XOPEN_SOURCE 700   /* nftw */

#include "catalog_dir.h"

#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

char tmpdir[256];

void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tally-catalog-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void remove_tmpdir(void)
{
    if (tmpdir[0] != '\0')
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void put(const char *folder, const char *file, const char *content)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", tmpdir, folder);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", tmpdir, folder, file);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(content, f);
    fclose(f);
}

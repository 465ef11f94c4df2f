/*
 * catalog_dir.h: a schema catalog in a temporary folder, for the suites of
 * common/ that need catalogs the repository does not hold (test_codec.c,
 * test_codec_resolution.c, test_schema_catalog.c): made as a suite's or a
 * test's .init, removed with everything in it as its .fini.
 */
#ifndef TALLY_TEST_CATALOG_DIR_H
#define TALLY_TEST_CATALOG_DIR_H

/* The folder, "" before make_tmpdir. */
extern char tmpdir[256];

/* Makes a new folder /tmp/tally-catalog-XXXXXX into tmpdir. */
void make_tmpdir(void);

/* Removes tmpdir and everything in it (nothing when none was made). */
void remove_tmpdir(void);

/* Writes tmpdir/<folder>/<file> with content, creating the folder. */
void put(const char *folder, const char *file, const char *content);

#endif /* TALLY_TEST_CATALOG_DIR_H */

/*
 * grid.h: rows of text cells under a header, printed as an aligned table
 * for people or as CSV for spreadsheets (RFC 4180 quoting, lines
 * ending in LF). Cells are copied.
 */
#ifndef TALLY_REPLAY_GRID_H
#define TALLY_REPLAY_GRID_H

#include <stddef.h>
#include <stdio.h>

typedef struct tally_replay_grid_t tally_replay_grid_t;

/* Returns an owned grid of columns columns with header (copied);
 * aborts when out of memory. */
tally_replay_grid_t *tally_replay_grid_new(size_t columns, const char *const *header);

/* NULL is a no-op. */
void tally_replay_grid_free(tally_replay_grid_t *g);

/* Appends a row of the grid's column count (copied; NULL cells print
 * empty). */
void tally_replay_grid_add(tally_replay_grid_t *g, const char *const *cells);

size_t tally_replay_grid_rows(const tally_replay_grid_t *g);

/* Columns padded to their widest cell, two spaces apart; the header
 * first. */
void tally_replay_grid_print(const tally_replay_grid_t *g, FILE *out);

/* The header line, then one line per row; a cell holding a comma, quote
 * or line break is quoted, its quotes doubled. */
void tally_replay_grid_csv(const tally_replay_grid_t *g, FILE *out);

#endif

/* Aligned tables and CSV (see grid.h). */
#include "grid.h"

#include <stdlib.h>
#include <string.h>

struct tally_replay_grid_t {
    size_t columns;
    char **cells;           /* (rows + 1) * columns: the header first */
    size_t rows, cap;       /* rows beside the header */
};

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (p == NULL) {
        fputs("tally-replay: out of memory\n", stderr);
        abort();
    }
    return p;
}

static void put_row(tally_replay_grid_t *g, const char *const *cells)
{
    if (g->rows + 1 >= g->cap) {
        g->cap = g->cap ? 2 * g->cap : 32;
        g->cells = realloc(g->cells, g->cap * g->columns * sizeof *g->cells);
        if (g->cells == NULL)
            abort();
    }
    char **row = g->cells + g->rows * g->columns;
    for (size_t c = 0; c < g->columns; c++)
        row[c] = xstrdup(cells[c]);
    g->rows++;
}

tally_replay_grid_t *tally_replay_grid_new(size_t columns, const char *const *header)
{
    tally_replay_grid_t *g = calloc(1, sizeof *g);
    if (g == NULL)
        abort();
    g->columns = columns;
    put_row(g, header);     /* row 0: the rows follow it */
    return g;
}

void tally_replay_grid_free(tally_replay_grid_t *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->rows * g->columns; i++)
        free(g->cells[i]);
    free(g->cells);
    free(g);
}

void tally_replay_grid_add(tally_replay_grid_t *g, const char *const *cells)
{
    put_row(g, cells);
}

size_t tally_replay_grid_rows(const tally_replay_grid_t *g)
{
    return g->rows - 1;
}

void tally_replay_grid_print(const tally_replay_grid_t *g, FILE *out)
{
    size_t *width = calloc(g->columns, sizeof *width);
    if (width == NULL)
        abort();
    for (size_t r = 0; r < g->rows; r++)
        for (size_t c = 0; c < g->columns; c++) {
            size_t n = strlen(g->cells[r * g->columns + c]);
            if (n > width[c])
                width[c] = n;
        }
    for (size_t r = 0; r < g->rows; r++) {
        for (size_t c = 0; c < g->columns; c++) {
            const char *cell = g->cells[r * g->columns + c];
            if (c + 1 == g->columns)
                fputs(cell, out);
            else
                fprintf(out, "%-*s  ", (int)width[c], cell);
        }
        fputc('\n', out);
    }
    free(width);
}

static void csv_cell(const char *s, FILE *out)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void tally_replay_grid_csv(const tally_replay_grid_t *g, FILE *out)
{
    for (size_t r = 0; r < g->rows; r++) {
        for (size_t c = 0; c < g->columns; c++) {
            if (c)
                fputc(',', out);
            csv_cell(g->cells[r * g->columns + c], out);
        }
        fputc('\n', out);
    }
}

/*
 * svg_chart_frame.h: what svg_chart.c (scale, frame, legend, table, gauge)
 * and svg_chart_xy.c (bars and lines) share. Internal to the chart writer;
 * pages use svg_chart.h.
 */
#ifndef TALLY_CONSOLE_SVG_CHART_FRAME_H
#define TALLY_CONSOLE_SVG_CHART_FRAME_H

#include "svg_chart.h"

/* Colours of what is not a series (the series: tally_chart_colour). */
#define OVER_COLOUR "#B00020"
#define CAP_COLOUR "#B00020"
#define LINE_COLOUR "#333333"
#define GRID_COLOUR "#DDDDDD"

/* Where the plot sits in the viewBox and its y scale. */
typedef struct tally_chart_geom_t {
    double left, right, top, bottom;  /* the plot area */
    double slot;                      /* width per point */
    tally_chart_scale_t scale;
} tally_chart_geom_t;

/* The y of value v (clamped to 0..scale.top). */
double tally_chart_fraction(int64_t v, int64_t top);
static inline double tally_chart_y(const tally_chart_geom_t *g, int64_t v)
{
    return g->bottom - (g->bottom - g->top) * tally_chart_fraction(v, g->scale.top);
}

/* The palette colour of series i. Static. */
const char *tally_chart_colour(size_t i);

/* a + b, saturating at INT64_MAX (and INT64_MIN + 1). */
int64_t tally_chart_add_sat(int64_t a, int64_t b);

/* v / 10^decimals with separators and " unit", or "–" when missing. */
void tally_chart_put_value(tally_textbuf_t *out, int64_t v, int decimals, const char *unit);

/* <svg ... role="img" aria-label="title: summary"><title>title</title>;
 * title is escaped here, summary is already escaped text (may be NULL). */
void tally_chart_svg_open(tally_textbuf_t *out, const char *cls, int width, int height, const char *title,
                          const char *summary);

/* s escaped, cut after max_chars code points with "…". */
void tally_chart_put_truncated(tally_textbuf_t *out, const char *s, size_t max_chars);

/* Code points in s (NULL: 0). */
size_t tally_chart_chars(const char *s);

/* The label of point i, escaped (axis: the short form when there is one). */
void tally_chart_x_label(tally_textbuf_t *out, const tally_chart_t *c, size_t i, int axis);

/* Grid, y tick labels, x labels (as many as fit) and the x axis. */
void tally_chart_frame(tally_textbuf_t *out, const tally_chart_t *c, const tally_chart_geom_t *g);

/* The reference lines, each with its name and value. */
void tally_chart_reference_lines(tally_textbuf_t *out, const tally_chart_t *c, const tally_chart_geom_t *g);

/* The legend (three series a row) from y = top; its rows. */
int tally_chart_legend_rows(size_t nseries);
void tally_chart_legend(tally_textbuf_t *out, const tally_chart_t *c, const tally_chart_geom_t *g, double top);

/* "No data" across the plot. */
void tally_chart_no_data(tally_textbuf_t *out, const tally_chart_geom_t *g);

#endif

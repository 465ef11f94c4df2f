/*
 * svg_chart.h: the console's charts, drawn as inline SVG by the console
 * itself (no script, no external asset). Pure: appends to a
 * tally_textbuf_t, no I/O.
 *
 * What a chart promises (svg_chart.c, svg_chart_xy.c, svg_chart_gauge.c).
 *   - It is never the only carrier of a figure: tally_chart_table writes
 *     the same tally_chart_t as a <table> (one row per point, one column
 *     per series, the reference lines in the caption); a page writes both.
 *   - Every chart is <svg role="img" aria-label="..."> with a <title> as
 *     its first child, and a viewBox with width 100%: it scales to the
 *     column (a phone) and keeps its proportions. Each bar and point has
 *     its own <title> (the exact figure, as in the table).
 *   - Every name drawn (title, series, lines, x labels) goes through
 *     tally_html_text: whatever the bytes, the output is well-formed XML,
 *     valid UTF-8 and contains no markup of the caller's. Figures are
 *     formatted by html.h (thousands separators) and are exact; only the
 *     y axis abbreviates (1.5k, 200M, 1P).
 *   - Colours come from a fixed palette of TALLY_CHART_PALETTE classes:
 *     series i has class tc-s(i mod TALLY_CHART_PALETTE); each element also
 *     carries the colour as a presentation attribute, so a chart is
 *     readable without the page's CSS, and tally_chart_css's rules (which
 *     the layout includes) can restyle it, e.g. for print.
 *
 * Values are fixed-point int64: a value v means v / 10^decimals (counts:
 * decimals 0; rates in basis points: decimals 2 and unit "%").
 * TALLY_CHART_MISSING marks a point without a value (drawn as nothing, a
 * gap in a line, "–" in the table). Negative values are drawn as 0 (they
 * are shown as they are in the table). Sums of a stacked bar saturate at
 * INT64_MAX; geometry is computed in double, so values up to 2^62 draw in
 * proportion (beyond, they are drawn as 2^62); labels stay exact.
 *
 * The y scale (tally_chart_scale): ticks at multiples of a step of 1, 2 or
 * 5 times a power of ten, at most `target` steps, from 0 to the first
 * multiple at or above the maximum of the values and reference lines. A
 * chart with no positive value (no points, or all zero or missing) gets
 * the scale of its reference lines, or 0..1, and says "No data".
 *
 * A cap (a reference line with is_cap): the part of a bar above it is
 * overlaid with class tc-over, so a day over its cap stands out without
 * changing the bar's height.
 *
 * The gauge (tally_svg_gauge): a horizontal bar of value against limit,
 * marks at given percentages of the limit (default 80 and 100). The track
 * spans 0..limit * (1 + headroom), headroom 25 % (or more when a mark is
 * beyond 120 %): the marks stay where they are whatever the value, and a
 * value over the limit shows its over part (class tc-over) up to the end
 * of the track; beyond, the bar ends with a break mark (class tc-clipped).
 * The label always gives the exact value, the limit and the percentage.
 * limit <= 0 means no limit: the bar fills the track on its own scale and
 * the label says "no limit".
 */
#ifndef TALLY_CONSOLE_SVG_CHART_H
#define TALLY_CONSOLE_SVG_CHART_H

#include <stddef.h>
#include <stdint.h>

#include "textbuf.h"

#define TALLY_CHART_MISSING INT64_MIN
#define TALLY_CHART_PALETTE 8

/* A series: one value per point. Strings and arrays borrowed. */
typedef struct tally_chart_series_t {
    const char *name;        /* legend, table header, bar titles */
    const int64_t *values;   /* npoints values (fixed-point, see above) */
} tally_chart_series_t;

/* A horizontal reference line: a cap, seats_max, a peak. */
typedef struct tally_chart_line_t {
    const char *name;        /* drawn next to the line, e.g. "Cap" */
    int64_t value;           /* same fixed-point as the series */
    int is_cap;              /* 1: bar parts above it are marked tc-over */
} tally_chart_line_t;

/* The data of one chart and its table. Everything borrowed. */
typedef struct tally_chart_t {
    const char *title;                 /* <title>, aria-label, table caption */
    const char *x_title;               /* the table's first column, e.g. "Day"; NULL: "Day" */
    size_t npoints;                    /* e.g. the days of the month; may be 0 */
    const char *const *x;              /* npoints labels ("2026-12-01"); NULL: "1", "2", ... */
    const char *const *x_short;        /* labels on the x axis ("1", "2"); NULL: x */
    const tally_chart_series_t *series;
    size_t nseries;
    const tally_chart_line_t *lines;   /* may be NULL when nlines is 0 */
    size_t nlines;
    int decimals;                      /* 0..6 */
    const char *unit;                  /* e.g. "%"; NULL: none */
    int total_column;                  /* tally_chart_table adds a Total column */
} tally_chart_t;

/* A y scale: ticks 0, step, 2*step, ..., top (= nsteps * step). */
typedef struct tally_chart_scale_t {
    int64_t step;
    int64_t top;
    int nsteps;
} tally_chart_scale_t;

/* The scale for values in 0..max (max <= 0 is taken as 1; above 2^62 as
 * 2^62) with at most target steps (2..20; others: 5). */
tally_chart_scale_t tally_chart_scale(int64_t max, int target);

/* Appends the axis form of v / 10^decimals: trailing zeros of the
 * fraction dropped, and for decimals 0 and |v| >= 10000 a suffix
 * (12000 -> "12k", 1500000 -> "1.5M", 2^50 -> "1.13P"; "k", "M", "B", "T",
 * "P", "E"; at most two decimals, truncated). */
void tally_chart_axis_label(tally_textbuf_t *out, int64_t v, int decimals);

/* Daily stacked bars: one bar per point, the series stacked in order
 * (series 0 at the bottom); the lines across. A single series is a plain
 * bar chart. */
void tally_svg_stacked_bars(tally_textbuf_t *out, const tally_chart_t *c);

/* Lines: one polyline per series (gaps at missing points, a dot on each
 * point when there are at most 62, or when a point stands alone); the
 * reference lines across. For rates (decimals 2, unit "%") and seats. */
void tally_svg_lines(tally_textbuf_t *out, const tally_chart_t *c);

/* The <table> of c: caption the title (and the reference lines), header
 * x_title then each series (then Total), one row per point. */
void tally_chart_table(tally_textbuf_t *out, const tally_chart_t *c);

/* A gauge, see above. Strings borrowed. */
typedef struct tally_gauge_t {
    const char *title;     /* e.g. "API calls this month" */
    int64_t value;
    int64_t limit;         /* <= 0: no limit */
    const int *marks;      /* percentages of the limit; NULL: 80 and 100 */
    size_t nmarks;
    int decimals;          /* 0..6, as for charts */
    const char *unit;      /* NULL: none */
} tally_gauge_t;

void tally_svg_gauge(tally_textbuf_t *out, const tally_gauge_t *g);

/* Appends the CSS rules of the chart classes (palette, tc-over, tc-cap,
 * grid, text, and their print form) for the layout's <style>. */
void tally_chart_css(tally_textbuf_t *out);

#endif

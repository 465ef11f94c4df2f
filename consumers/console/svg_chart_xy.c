/* The x-y charts of svg_chart.h: daily stacked bars and lines. */
#include "svg_chart.h"
#include "svg_chart_frame.h"

#include "html.h"

enum { WIDTH = 720, PLOT_HEIGHT = 260, LEFT = 60, RIGHT = 12, TOP = 14, XLABELS = 22 };

/* The layout of a chart of c with the values' maximum max. */
static tally_chart_geom_t geometry(const tally_chart_t *c, int64_t max, int *height)
{
    for (size_t k = 0; k < c->nlines; k++)
        if (c->lines[k].value > max)
            max = c->lines[k].value;
    tally_chart_geom_t g = {.left = LEFT, .right = WIDTH - RIGHT, .top = TOP, .bottom = TOP + PLOT_HEIGHT};
    g.slot = c->npoints ? (g.right - g.left) / (double)c->npoints : g.right - g.left;
    g.scale = tally_chart_scale(max, 5);
    *height = TOP + PLOT_HEIGHT + XLABELS + 20 * tally_chart_legend_rows(c->nseries) + 4;
    return g;
}

static int present(int64_t v)
{
    return v != TALLY_CHART_MISSING;
}

/* The total of point i (missing and negative values count 0). */
static int64_t stack_total(const tally_chart_t *c, size_t i)
{
    int64_t t = 0;
    for (size_t s = 0; s < c->nseries; s++) {
        int64_t v = c->series[s].values[i];
        if (present(v) && v > 0)
            t = tally_chart_add_sat(t, v);
    }
    return t;
}

/* ", highest V (label)" or nothing; escaped. */
static void summary_highest(tally_textbuf_t *sum, const tally_chart_t *c, int64_t max, size_t at, const char *series)
{
    tally_textbuf_printf(sum, "%zu %s", c->npoints, c->npoints == 1 ? "point" : "points");
    if (max <= 0) {
        tally_textbuf_puts(sum, ", no data");
        return;
    }
    tally_textbuf_puts(sum, ", highest ");
    tally_chart_put_value(sum, max, c->decimals, c->unit);
    tally_textbuf_puts(sum, " (");
    if (series) {
        tally_html_text(sum, series);
        tally_textbuf_puts(sum, ", ");
    }
    tally_chart_x_label(sum, c, at, 0);
    tally_textbuf_putc(sum, ')');
}

void tally_svg_stacked_bars(tally_textbuf_t *out, const tally_chart_t *c)
{
    int64_t max = 0;
    size_t at = 0;
    for (size_t i = 0; i < c->npoints; i++) {
        int64_t t = stack_total(c, i);
        if (t > max)
            max = t, at = i;
    }
    int height;
    tally_chart_geom_t g = geometry(c, max, &height);
    tally_textbuf_t sum = {0};
    summary_highest(&sum, c, max, at, NULL);
    tally_textbuf_puts(out, "<div class=\"chart-scroll\">");
    tally_chart_svg_open(out, "tc-bars", WIDTH, height, c->title, sum.data);
    tally_textbuf_free(&sum);
    tally_chart_frame(out, c, &g);

    double bar = g.slot * 0.8;
    if (bar > 48)
        bar = 48; /* a lone day is a bar, not a wall */
    tally_textbuf_puts(out, "<g class=\"tc-data\">");
    for (size_t i = 0; i < c->npoints; i++) {
        double x = g.left + g.slot * (double)i + (g.slot - bar) / 2;
        int64_t below = 0;
        for (size_t s = 0; s < c->nseries; s++) {
            int64_t v = c->series[s].values[i];
            if (!present(v) || v <= 0)
                continue;
            int64_t above = tally_chart_add_sat(below, v);
            double y0 = tally_chart_y(&g, below), y1 = tally_chart_y(&g, above);
            tally_textbuf_printf(out,
                                 "<rect class=\"tc-bar tc-s%zu\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                                 "fill=\"%s\"><title>",
                                 s % TALLY_CHART_PALETTE, x, y1, bar, y0 - y1, tally_chart_colour(s));
            tally_chart_x_label(out, c, i, 0);
            tally_textbuf_puts(out, " \xE2\x80\x93 ");
            tally_html_text(out, c->series[s].name);
            tally_textbuf_puts(out, ": ");
            tally_chart_put_value(out, v, c->decimals, c->unit);
            tally_textbuf_puts(out, "</title></rect>");
            below = above;
        }
        /* Over a cap: the part above it, overlaid. */
        for (size_t k = 0; k < c->nlines; k++) {
            const tally_chart_line_t *l = &c->lines[k];
            if (!l->is_cap || below <= l->value || l->value < 0)
                continue;
            double y0 = tally_chart_y(&g, l->value), y1 = tally_chart_y(&g, below);
            tally_textbuf_printf(out,
                                 "<rect class=\"tc-over\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                                 "fill=\"" OVER_COLOUR "\" fill-opacity=\"0.4\" stroke=\"" OVER_COLOUR "\" stroke-width=\"1.5\"><title>",
                                 x, y1, bar, y0 - y1);
            tally_chart_x_label(out, c, i, 0);
            tally_textbuf_puts(out, ": ");
            tally_chart_put_value(out, below - l->value, c->decimals, c->unit);
            tally_textbuf_puts(out, " over ");
            tally_html_text(out, l->name);
            tally_textbuf_puts(out, "</title></rect>");
        }
    }
    tally_textbuf_puts(out, "</g>");
    tally_chart_reference_lines(out, c, &g);
    if (max <= 0)
        tally_chart_no_data(out, &g);
    tally_chart_legend(out, c, &g, g.bottom + XLABELS);
    tally_textbuf_puts(out, "</svg></div>");
}

/* A dot with the exact figure. */
static void dot(tally_textbuf_t *out, const tally_chart_t *c, const tally_chart_geom_t *g, size_t s, size_t i)
{
    int64_t v = c->series[s].values[i];
    tally_textbuf_printf(out, "<circle class=\"tc-s%zu\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"><title>",
                         s % TALLY_CHART_PALETTE, g->left + g->slot * ((double)i + 0.5), tally_chart_y(g, v),
                         tally_chart_colour(s));
    tally_chart_x_label(out, c, i, 0);
    tally_textbuf_puts(out, " \xE2\x80\x93 ");
    tally_html_text(out, c->series[s].name);
    tally_textbuf_puts(out, ": ");
    tally_chart_put_value(out, v, c->decimals, c->unit);
    tally_textbuf_puts(out, "</title></circle>");
}

void tally_svg_lines(tally_textbuf_t *out, const tally_chart_t *c)
{
    int64_t max = 0;
    size_t at = 0, at_series = 0;
    for (size_t s = 0; s < c->nseries; s++)
        for (size_t i = 0; i < c->npoints; i++) {
            int64_t v = c->series[s].values[i];
            if (present(v) && v > max)
                max = v, at = i, at_series = s;
        }
    int height;
    tally_chart_geom_t g = geometry(c, max, &height);
    tally_textbuf_t sum = {0};
    summary_highest(&sum, c, max, at, max > 0 ? c->series[at_series].name : NULL);
    tally_textbuf_puts(out, "<div class=\"chart-scroll\">");
    tally_chart_svg_open(out, "tc-lines", WIDTH, height, c->title, sum.data);
    tally_textbuf_free(&sum);
    tally_chart_frame(out, c, &g);
    tally_chart_reference_lines(out, c, &g);

    int dots = c->npoints <= 62;
    tally_textbuf_puts(out, "<g class=\"tc-data\">");
    for (size_t s = 0; s < c->nseries; s++) {
        const int64_t *v = c->series[s].values;
        tally_textbuf_puts(out, "<g><title>");
        tally_html_text(out, c->series[s].name);
        tally_textbuf_puts(out, "</title>");
        size_t i = 0;
        while (i < c->npoints) {
            if (!present(v[i])) {
                i++;
                continue;
            }
            size_t start = i;
            while (i < c->npoints && present(v[i]))
                i++;
            if (i - start > 1) {
                tally_textbuf_printf(out, "<polyline class=\"tc-line tc-s%zu\" fill=\"none\" stroke=\"%s\" "
                                          "stroke-width=\"2\" points=\"",
                                     s % TALLY_CHART_PALETTE, tally_chart_colour(s));
                for (size_t j = start; j < i; j++)
                    tally_textbuf_printf(out, "%s%.2f,%.2f", j == start ? "" : " ",
                                         g.left + g.slot * ((double)j + 0.5), tally_chart_y(&g, v[j]));
                tally_textbuf_puts(out, "\"/>");
            }
            for (size_t j = start; j < i; j++)
                if (dots || i - start == 1)
                    dot(out, c, &g, s, j);
        }
        tally_textbuf_puts(out, "</g>");
    }
    tally_textbuf_puts(out, "</g>");
    if (max <= 0)
        tally_chart_no_data(out, &g);
    tally_chart_legend(out, c, &g, g.bottom + XLABELS);
    tally_textbuf_puts(out, "</svg></div>");
}

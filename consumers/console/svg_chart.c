/* The shared parts of the charts: scale, axis labels, frame, legend, the
 * chart's table and the palette's CSS. The x-y charts are in
 * svg_chart_xy.c, the gauge in svg_chart_gauge.c. */
#include "svg_chart.h"
#include "svg_chart_frame.h"

#include "html.h"

#include <string.h>

static const char *const PALETTE[TALLY_CHART_PALETTE] = {
    /* Okabe-Ito: told apart with the common colour blindnesses. */
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F", "#F0E442",
};
#define SCALE_LIMIT (INT64_C(1) << 62)

const char *tally_chart_colour(size_t i)
{
    return PALETTE[i % TALLY_CHART_PALETTE];
}

tally_chart_scale_t tally_chart_scale(int64_t max, int target)
{
    if (target < 2 || target > 20)
        target = 5;
    if (max <= 0)
        max = 1;
    if (max > SCALE_LIMIT)
        max = SCALE_LIMIT;
    static const int64_t mult[3] = {1, 2, 5};
    /* The smallest step of 1, 2 or 5 times a power of ten with
     * ceil(max / step) <= target; max <= 2^62 keeps every product in range
     * (the step never exceeds 10^19 / 2 before it fits). */
    for (int64_t p = 1;; p *= 10) {
        for (int k = 0; k < 3; k++) {
            int64_t step = mult[k] * p;
            int64_t n = max / step + (max % step != 0);
            if (n <= target)
                return (tally_chart_scale_t){.step = step, .top = n * step, .nsteps = (int)n};
        }
    }
}

void tally_chart_axis_label(tally_textbuf_t *out, int64_t v, int decimals)
{
    static const char *const suffix[] = {"", "k", "M", "B", "T", "P", "E"};
    if (decimals < 0)
        decimals = 0;
    if (decimals > 6)
        decimals = 6;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t unit = 1;
    int g = 0, frac_digits = decimals;
    if (decimals == 0 && u >= 10000) {
        while (g < 6 && u / unit >= 1000) {
            unit *= 1000;
            g++;
        }
        frac_digits = 2;
    } else {
        for (int i = 0; i < decimals; i++)
            unit *= 10;
    }
    uint64_t whole = u / unit, rest = u % unit;
    char frac[8];
    int nfrac = 0;
    for (int i = 0; i < frac_digits && rest; i++) {
        /* digits of rest / unit, truncated */
        rest *= 10;
        frac[nfrac++] = (char)('0' + rest / unit);
        rest %= unit;
    }
    while (nfrac > 0 && frac[nfrac - 1] == '0')
        nfrac--;
    if (v < 0)
        tally_textbuf_putc(out, '-');
    if (g == 0 && decimals == 0)
        tally_html_int(out, (int64_t)whole);
    else
        tally_textbuf_printf(out, "%llu", (unsigned long long)whole);
    if (nfrac) {
        tally_textbuf_putc(out, '.');
        tally_textbuf_append(out, frac, (size_t)nfrac);
    }
    tally_textbuf_puts(out, suffix[g]);
}

void tally_chart_put_value(tally_textbuf_t *out, int64_t v, int decimals, const char *unit)
{
    if (v == TALLY_CHART_MISSING) {
        tally_textbuf_puts(out, "\xE2\x80\x93");
        return;
    }
    tally_html_fixed(out, v, decimals);
    if (unit && *unit) {
        tally_textbuf_puts(out, "\xC2\xA0");
        tally_html_text(out, unit);
    }
}

double tally_chart_fraction(int64_t v, int64_t top)
{
    if (v <= 0 || top <= 0)
        return 0;
    if (v > SCALE_LIMIT)
        v = SCALE_LIMIT;
    double f = (double)v / (double)top;
    return f > 1 ? 1 : f;
}

void tally_chart_svg_open(tally_textbuf_t *out, const char *cls, int width, int height, const char *title,
                          const char *summary)
{
    tally_textbuf_printf(out,
                         "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart %s\" viewBox=\"0 0 %d %d\" "
                         "width=\"100%%\" preserveAspectRatio=\"xMidYMid meet\" font-family=\"sans-serif\" font-size=\"12\" "
                         "role=\"img\" aria-label=\"",
                         cls, width, height);
    tally_html_text(out, title);
    if (summary && *summary) {
        tally_textbuf_puts(out, ": ");
        tally_textbuf_puts(out, summary); /* already escaped */
    }
    tally_textbuf_puts(out, "\"><title>");
    tally_html_text(out, title);
    tally_textbuf_puts(out, "</title>");
}

void tally_chart_put_truncated(tally_textbuf_t *out, const char *s, size_t max_chars)
{
    if (!s)
        return;
    size_t i = 0, chars = 0;
    while (s[i] && chars < max_chars) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        chars++;
    }
    tally_html_text_n(out, s, i);
    if (s[i])
        tally_textbuf_puts(out, "\xE2\x80\xA6"); /* … */
}

size_t tally_chart_chars(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

void tally_chart_x_label(tally_textbuf_t *out, const tally_chart_t *c, size_t i, int axis)
{
    const char *const *labels = axis && c->x_short ? c->x_short : c->x;
    if (labels)
        tally_html_text(out, labels[i]);
    else
        tally_textbuf_printf(out, "%zu", i + 1);
}

void tally_chart_frame(tally_textbuf_t *out, const tally_chart_t *c, const tally_chart_geom_t *g)
{
    /* Grid and y labels. */
    tally_textbuf_puts(out, "<g class=\"tc-yaxis\">");
    for (int k = 0; k <= g->scale.nsteps; k++) {
        int64_t v = g->scale.step * k;
        double y = tally_chart_y(g, v);
        tally_textbuf_printf(out,
                             "<line class=\"tc-grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" GRID_COLOUR
                             "\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                             g->left, y, g->right, y, g->left - 4, y + 4);
        tally_chart_axis_label(out, v, c->decimals);
        if (c->unit && tally_chart_chars(c->unit) <= 4) {
            tally_textbuf_puts(out, "\xC2\xA0");
            tally_html_text(out, c->unit);
        }
        tally_textbuf_puts(out, "</text>");
    }
    tally_textbuf_puts(out, "</g>");
    /* X labels, as many as fit. */
    size_t widest = 1;
    for (size_t i = 0; i < c->npoints; i++) {
        const char *const *labels = c->x_short ? c->x_short : c->x;
        size_t n = labels ? tally_chart_chars(labels[i]) : 3;
        if (n > widest)
            widest = n;
    }
    double need = (double)widest * 7.2 + 6;
    size_t every = g->slot > 0 ? (size_t)(need / g->slot) + 1 : 1;
    if (every < 1)
        every = 1;
    tally_textbuf_puts(out, "<g class=\"tc-xaxis\">");
    for (size_t i = 0; i < c->npoints; i += every) {
        double x = g->left + g->slot * ((double)i + 0.5), half = (need - 6) / 2;
        if (x + half > g->right + 10 || x - half < 0)
            continue; /* it would be cut at the edge */
        tally_textbuf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, g->bottom + 14);
        tally_chart_x_label(out, c, i, 1);
        tally_textbuf_puts(out, "</text>");
    }
    tally_textbuf_printf(out, "<line class=\"tc-axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>",
                         g->left, g->bottom, g->right, g->bottom);
    tally_textbuf_puts(out, "</g>");
}

void tally_chart_reference_lines(tally_textbuf_t *out, const tally_chart_t *c, const tally_chart_geom_t *g)
{
    for (size_t k = 0; k < c->nlines; k++) {
        const tally_chart_line_t *l = &c->lines[k];
        double y = tally_chart_y(g, l->value);
        const char *cls = l->is_cap ? "tc-ref tc-cap" : "tc-ref";
        const char *colour = l->is_cap ? CAP_COLOUR : LINE_COLOUR;
        tally_textbuf_printf(out,
                             "<g class=\"%s\"><title>", cls);
        tally_html_text(out, l->name);
        tally_textbuf_puts(out, ": ");
        tally_chart_put_value(out, l->value, c->decimals, c->unit);
        tally_textbuf_printf(out,
                             "</title><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                             "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
                             "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"%s\" stroke=\"#FFFFFF\" "
                             "stroke-width=\"3\" paint-order=\"stroke\">",
                             g->left, y, g->right, y, colour, g->right - 2, y - 4, colour);
        tally_chart_put_truncated(out, l->name, 24);
        tally_textbuf_puts(out, " ");
        tally_chart_put_value(out, l->value, c->decimals, c->unit);
        tally_textbuf_puts(out, "</text></g>");
    }
}

int tally_chart_legend_rows(size_t nseries)
{
    return (int)((nseries + 2) / 3);
}

void tally_chart_legend(tally_textbuf_t *out, const tally_chart_t *c, const tally_chart_geom_t *g, double top)
{
    double col = (g->right - g->left) / 3;
    tally_textbuf_puts(out, "<g class=\"tc-legend\">");
    for (size_t s = 0; s < c->nseries; s++) {
        double x = g->left + col * (double)(s % 3), y = top + 20.0 * (double)(s / 3);
        tally_textbuf_puts(out, "<g><title>");
        tally_html_text(out, c->series[s].name);
        tally_textbuf_printf(out,
                             "</title><rect class=\"tc-s%zu\" x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" "
                             "fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">",
                             s % TALLY_CHART_PALETTE, x, y, tally_chart_colour(s), x + 14, y + 10);
        tally_chart_put_truncated(out, c->series[s].name, (size_t)(col / 7.5) > 4 ? (size_t)(col / 7.5) - 2 : 2);
        tally_textbuf_puts(out, "</text></g>");
    }
    tally_textbuf_puts(out, "</g>");
}

void tally_chart_no_data(tally_textbuf_t *out, const tally_chart_geom_t *g)
{
    tally_textbuf_printf(out, "<text class=\"tc-empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">No data</text>",
                         (g->left + g->right) / 2, (g->top + g->bottom) / 2);
}

void tally_chart_table(tally_textbuf_t *out, const tally_chart_t *c)
{
    tally_textbuf_t caption = {0};
    tally_textbuf_puts(&caption, c->title ? c->title : "");
    for (size_t k = 0; k < c->nlines; k++) {
        tally_textbuf_puts(&caption, k ? "; " : " (");
        tally_textbuf_puts(&caption, c->lines[k].name ? c->lines[k].name : "");
        tally_textbuf_puts(&caption, ": ");
        /* Unescaped here: the caption is escaped as a whole below. */
        tally_textbuf_t v = {0};
        tally_html_fixed(&v, c->lines[k].value, c->decimals);
        tally_textbuf_puts(&caption, v.data);
        tally_textbuf_free(&v);
        if (c->unit && *c->unit) {
            tally_textbuf_puts(&caption, "\xC2\xA0");
            tally_textbuf_puts(&caption, c->unit);
        }
    }
    if (c->nlines)
        tally_textbuf_putc(&caption, ')');

    size_t ncols = 1 + c->nseries + (c->total_column ? 1 : 0);
    tally_textbuf_puts(out, "<div class=\"table-wrap\"><table class=\"chart-data\">");
    tally_html_elem(out, "caption", NULL, caption.data);
    tally_textbuf_puts(out, "<thead><tr><th scope=\"col\">");
    tally_html_text(out, c->x_title ? c->x_title : "Day");
    tally_textbuf_puts(out, "</th>");
    for (size_t s = 0; s < ncols - 1; s++) {
        tally_textbuf_puts(out, "<th scope=\"col\" class=\"num\">");
        tally_html_text(out, s < c->nseries ? c->series[s].name : "Total");
        if (c->unit && *c->unit) {
            tally_textbuf_puts(out, " (");
            tally_html_text(out, c->unit);
            tally_textbuf_putc(out, ')');
        }
        tally_textbuf_puts(out, "</th>");
    }
    tally_textbuf_puts(out, "</tr></thead><tbody>");
    for (size_t i = 0; i < c->npoints; i++) {
        tally_textbuf_puts(out, "<tr><th scope=\"row\">");
        tally_chart_x_label(out, c, i, 0);
        tally_textbuf_puts(out, "</th>");
        int64_t total = 0;
        int any = 0;
        for (size_t s = 0; s < c->nseries; s++) {
            int64_t v = c->series[s].values[i];
            tally_textbuf_puts(out, "<td class=\"num\">");
            if (v == TALLY_CHART_MISSING)
                tally_textbuf_puts(out, "\xE2\x80\x93");
            else
                tally_html_fixed(out, v, c->decimals);
            tally_textbuf_puts(out, "</td>");
            if (v != TALLY_CHART_MISSING) {
                any = 1;
                total = tally_chart_add_sat(total, v);
            }
        }
        if (c->total_column) {
            tally_textbuf_puts(out, "<td class=\"num\">");
            if (any)
                tally_html_fixed(out, total, c->decimals);
            else
                tally_textbuf_puts(out, "\xE2\x80\x93");
            tally_textbuf_puts(out, "</td>");
        }
        tally_textbuf_puts(out, "</tr>");
    }
    if (c->npoints == 0)
        tally_textbuf_printf(out, "<tr><td colspan=\"%zu\" class=\"empty\">No data</td></tr>", ncols);
    tally_html_table_close(out);
    tally_textbuf_free(&caption);
}

int64_t tally_chart_add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN + 1 - b)
        return INT64_MIN + 1;
    return a + b;
}

void tally_chart_css(tally_textbuf_t *out)
{
    tally_textbuf_puts(out, "svg.chart{display:block;width:100%;height:auto;max-width:100%;"
                            "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:12px}"
                            "svg.chart text{fill:#222}"
                            ".tc-grid{stroke:" GRID_COLOUR "}"
                            ".tc-axis{stroke:#555}"
                            ".tc-over{fill:" OVER_COLOUR ";stroke:" OVER_COLOUR "}"
                            ".tc-clipped{stroke:#fff;stroke-width:3;fill:none}"
                            ".tc-fill{fill:#0072B2}"
                            ".tc-track{fill:#EEE}"
                            ".tc-mark{stroke:#222;stroke-width:2}"
                            ".tc-cap text{fill:" CAP_COLOUR "}"
                            "svg.chart .tc-empty{fill:#666;font-size:14px}"
                            "svg.tc-gauge{max-width:36rem}svg.tc-bars,svg.tc-lines{max-width:60rem}"
                            ".chart-scroll{overflow-x:auto}"
                            "@media (max-width:600px){.chart-scroll svg.chart{min-width:34rem}}");
    for (size_t i = 0; i < TALLY_CHART_PALETTE; i++)
        tally_textbuf_printf(out, ".tc-s%zu{fill:%s;stroke:%s}", i, PALETTE[i], PALETTE[i]);
    tally_textbuf_puts(out, "rect.tc-bar{stroke:none}"
                            "polyline.tc-line{fill:none;stroke-width:2}"
                            "@media print{svg.chart text{fill:#000}.tc-grid{stroke:#BBB}"
                            ".tc-track{fill:#FFF;stroke:#000}svg.chart{break-inside:avoid}}");
}

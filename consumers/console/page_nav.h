/*
 * page_nav.h: the links from one month's page to the month before and the
 * month after, for the pages that take ?period= (usage, seats, product).
 * A link is written only when the server would accept its period
 * (period.h: not in the future, at most 13 months back), so a reader can
 * walk the whole range and never meets a 400.
 */
#ifndef TALLY_CONSOLE_PAGE_NAV_H
#define TALLY_CONSOLE_PAGE_NAV_H

#include <stdint.h>

#include "textbuf.h"

/* Appends <nav class="period-nav">...</nav> for page (a pages.h name) of
 * tenant_id (NULL on vendor pages) showing period ("YYYY-MM") at now_ms.
 * Everything borrowed; nothing is written for a malformed period. */
void tally_page_period_nav(tally_textbuf_t *out, const char *page, const char *tenant_id, const char *period,
                           int64_t now_ms);

#endif

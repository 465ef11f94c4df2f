/*
 * license_html.h: what the two licenses pages (pages_licenses.c for a
 * member, pages_vendor_licenses.c for staff) render alike from the list
 * of license_list.h: the status badge and the table of licenses. Pure:
 * appends to a buffer; every text escaped (html.h).
 *
 * The status says it in words, not only in colour: "Valid" (badge-ok),
 * "Expired" (badge-unknown), "Revoked" (badge-over), "Not yet valid"
 * (badge-warning).
 *
 * The member's table: license, status, valid from, valid until, key,
 * download (none for a revoked license: the console does not hand it out
 * again). Staff's table adds tenant and holder (member or environment),
 * shows the revoke reason, a download for every license, and for every
 * license not revoked a revoke form: POST /vendor/licenses/{id}/revoke
 * with a required field "reason" (1-200 characters).
 */
#ifndef TALLY_CONSOLE_LICENSE_HTML_H
#define TALLY_CONSOLE_LICENSE_HTML_H

#include <jansson.h>

#include "textbuf.h"

/* Appends the badge of status (a tally_license_list_status word; anything
 * else is shown escaped, badge-unknown). */
void tally_license_html_status(tally_textbuf_t *out, const char *status);

/* Appends the table of licenses (a JSON array of license_list.h items,
 * borrowed): the member's columns, or staff's with revoke forms. With
 * downloads 0 (license signing not configured) no download link is shown.
 * An empty list is one row saying so. */
void tally_license_html_table(tally_textbuf_t *out, const json_t *licenses, int staff, int downloads,
                              const char *caption);

#endif

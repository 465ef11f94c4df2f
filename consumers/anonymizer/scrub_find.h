/*
 * scrub_find.h: the scrubbing candidates found or checked in C, where a
 * pattern cannot say it (checksums, entropy) or could not stay linear on
 * hostile text (an e-mail address read back from its '@').
 *
 * Finders scan s[0..n) from start and return 1 with the candidate's bounds
 * in *b, *e (start <= *b < *e <= n), or 0 when there is none. Every byte is
 * looked at a bounded number of times, so a finder is linear in n whatever
 * the text. Checks look at the candidate s[b..e) a pattern matched (n is
 * the text's length, for the bytes around it) and return the end of what
 * to redact (b < end <= e; a prefix when only its start qualifies), or 0 to
 * keep the candidate as it is. Pure functions: no state, no allocation.
 */
#ifndef TALLY_ANONYMIZER_SCRUB_FIND_H
#define TALLY_ANONYMIZER_SCRUB_FIND_H

#include <stddef.h>

/* Runs of 32 or more [A-Za-z0-9+/=_-] that look random (upper case, lower
 * case and digits, often changing class, high Shannon entropy; hex-only
 * runs never do), together with the runs joined to them by single dots:
 * the id part of an "id.secret" key goes with its secret part. */
int tally_scrub_find_random_run(const char *s, size_t n, size_t start, size_t *b, size_t *e);

/* E-mail addresses: a domain of LDH labels ending in a 2-24 letter label,
 * and the whole local part before the '@' in RFC 5322's characters
 * (letters, digits, dots and !#$%&'*+/=?^_`{|}~-), except what free text
 * puts before an address: a path or URL up to its last '/', a key such as
 * "EMAIL=" or "--email=" (letters, digits, '_', '-' and '.' before the
 * first '='), and leading quotes or dots. */
int tally_scrub_find_email(const char *s, size_t n, size_t start, size_t *b, size_t *e);

/* The candidate holds a decimal digit (an IPv6 address, not C++'s a::b). */
size_t tally_scrub_check_digit(const char *s, size_t n, size_t b, size_t e);

/* A payment card number: 13-19 digits with an issuer's prefix and length
 * (Visa 4: 13, 16, 19; Mastercard: 16; Amex 34, 37: 15; Diners, JCB,
 * Discover, UnionPay, Maestro: 13-19) and a valid Luhn check digit; printed
 * as one run, or in groups of 4-4-4-4(-3), 4-6-5 or 4-6-4 split by the same
 * space or dash. Grouped, the longest group prefix that qualifies ("4111
 * 1111 1111 1111 123": the card, not its CVV). */
size_t tally_scrub_check_card(const char *s, size_t n, size_t b, size_t e);

/* An IBAN: a known country code, that country's length (letters and digits,
 * single spaces between groups of four allowed), not followed by a letter
 * or digit, and ISO 13616's mod-97 checksum. */
size_t tally_scrub_check_iban(const char *s, size_t n, size_t b, size_t e);

/* A phone number: 8-15 digits after a '+' (E.164), else 9-12 digits. */
size_t tally_scrub_check_phone(const char *s, size_t n, size_t b, size_t e);

/* A credential after a keyword ("token a1b2c3", "Bearer abc123"): 8 or
 * more bytes, or 4 or more that hold a digit or mix lower and upper case
 * after the first byte; "expired", "incorrect", "Manager" are words. */
size_t tally_scrub_check_credential(const char *s, size_t n, size_t b, size_t e);

/* Same, but any length from 4 bytes on needs a digit, mixed case or 8+ hex
 * letters: after a bare keyword ("password incorrect", "token expired",
 * "api key deadbeefcafe"), a long word is still a word. */
size_t tally_scrub_check_word_credential(const char *s, size_t n, size_t b, size_t e);

/* Whether s[0..n) may hold an IPv6 address: "::", or six or more hex
 * groups in a row each followed by a colon (cheap pre-check). */
int tally_scrub_maybe_ipv6(const char *s, size_t n);

#endif /* TALLY_ANONYMIZER_SCRUB_FIND_H */

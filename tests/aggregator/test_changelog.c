/* Unit tests of aggregator/changelog: every kind of record round-trips
 * with extreme values; tombstones; and every way a record can be
 * malformed (each truncation, a trailing byte, an overlong or overflowing
 * integer, an unknown kind, version or op, a day outside int32, seat
 * events out of the value) is refused with a reason. */
#include "changelog.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

TestSuite(changelog);

static void decode_ok(const tally_changelog_buf_t *k, const tally_changelog_buf_t *v,
                      tally_changelog_entry_t *e)
{
    char err[256];
    cr_assert_eq(tally_changelog_decode(k->data, k->len, v ? v->data : NULL, v ? v->len : 0, e, err,
                                        sizeof err),
                 0, "%s", err);
}

/* Every proper prefix of key or value, and the value plus a byte, fail. */
static void assert_strict(const tally_changelog_buf_t *k, const tally_changelog_buf_t *v)
{
    tally_changelog_entry_t e;
    char err[256];
    unsigned char buf[4096];

    cr_assert_lt(v->len + 1, sizeof buf);
    for (size_t n = 0; n < k->len; n++)
        cr_assert_eq(tally_changelog_decode(k->data, n, v->data, v->len, &e, err, sizeof err), -1,
                     "key cut at %zu", n);
    for (size_t n = 0; n < v->len; n++)
        cr_assert_eq(tally_changelog_decode(k->data, k->len, v->data, n, &e, err, sizeof err), -1,
                     "value cut at %zu", n);
    memcpy(buf, v->data, v->len);
    buf[v->len] = 0;
    cr_assert_eq(tally_changelog_decode(k->data, k->len, buf, v->len + 1, &e, err, sizeof err), -1);
    cr_assert(strstr(err, "trailing"), "%s", err);
    memcpy(buf, k->data, k->len);
    buf[k->len] = 0;
    cr_assert_eq(tally_changelog_decode(buf, k->len + 1, v->data, v->len, &e, err, sizeof err), -1);
}

Test(changelog, reporter_round_trip)
{
    tally_changelog_buf_t k = {0}, v = {0};
    tally_changelog_entry_t e;
    const int64_t c[4] = {INT64_MAX, 0, -1, INT64_MIN};

    tally_changelog_key_reporter(&k, "tenant", 6, "prod", 4, "r-1", 3);
    tally_changelog_value_reporter(&v, -42, c, 1714521600000);
    decode_ok(&k, &v, &e);
    cr_assert_eq(e.kind, TALLY_CHANGELOG_REPORTER);
    cr_assert(!e.tombstone);
    cr_assert_eq(e.tenant_len, 6);
    cr_assert_eq(memcmp(e.tenant, "tenant", 6), 0);
    cr_assert_eq(memcmp(e.environment, "prod", 4), 0);
    cr_assert_eq(e.name_len, 3);
    cr_assert_eq(memcmp(e.name, "r-1", 3), 0);
    cr_assert_eq(e.seq, -42);
    cr_assert_eq(memcmp(e.counters, c, sizeof c), 0);
    cr_assert_eq(e.time, 1714521600000);
    assert_strict(&k, &v);
    decode_ok(&k, NULL, &e);
    cr_assert(e.tombstone);
    tally_changelog_buf_free(&k);
    tally_changelog_buf_free(&v);
}

Test(changelog, api_day_round_trip)
{
    tally_changelog_buf_t k = {0}, v = {0};
    tally_changelog_entry_t e;
    const int64_t s[4] = {1, 2, 3, 4};

    tally_changelog_key_api_day(&k, "", 0, "staging", 7, INT32_MIN);
    tally_changelog_value_api_day(&v, s, INT64_MIN);
    decode_ok(&k, &v, &e);
    cr_assert_eq(e.kind, TALLY_CHANGELOG_API_DAY);
    cr_assert_eq(e.tenant_len, 0);
    cr_assert_eq(e.day, INT32_MIN);
    cr_assert_eq(memcmp(e.counters, s, sizeof s), 0);
    cr_assert_eq(e.time, INT64_MIN);
    assert_strict(&k, &v);
    tally_changelog_buf_free(&k);
    tally_changelog_buf_free(&v);
}

Test(changelog, seat_round_trip)
{
    tally_changelog_buf_t k = {0}, v = {0};
    tally_changelog_entry_t e;
    tally_changelog_seat_event_t base = {.at = -5, .op = 1}, evs[3], got;

    memset(base.id, 0xab, sizeof base.id);
    for (int i = 0; i < 3; i++) {
        evs[i] = (tally_changelog_seat_event_t){.at = INT64_MAX - 2 + i, .op = (uint8_t)(i & 1)};
        memset(evs[i].id, i, sizeof evs[i].id);
    }
    tally_changelog_key_seat(&k, "t", 1, "seat-ref", 8);
    tally_changelog_value_seat(&v, &base, 3);
    for (int i = 0; i < 3; i++)
        tally_changelog_value_seat_event(&v, &evs[i]);
    decode_ok(&k, &v, &e);
    cr_assert_eq(e.kind, TALLY_CHANGELOG_SEAT);
    cr_assert_eq(e.name_len, 8);
    cr_assert(e.has_base);
    cr_assert_eq(e.base.at, -5);
    cr_assert_eq(e.base.op, 1);
    cr_assert_eq(memcmp(e.base.id, base.id, sizeof base.id), 0);
    cr_assert_eq(e.n_events, 3);
    for (size_t i = 0; i < 3; i++) {
        tally_changelog_seat_event(&e, i, &got);
        cr_assert_eq(memcmp(&got.at, &evs[i].at, sizeof got.at), 0);
        cr_assert_eq(got.op, evs[i].op);
        cr_assert_eq(memcmp(got.id, evs[i].id, sizeof got.id), 0);
    }
    assert_strict(&k, &v);

    /* No base, no events is encodable (the state never writes it). */
    tally_changelog_buf_reset(&v);
    tally_changelog_value_seat(&v, NULL, 0);
    decode_ok(&k, &v, &e);
    cr_assert(!e.has_base);
    cr_assert_eq(e.n_events, 0);

    /* An op other than 0 or 1 is refused. */
    tally_changelog_buf_reset(&v);
    evs[0].op = 2;
    tally_changelog_value_seat(&v, NULL, 1);
    tally_changelog_value_seat_event(&v, &evs[0]);
    char err[256];
    cr_assert_eq(tally_changelog_decode(k.data, k.len, v.data, v.len, &e, err, sizeof err), -1);
    cr_assert(strstr(err, "seat event"), "%s", err);
    tally_changelog_buf_free(&k);
    tally_changelog_buf_free(&v);
}

Test(changelog, meta_round_trip)
{
    tally_changelog_buf_t k = {0}, v = {0};
    tally_changelog_entry_t e;

    tally_changelog_key_meta(&k);
    cr_assert_eq(k.len, 1);
    tally_changelog_value_meta(&v, true, 19844);
    decode_ok(&k, &v, &e);
    cr_assert_eq(e.kind, TALLY_CHANGELOG_META);
    cr_assert(e.has_closed_through);
    cr_assert_eq(e.api_closed_through, 19844);
    assert_strict(&k, &v);
    tally_changelog_buf_reset(&v);
    tally_changelog_value_meta(&v, false, 0);
    decode_ok(&k, &v, &e);
    cr_assert(!e.has_closed_through);
    tally_changelog_buf_free(&k);
    tally_changelog_buf_free(&v);
}

Test(changelog, position_round_trip)
{
    tally_changelog_buf_t k = {0}, v = {0};
    tally_changelog_entry_t e;
    char err[256];
    const int64_t offsets[] = {0, 1, 127, 128, INT64_C(1) << 40, INT64_MAX};

    tally_changelog_key_position(&k);
    cr_assert_eq(k.len, 1);
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        tally_changelog_buf_reset(&v);
        tally_changelog_value_position(&v, offsets[i]);
        decode_ok(&k, &v, &e);
        cr_assert_eq(e.kind, TALLY_CHANGELOG_POSITION);
        cr_assert_eq(e.next_offset, offsets[i]);
        assert_strict(&k, &v);
    }
    /* An offset is never negative. */
    tally_changelog_buf_reset(&v);
    tally_changelog_value_position(&v, -1);
    cr_assert_eq(tally_changelog_decode(k.data, k.len, v.data, v.len, &e, err, sizeof err), -1);
    cr_assert(strstr(err, "next_offset"), "%s", err);
    decode_ok(&k, NULL, &e);
    cr_assert(e.tombstone);
    tally_changelog_buf_free(&k);
    tally_changelog_buf_free(&v);
}

Test(changelog, malformed_records_are_refused)
{
    tally_changelog_entry_t e;
    char err[256];
    const unsigned char reporter_value[] = {1, 2, 2, 2, 2, 2, 2};

    /* Unknown kind; empty key; NULL key. */
    cr_assert_eq(tally_changelog_decode("X", 1, NULL, 0, &e, err, sizeof err), -1);
    cr_assert(strstr(err, "kind"), "%s", err);
    cr_assert_eq(tally_changelog_decode("", 0, NULL, 0, &e, err, sizeof err), -1);
    cr_assert_eq(tally_changelog_decode(NULL, 0, NULL, 0, &e, err, sizeof err), -1);
    /* Overlong string length (0x80 0x00 is 0 in two bytes). */
    const unsigned char overlong[] = {'R', 0x80, 0x00, 0, 0};
    cr_assert_eq(tally_changelog_decode(overlong, sizeof overlong, NULL, 0, &e, err, sizeof err), -1);
    /* A length past the end. */
    const unsigned char past[] = {'S', 5, 'a', 0};
    cr_assert_eq(tally_changelog_decode(past, sizeof past, NULL, 0, &e, err, sizeof err), -1);
    /* A day beyond int32 (zigzag 2^32). */
    const unsigned char big_day[] = {'U', 0, 0, 0x80, 0x80, 0x80, 0x80, 0x20};
    cr_assert_eq(tally_changelog_decode(big_day, sizeof big_day, NULL, 0, &e, err, sizeof err), -1);
    cr_assert(strstr(err, "day"), "%s", err);
    /* An integer of more than 64 bits. */
    const unsigned char key[] = {'R', 0, 0, 0};
    const unsigned char huge[] = {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 2, 2, 2, 2, 2};
    cr_assert_eq(tally_changelog_decode(key, sizeof key, huge, sizeof huge, &e, err, sizeof err), -1);
    /* The largest 64-bit value is fine: 0xff x9 then 0x01. */
    const unsigned char max[] = {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 2, 2, 2, 2, 2};
    cr_assert_eq(tally_changelog_decode(key, sizeof key, max, sizeof max, &e, err, sizeof err), 0, "%s", err);
    cr_assert_eq(e.seq, INT64_MIN);
    /* Another version. */
    unsigned char v2[sizeof reporter_value];
    memcpy(v2, reporter_value, sizeof v2);
    cr_assert_eq(tally_changelog_decode(key, sizeof key, v2, sizeof v2, &e, err, sizeof err), 0, "%s", err);
    v2[0] = 2;
    cr_assert_eq(tally_changelog_decode(key, sizeof key, v2, sizeof v2, &e, err, sizeof err), -1);
    cr_assert(strstr(err, "version"), "%s", err);
    /* A seat value claiming more events than it holds; bad flags. */
    const unsigned char seat_key[] = {'S', 1, 't', 1, 's'};
    const unsigned char seat_short[] = {1, 0, 1};
    cr_assert_eq(tally_changelog_decode(seat_key, sizeof seat_key, seat_short, sizeof seat_short, &e, err,
                                        sizeof err),
                 -1);
    const unsigned char seat_flags[] = {1, 2, 0};
    cr_assert_eq(tally_changelog_decode(seat_key, sizeof seat_key, seat_flags, sizeof seat_flags, &e, err,
                                        sizeof err),
                 -1);
    /* A present but empty value is not a tombstone. */
    cr_assert_eq(tally_changelog_decode(seat_key, sizeof seat_key, "", 0, &e, err, sizeof err), -1);
}

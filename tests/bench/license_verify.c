/*
 * license_verify: the CPU time of verifying one license file, as
 * `tally license verify` and the console will do it (tally_license_check:
 * envelope, base64, canonical JSON, fields, Ed25519, revocation lookup,
 * window), and of its parts. Prints microseconds per license; asserts
 * nothing (the figure depends on the machine).
 *
 *   bench_license_verify --license=FILE --public-key=FILE [--count=N]
 *   e.g. with tests/data/licenses/vector.license and vector.pub
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "license.h"
#include "license_armor.h"
#include "license_revoked.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        bench_die(path, "cannot open");
    char *buf = calloc(1, TALLY_LICENSE_FILE_MAX + 1);
    *len = fread(buf, 1, TALLY_LICENSE_FILE_MAX, f);
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    bench_program = "bench_license_verify";
    const char *count_arg = bench_opt_arg(argc, argv, "--count");
    long count = count_arg ? atol(count_arg) : 20000;
    if (count < 1 || sodium_init() < 0)
        bench_die("--count", "must be a positive number");
    char err[256];
    size_t len;
    char *text = slurp(bench_arg(argc, argv, "--license"), &len);
    tally_license_pubkeys_t *pub = tally_license_pubkeys_new();
    if (tally_license_pubkeys_load_file(pub, bench_arg(argc, argv, "--public-key"), err, sizeof err) != 0)
        bench_die("--public-key", err);
    tally_license_file_t *f = malloc(sizeof *f);
    if (tally_license_parse(text, len, f, err, sizeof err) != 0)
        bench_die("--license", err);
    int64_t now = f->license.valid_from;

    double t0 = bench_now_s();
    for (long i = 0; i < count; i++)
        if (tally_license_check(text, len, pub, NULL, now, f, err, sizeof err) != TALLY_LICENSE_VALID)
            bench_die("check", err);
    double full = bench_now_s() - t0;

    t0 = bench_now_s();
    for (long i = 0; i < count; i++)
        if (tally_license_parse(text, len, f, err, sizeof err) != 0)
            bench_die("parse", err);
    double parse = bench_now_s() - t0;

    tally_textbuf_t msg = {0};
    tally_license_armor_signed_bytes(TALLY_LICENSE_LABEL, f->payload, f->payload_len, &msg);
    const unsigned char *pk = tally_license_pubkeys_find(pub, f->license.key_id, strlen(f->license.key_id));
    t0 = bench_now_s();
    for (long i = 0; i < count; i++)
        if (crypto_sign_verify_detached(f->signature, (const unsigned char *)msg.data, msg.len, pk) != 0)
            bench_die("verify", "bad signature");
    double sig = bench_now_s() - t0;

    printf("licenses %ld (%zu-byte file, %zu-byte payload)\n", count, len, f->payload_len);
    printf("check (parse + Ed25519 + window): %.1f us/license\n", full * 1e6 / (double)count);
    printf("  parse only (envelope, base64, canonical JSON, fields): %.1f us/license\n",
           parse * 1e6 / (double)count);
    printf("  Ed25519 verify only: %.1f us/license\n", sig * 1e6 / (double)count);
    tally_textbuf_free(&msg);
    tally_license_pubkeys_free(pub);
    free(f);
    free(text);
    return 0;
}

/*
 * fuzz_util.h: what the libFuzzer harnesses of tests/fuzz share. A harness
 * reports a broken property with fuzz_fail, which aborts, so libFuzzer
 * keeps the input as a crash artifact (a plain return would not).
 */
#ifndef TALLY_FUZZ_UTIL_H
#define TALLY_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "schema_catalog.h"

/* The entry point libFuzzer calls, per harness. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "fuzz: <message>" and aborts. */
__attribute__((format(printf, 1, 2), noreturn))
void fuzz_fail(const char *fmt, ...);

/* The project's source folder: $TALLY_SOURCE_DIR, else the one the
 * harness was built from (static string). */
const char *fuzz_source_dir(void);

/* The catalog of <source>/<sub> (e.g. "schemas"), loaded once per process
 * and kept (borrowed); aborts when it does not load. */
const tally_catalog_t *fuzz_catalog(const char *sub);

/* CPU time the calling thread used, in milliseconds (not wall time: the
 * machine may be busy). */
double fuzz_cpu_ms(void);

#endif /* TALLY_FUZZ_UTIL_H */

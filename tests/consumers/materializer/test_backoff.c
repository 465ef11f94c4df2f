/* The materializer's retry backoff, no broker or database: each delay
 * doubles from the initial one up to the maximum, with jitter in [d/2, d]. */
#include "materializer.h"

#include <criterion/criterion.h>

Test(backoff, doubles_with_jitter_up_to_the_maximum)
{
    unsigned seed = 42;
    for (int attempt = 0; attempt < 40; attempt++) {
        int64_t d = 100;
        for (int i = 0; i < attempt && d < 5000; i++)
            d *= 2;
        if (d > 5000)
            d = 5000;
        for (int k = 0; k < 50; k++) {
            int64_t v = tally_materializer_backoff_ms(attempt, 100, 5000, &seed);
            cr_assert(v >= d / 2 && v <= d, "attempt %d: %lld not in [%lld, %lld]", attempt, (long long)v,
                      (long long)d / 2, (long long)d);
        }
    }
}

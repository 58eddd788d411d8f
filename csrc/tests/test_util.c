#include "test_util.h"

#include <stdlib.h>

long g_passed, g_failed;

void check_impl(int ok, const char *what, const char *file, int line)
{
    if (ok) {
        g_passed++;
        return;
    }
    g_failed++;
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
}

void check_eq_u(uint64_t a, uint64_t b, const char *sa, const char *sb, const char *file, int line)
{
    if (a == b) {
        g_passed++;
        return;
    }
    g_failed++;
    fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%llu != %llu)\n", file, line, sa, sb,
            (unsigned long long)a, (unsigned long long)b);
}

uint32_t rng_u32(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 0x2545F4914F6CDD1DULL) >> 32);
}

float rng_uniform(rng *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)((double)rng_u32(r) / 4294967296.0);
}

void *alloc_shifted(size_t size, size_t shift, uint8_t **p)
{
    uint8_t *base = malloc(size + 128);
    if (base == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    uintptr_t a = ((uintptr_t)base + 63) & ~(uintptr_t)63;
    *p = (uint8_t *)a + shift;
    return base;
}

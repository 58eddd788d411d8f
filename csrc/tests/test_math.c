/* Activations against double-precision libm: |error| <= 1e-6 everywhere, NaN propagates, and the
 * vectorized loops give the same bits as the scalar functions. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grt_math.h"
#include "test_util.h"

#if GRT_HAS_F32 || GRT_HAS_Q8 /* the float activations */

#define ACT_TOL 1e-6

static double ref_act(unsigned act, double x)
{
    switch (act) {
    case GRT_ACT_RELU: return x < 0 ? 0 : x;
    case GRT_ACT_TANH: return tanh(x);
    case GRT_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case GRT_ACT_HARD_SIGMOID: return fmin(fmax(x / 6.0 + 0.5, 0.0), 1.0);
    case GRT_ACT_HARD_SIGMOID_K2: return fmin(fmax(0.2 * x + 0.5, 0.0), 1.0);
    default: return x;
    }
}

static float scalar_act(unsigned act, float x)
{
    return act == GRT_ACT_TANH ? grt_tanhf(x) : grt_sigmoidf(x);
}

/* Max |error| of the vector activation over xs; also checks the vector path equals the scalar one. */
static double max_error(unsigned act, const float *xs, size_t n, float *work, int *scalar_same)
{
    double worst = 0;
    memcpy(work, xs, n * sizeof(float));
    grt_act_apply(act, work, n);
    *scalar_same = 1;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)work[i] - ref_act(act, (double)xs[i]));
        worst = e > worst ? e : worst;
        if ((act == GRT_ACT_TANH || act == GRT_ACT_SIGMOID) &&
            memcmp(&work[i], &(float){scalar_act(act, xs[i])}, sizeof(float)) != 0)
            *scalar_same = 0;
    }
    return worst;
}

static void test_grid_and_bits(void)
{
    const size_t grid = 2000001, extra = 1000000;
    static const float extremes[] = {88.0f, -88.0f, 1e30f, -1e30f, INFINITY, -INFINITY, 0.0f, -0.0f,
                                     FLT_MIN, -FLT_MIN, 1e-40f, -1e-40f, 0.625f, -0.625f,
                                     0.62499994f, -0.62499994f, 87.33f, -87.34f, 44.0f, -44.0f,
                                     FLT_MAX, -FLT_MAX, 1e-7f, -1e-7f};
    size_t n_ext = sizeof extremes / sizeof extremes[0];
    size_t n = grid + extra + n_ext;
    float *xs = malloc(n * sizeof(float)), *work = malloc(n * sizeof(float));
    rng r = {12345};
    for (size_t i = 0; i < grid; i++)
        xs[i] = (float)(-20.0 + 40.0 * (double)i / (double)(grid - 1));
    for (size_t i = 0; i < extra; i++) { /* random bit patterns: every exponent, no NaN */
        uint32_t u = rng_u32(&r);
        float f;
        memcpy(&f, &u, 4);
        xs[grid + i] = isnan(f) ? 0.0f : f;
    }
    memcpy(xs + grid + extra, extremes, sizeof extremes);

    static const unsigned acts[] = {GRT_ACT_LINEAR, GRT_ACT_RELU, GRT_ACT_TANH, GRT_ACT_SIGMOID,
                                    GRT_ACT_HARD_SIGMOID, GRT_ACT_HARD_SIGMOID_K2};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        int same;
        double e = max_error(acts[a], xs, n, work, &same);
        CHECK(e <= ACT_TOL);
        CHECK(same);
        if (e > ACT_TOL)
            fprintf(stderr, "  %s: max |err| %.3g\n", grt_activation_name(acts[a]), e);
    }
    free(xs);
    free(work);
}

static void test_exp(void)
{
    double worst = 0;
    for (int i = 0; i <= 1000000; i++) {
        float x = (float)(-87.0 + 175.0 * i / 1000000.0);
        double e = fabs((double)grt_expf(x) / exp((double)x) - 1.0);
        worst = e > worst ? e : worst;
    }
    CHECK(worst < 3e-7);
    CHECK(grt_expf(0.0f) == 1.0f);
    CHECK(isfinite(grt_expf(1000.0f)) && grt_expf(1000.0f) > 1e38f);
    CHECK(grt_expf(-1000.0f) >= 0.0f && grt_expf(-1000.0f) < 1e-37f);
    CHECK(isfinite(grt_expf(INFINITY)));
}

static void test_nan(void)
{
    CHECK(isnan(grt_expf(NAN)));
    CHECK(isnan(grt_sigmoidf(NAN)));
    CHECK(isnan(grt_tanhf(NAN)));
    CHECK(isnan(grt_tanhf(-NAN)));
    static const unsigned acts[] = {GRT_ACT_RELU, GRT_ACT_TANH, GRT_ACT_SIGMOID, GRT_ACT_HARD_SIGMOID,
                                    GRT_ACT_HARD_SIGMOID_K2, GRT_ACT_SOFTMAX};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        float v[3] = {1.0f, NAN, -1.0f};
        grt_act_apply(acts[a], v, 3);
        CHECK(isnan(v[1]));
    }
}

static void test_softmax(void)
{
    static const size_t sizes[] = {1, 2, 5, 17, 100};
    rng r = {777};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        float v[100];
        double ref[100], m = -INFINITY, sum = 0, worst = 0, total = 0;
        size_t n = sizes[s];
        for (size_t i = 0; i < n; i++) {
            v[i] = rng_uniform(&r, -50.0f, 50.0f);
            m = v[i] > m ? v[i] : m;
        }
        for (size_t i = 0; i < n; i++)
            sum += ref[i] = exp((double)v[i] - m);
        grt_act_apply(GRT_ACT_SOFTMAX, v, n);
        for (size_t i = 0; i < n; i++) {
            double e = fabs((double)v[i] - ref[i] / sum);
            worst = e > worst ? e : worst;
            total += v[i];
        }
        CHECK(worst <= ACT_TOL);
        CHECK(fabs(total - 1.0) < 1e-5);
    }
    float big[3] = {1000.0f, 1000.0f, -1000.0f}; /* no overflow thanks to the max shift */
    grt_act_apply(GRT_ACT_SOFTMAX, big, 3);
    CHECK(fabsf(big[0] - 0.5f) < 1e-6f && fabsf(big[1] - 0.5f) < 1e-6f && big[2] < 1e-30f);
    grt_act_apply(GRT_ACT_SOFTMAX, big, 0); /* n = 0: nothing to do, no read */
}

/* Same bits, or both NaN (a NaN's payload may depend on operand order). */
static int same_value(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* Every level the CPU runs gives the scalar level's bits for every activation, at every vector
 * length up to 3 vectors plus odd tails, on random floats of every exponent, grid points around
 * the branch limits, and specials (NaN, ±inf, ±0, denormals). */
static void test_levels_match_scalar(void)
{
    enum { N = 4096 };
    static float xs[N], a[N], b[N];
    rng r = {4242};
    for (size_t i = 0; i < N; i++) {
        uint32_t u = rng_u32(&r);
        float f;
        memcpy(&f, &u, 4);
        xs[i] = i % 3 == 0 ? f : i % 3 == 1 ? rng_uniform(&r, -12.0f, 12.0f) : rng_uniform(&r, -0.7f, 0.7f);
    }
    static const float specials[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, -1e-40f,
                                     0.625f, -0.625f, 88.3762626647949f, -87.3365478515625f, 89.0f,
                                     -88.0f, FLT_MAX, -FLT_MAX};
    memcpy(xs, specials, sizeof specials);
    static const unsigned acts[] = {GRT_ACT_LINEAR, GRT_ACT_RELU, GRT_ACT_TANH, GRT_ACT_SIGMOID,
                                    GRT_ACT_SOFTMAX, GRT_ACT_HARD_SIGMOID, GRT_ACT_HARD_SIGMOID_K2};
    static const size_t lengths[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 23, 24, 25, 33, 100, N};
    int levels = 0;
    for (unsigned isa = 1; isa < GRT_ISA_COUNT; isa++) {
        grt_act_fn f = grt_isa_act((grt_isa)isa);
        grt_isa prev = grt_isa_active();
        if (f == NULL || grt_isa_select((grt_isa)isa) != GRT_OK)
            continue;
        CHECK(grt_isa_select(prev) == GRT_OK);
        levels++;
        for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++)
            for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
                size_t n = lengths[l];
                /* softmax of the specials is all NaN: also run it from past them */
                const float *src = acts[k] == GRT_ACT_SOFTMAX && n < N ? xs + 16 + 7 * l : xs;
                memcpy(a, src, n * sizeof(float));
                memcpy(b, src, n * sizeof(float));
                grt_act_apply_scalar(acts[k], a, n);
                f(acts[k], b, n);
                int same = 1;
                for (size_t i = 0; i < n; i++)
                    same &= same_value(a[i], b[i]);
                CHECK(same);
                if (!same)
                    fprintf(stderr, "  %s: %s differs from scalar at n = %zu\n", grt_isa_name((grt_isa)isa),
                            grt_activation_name(acts[k]), n);
            }
    }
    CHECK(grt_isa_act(GRT_ISA_SCALAR) == grt_act_apply_scalar);
    CHECK(grt_isa_act((grt_isa)GRT_ISA_COUNT) == NULL);
    (void)levels;
}

void test_math(void)
{
    test_levels_match_scalar();
    test_grid_and_bits();
    test_exp();
    test_nan();
    test_softmax();
}

#else
void test_math(void)
{
    SKIPPED("float activations (GRT_NO_F32 and GRT_NO_Q8)");
}
#endif

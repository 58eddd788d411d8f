/* matvec/matmul against a double reference at awkward sizes, matmul bit-identical to matvec, and the
 * GRU step against a straightforward double-precision GRU for every activation combination. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grt_kernels.h"
#include "test_util.h"
#include "test_writer.h"

#if GRT_HAS_F32
static const size_t sizes[] = {1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 63, 127, 129};
#define N_SIZES (sizeof sizes / sizeof sizes[0])
#define MATVEC_REL_TOL 1e-5
#define GRU_TOL 1e-5

static void fill(rng *r, float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = rng_uniform(r, -1.0f, 1.0f);
}

static void test_matvec_vs_double(void)
{
    rng r = {42};
    int all_ok = 1;
    for (size_t a = 0; a < N_SIZES; a++) {
        for (size_t c = 0; c < N_SIZES; c++) {
            size_t rows = sizes[a], cols = sizes[c];
            float *W = malloc(rows * cols * sizeof(float)), *b = malloc(rows * sizeof(float));
            float *x = malloc(cols * sizeof(float)), *y = malloc(rows * sizeof(float));
            fill(&r, W, rows * cols);
            fill(&r, b, rows);
            fill(&r, x, cols);
            grt_matvec_f32(y, W, b, x, rows, cols);
            for (size_t i = 0; i < rows; i++) {
                double ref = b[i], mag = fabs((double)b[i]);
                for (size_t j = 0; j < cols; j++) {
                    ref += (double)W[i * cols + j] * x[j];
                    mag += fabs((double)W[i * cols + j] * x[j]);
                }
                if (fabs((double)y[i] - ref) > MATVEC_REL_TOL * mag) {
                    all_ok = 0;
                    fprintf(stderr, "  matvec %zux%zu row %zu: %g vs %g\n", rows, cols, i, y[i], ref);
                }
            }
            free(W), free(b), free(x), free(y);
        }
    }
    CHECK(all_ok);
}

/* Strided matmul over T steps == T matvecs, bit for bit; padding between rows is left untouched. */
static void test_matmul_bit_identical(void)
{
    static const size_t steps[] = {1, 2, 3, 4, 5, 7, 9, 16};
    rng r = {7};
    for (size_t a = 0; a < N_SIZES; a++) {
        for (size_t c = 0; c < N_SIZES; c += 2) {
            for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
                size_t rows = sizes[a], cols = sizes[c], T = steps[s];
                size_t ldx = cols + 3, ldy = rows + 5;
                float *W = malloc(rows * cols * sizeof(float)), *b = malloc(rows * sizeof(float));
                float *X = malloc(T * ldx * sizeof(float)), *Y = malloc(T * ldy * sizeof(float));
                float *y = malloc(rows * sizeof(float));
                fill(&r, W, rows * cols);
                fill(&r, b, rows);
                fill(&r, X, T * ldx);
                for (size_t i = 0; i < T * ldy; i++)
                    Y[i] = -123.0f;
                grt_matmul_f32(Y, ldy, W, b, X, ldx, rows, cols, T);
                int same = 1, pad_kept = 1;
                for (size_t t = 0; t < T; t++) {
                    grt_matvec_f32(y, W, b, X + t * ldx, rows, cols);
                    same &= memcmp(y, Y + t * ldy, rows * sizeof(float)) == 0;
                    for (size_t i = rows; i < ldy; i++)
                        pad_kept &= Y[t * ldy + i] == -123.0f;
                }
                CHECK(same);
                CHECK(pad_kept);
                free(W), free(b), free(X), free(Y), free(y);
            }
        }
    }
}

/* ---- GRU step against a double reference ----------------------------------------------------- */

static double ref_gate(unsigned act, double x)
{
    switch (act) {
    case GRT_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case GRT_ACT_HARD_SIGMOID: return fmin(fmax(x / 6.0 + 0.5, 0.0), 1.0);
    case GRT_ACT_HARD_SIGMOID_K2: return fmin(fmax(0.2 * x + 0.5, 0.0), 1.0);
    case GRT_ACT_TANH: return tanh(x);
    case GRT_ACT_RELU: return x > 0 ? x : 0;
    default: return x;
    }
}

/* The canonical GRU of FORMAT.md, written out plainly in double. */
static void ref_gru_step(const grt_layer *L, const float *x, double *h)
{
    size_t H = L->output_size, I = L->input_size;
    const float *W = L->tensor[GRT_ROLE_W_IH], *U = L->tensor[GRT_ROLE_W_HH];
    const float *bi = L->tensor[GRT_ROLE_B_IH], *bh = L->tensor[GRT_ROLE_B_HH];
    double r[64], z[64], n[64], rh[64];
    for (size_t i = 0; i < H; i++) {
        double ar = bi[i] + bh[i], az = bi[H + i] + bh[H + i];
        for (size_t j = 0; j < I; j++) {
            ar += (double)W[i * I + j] * x[j];
            az += (double)W[(H + i) * I + j] * x[j];
        }
        for (size_t j = 0; j < H; j++) {
            ar += (double)U[i * H + j] * h[j];
            az += (double)U[(H + i) * H + j] * h[j];
        }
        r[i] = ref_gate(L->gate_activation, ar);
        z[i] = ref_gate(L->gate_activation, az);
        rh[i] = r[i] * h[i];
    }
    for (size_t i = 0; i < H; i++) {
        double wx = bi[2 * H + i], uh = bh[2 * H + i];
        for (size_t j = 0; j < I; j++)
            wx += (double)W[(2 * H + i) * I + j] * x[j];
        for (size_t j = 0; j < H; j++)
            uh += (double)U[(2 * H + i) * H + j] * (L->reset_after ? h[j] : rh[j]);
        n[i] = ref_gate(L->activation, L->reset_after ? wx + r[i] * uh : wx + uh);
    }
    for (size_t i = 0; i < H; i++)
        h[i] = (1.0 - z[i]) * n[i] + z[i] * h[i];
}

static double gru_max_error(unsigned reset_after, unsigned act, unsigned gate, uint32_t H)
{
    enum { I = 5, STEPS = 200 };
    tw_layer spec = {GRT_LAYER_GRU, (uint8_t)act, (uint8_t)gate, (uint8_t)reset_after, I, H, GRT_PREC_F32};
    uint8_t *blob;
    void *base = alloc_shifted(200000, 0, &blob);
    /* Weights ~ 1/sqrt(H): a contracting recurrence, so rounding differences do not grow chaotically. */
    float scale = (float)(1.0 / sqrt((double)H));
    size_t size = tw_build(blob, 200000, &spec, 1, NULL, 0, NULL, H * 31 + act * 7 + gate, scale);
    grt_model m;
    grt_stream s;
    double worst = 1e9;
    if (grt_model_load(&m, blob, size, 0, NULL) == GRT_OK) {
        uint8_t *mem;
        void *mbase = alloc_shifted(grt_stream_size(&m), 0, &mem);
        grt_stream_init(&s, &m, mem, grt_stream_size(&m));
        double h[64] = {0};
        float x[I], y[64];
        rng r = {H + 1000u * act + 17u * gate + reset_after};
        worst = 0;
        for (int t = 0; t < STEPS; t++) {
            fill(&r, x, I);
            for (int i = 0; i < I; i++)
                x[i] *= 2.0f;
            grt_stream_step(&s, x, y);
            ref_gru_step(&m.layers[0], x, h);
            for (size_t i = 0; i < H; i++) {
                double e = fabs((double)y[i] - h[i]) / fmax(1.0, fabs(h[i]));
                worst = e > worst ? e : worst;
            }
        }
        free(mbase);
    }
    free(base);
    return worst;
}

static void test_gru_vs_double(void)
{
    static const uint32_t hs[] = {1, 3, 17, 64};
    static const unsigned acts[] = {GRT_ACT_TANH, GRT_ACT_RELU};
    static const unsigned gates[] = {GRT_ACT_SIGMOID, GRT_ACT_HARD_SIGMOID, GRT_ACT_HARD_SIGMOID_K2};
    for (unsigned ra = 0; ra < 2; ra++)
        for (size_t a = 0; a < 2; a++)
            for (size_t g = 0; g < 3; g++)
                for (size_t k = 0; k < 4; k++) {
                    double e = gru_max_error(ra, acts[a], gates[g], hs[k]);
                    CHECK(e <= GRU_TOL);
                    if (e > GRU_TOL)
                        fprintf(stderr, "  gru reset_after=%u %s/%s H=%u: err %.3g\n", ra,
                                grt_activation_name(acts[a]), grt_activation_name(gates[g]), hs[k], e);
                }
}

#endif /* GRT_HAS_F32 */

/* Check values from the standard and from Python's zlib.crc32, whichever implementation the build has
 * (slice-by-4 tables, or bit by bit with GRT_SMALL_CRC: `make switches` runs these in both), at every
 * start alignment and split into two calls at every point of a 300-byte buffer. */
static void test_crc_vector(void)
{
    static uint8_t buf[4099 + 3];
    CHECK_EQ_U(grt_crc32(0, "123456789", 9), 0xCBF43926u);
    CHECK_EQ_U(grt_crc32(grt_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    CHECK_EQ_U(grt_crc32(0, "", 0), 0);
    for (unsigned off = 0; off < 4; off++) {
        uint8_t *p = buf + off;
        memset(buf, 0, sizeof buf);
        CHECK_EQ_U(grt_crc32(0, p, 1000), 0x060B1780u); /* zlib.crc32(bytes(1000)) */
        for (unsigned i = 0; i < 256; i++)
            p[i] = (uint8_t)i;
        CHECK_EQ_U(grt_crc32(0, p, 256), 0x29058C73u); /* zlib.crc32(bytes(range(256))) */
        for (unsigned i = 0; i < 4099; i++)
            p[i] = (uint8_t)(i * 7 + 3);
        CHECK_EQ_U(grt_crc32(0, p, 4099), 0x9CE410F9u); /* bytes((i*7+3) & 255 for i in range(4099)) */
    }
    int split_ok = 1;
    const uint32_t whole = grt_crc32(0, buf, 300);
    for (size_t k = 0; k <= 300; k++)
        split_ok &= grt_crc32(grt_crc32(0, buf, k), buf + k, 300 - k) == whole;
    CHECK(split_ok);
}

void test_kernels(void)
{
    test_crc_vector();
#if GRT_HAS_F32
    test_matvec_vs_double();
    test_matmul_bit_identical();
    test_gru_vs_double();
#else
    SKIPPED("f32 kernels (GRT_NO_F32)");
#endif
}

/* grt_kernels_q15_avx2.c — the AVX2 level of the q15 products and of the GRU cell's element-wise steps
 * (docs/QUANTIZATION.md, "q15"; the steps are also the VNNI levels'), compiled for any x86-64 target
 * through function target attributes (the build uses no -march flag) and only called after the
 * dispatcher (grt_dispatch.c) found AVX2 on the CPU.
 *
 * Integer-only, like grt_kernels_q15.c: no floating-point type or operation (only __m256i/__m128i
 * integer intrinsics). It cannot take part in `make nofloat` (an x86 file, and -mgeneral-regs-only
 * forbids the vector registers it exists for); `make nofloat-x86` checks its object code instead.
 *
 * Dot products, exact, so equal to the scalar level's whatever the order: 16 columns at a time per
 * row, vpmovsxbw widens 16 int8 weights to int16 and vpmaddwd multiplies them with 16 int16 inputs into
 * eight int32 pair sums (|pair| <= 2·128·32768 = 2^23). Four rows per pass share each x load, and their
 * eight-lane accumulators are reduced together (vphaddd).
 *   - Short rows (cols <= 271): a row's whole sum is at most 271·2^22 < 2^31, so it stays int32; the
 *     passes write the raw sums into y, then one streaming pass requantizes y four rows at a time (two
 *     phases, so that the long requantization chain does not serialize the passes).
 *   - Long rows: int32 blocks of GRT_Q15_BLOCK columns (the tail joins the last, <= 271 columns), each
 *     reduced in int32, sign-extended (vpmovsxdq) and added to four int64 sums; each pass requantizes
 *     its four rows.
 * The requantization (grt_q15_requant) runs on four int64 lanes (grt_q15_requant4, grt_q15_requant_avx2.h).
 *
 * Row tails (cols mod 16 columns) use a zero-padded copy of x's tail: weight bytes past the row end
 * then multiply zeros, so the tail load of a row may run into the next row; where it would pass the
 * end of the matrix the tail is copied to a zeroed buffer instead. */
#include "../../grt_internal.h"

#include "../../grt_q15.h"

#if GRT_HAVE_AVX2 && GRT_HAS_Q15

#include <immintrin.h>

#include "grt_q15_requant_avx2.h"

/* From here on, any floating-point type in this file is a compile error. */
#pragma GCC poison float double __m128 __m256 __m128d __m256d


static inline GRT_AVX2 __m128i load16(const void *p)
{
    return _mm_loadu_si128((const __m128i *)p);
}

/* x[j0 : j0 + t] (t < 16) and zeros, as 16 int16. */
static inline GRT_AVX2 __m256i x_tail(const int16_t *x, size_t t)
{
    int16_t buf[16] = {0};
    grt_memcpy(buf, x, t * sizeof(int16_t));
    return _mm256_loadu_si256((const __m256i *)(const void *)buf);
}

/* 16 weight bytes from p whose first t (< 16) are the row's tail: a direct load while it stays inside
 * the matrix (the bytes after the tail meet zeros of x), else the t bytes and zeros. */
static inline GRT_AVX2 __m128i w_tail(const int8_t *p, size_t t, const int8_t *end)
{
    if ((size_t)(end - p) >= 16)
        return load16(p);
    int8_t buf[16] = {0};
    grt_memcpy(buf, p, t);
    return load16(buf);
}

/* acc + the int32 pair sums of 16 weights (int8) times 16 inputs (int16). */
static inline GRT_AVX2 __m256i mac(__m256i acc, __m128i w, __m256i x)
{
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(w), x));
}

/* (sum a0, sum a1, sum a2, sum a3) of four eight-lane accumulators (each sum < 2^31 in magnitude). */
static inline GRT_AVX2 __m128i hsum4(__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* Columns up to which a row's whole sum fits int32: 271 products of at most 2^22 stay below 2^31. */
#define ONE_BLOCK (GRT_Q15_BLOCK + 15)

/* The blocks take their number of steps as a constant: inlined, each gets its own registers. */
#define BLOCK_INLINE static inline __attribute__((always_inline)) GRT_AVX2

/* The exact int32 sums of rows w[0..3] over columns [j, jb) (multiples of 16, jb - j <= ONE_BLOCK),
 * plus the row tails (t < 16 columns from jb, against the zero-padded x tails xt0, xt1) when t > 0,
 * for NT = 1 or 2 steps x0, x1: each widened weight vector serves both steps. Eight accumulators in
 * named registers (gcc keeps arrays of them in memory). */
BLOCK_INLINE void sums4(__m128i *s0, __m128i *s1, const int8_t *const w[4], const int16_t *x0, const int16_t *x1,
                        size_t j, size_t jb, size_t t, __m256i xt0, __m256i xt1, const int8_t *end,
                        const size_t NT)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
    for (; j < jb; j += 16) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(const void *)(x0 + j)), v = u;
        if (NT > 1)
            v = _mm256_loadu_si256((const __m256i *)(const void *)(x1 + j));
        __m256i w0 = _mm256_cvtepi8_epi16(load16(w[0] + j)), w1 = _mm256_cvtepi8_epi16(load16(w[1] + j));
        __m256i w2 = _mm256_cvtepi8_epi16(load16(w[2] + j)), w3 = _mm256_cvtepi8_epi16(load16(w[3] + j));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(w0, u));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(w1, u));
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(w2, u));
        a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(w3, u));
        if (NT > 1) {
            c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(w0, v));
            c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(w1, v));
            c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(w2, v));
            c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(w3, v));
        }
    }
    if (t > 0) {
        __m128i w0 = w_tail(w[0] + j, t, end), w1 = w_tail(w[1] + j, t, end);
        __m128i w2 = w_tail(w[2] + j, t, end), w3 = w_tail(w[3] + j, t, end);
        a0 = mac(a0, w0, xt0), a1 = mac(a1, w1, xt0), a2 = mac(a2, w2, xt0), a3 = mac(a3, w3, xt0);
        if (NT > 1)
            c0 = mac(c0, w0, xt1), c1 = mac(c1, w1, xt1), c2 = mac(c2, w2, xt1), c3 = mac(c3, w3, xt1);
    }
    *s0 = hsum4(a0, a1, a2, a3);
    if (NT > 1)
        *s1 = hsum4(c0, c1, c2, c3);
}

/* The exact dot products of rows w[0..3] (n <= ONE_BLOCK columns each) with x0 (and x1), in int32; xt0,
 * xt1 are the x's tails (n mod 16 columns) zero-padded, end the end of the matrix. */
BLOCK_INLINE void dot4_32(__m128i *s0, __m128i *s1, const int8_t *const w[4], const int16_t *x0, const int16_t *x1,
                          size_t n, __m256i xt0, __m256i xt1, const int8_t *end, const size_t NT)
{
    size_t nfull = n & ~(size_t)15;
    sums4(s0, s1, w, x0, x1, 0, nfull, n - nfull, xt0, xt1, end, NT);
}

/* The same for any n, in int64: int32 blocks of GRT_Q15_BLOCK columns (the tail joins the last block, at
 * most ONE_BLOCK columns), each reduced in int32, sign-extended and added up. */
BLOCK_INLINE void dot4_64(__m256i *s0, __m256i *s1, const int8_t *const w[4], const int16_t *x0, const int16_t *x1,
                          size_t n, __m256i xt0, __m256i xt1, const int8_t *end, const size_t NT)
{
    const size_t nfull = n & ~(size_t)15;
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
    size_t j = 0;
    do {
        size_t jb = nfull - j > GRT_Q15_BLOCK ? j + GRT_Q15_BLOCK : nfull;
        __m128i b0, b1 = _mm_setzero_si128();
        sums4(&b0, &b1, w, x0, x1, j, jb, jb == nfull ? n - nfull : 0, xt0, xt1, end, NT);
        acc0 = _mm256_add_epi64(acc0, _mm256_cvtepi32_epi64(b0));
        if (NT > 1)
            acc1 = _mm256_add_epi64(acc1, _mm256_cvtepi32_epi64(b1));
        j = jb;
    } while (j < nfull);
    *s0 = acc0;
    if (NT > 1)
        *s1 = acc1;
}

/* ---- requantization ----------------------------------------------------------------------------- */

/* y[j] = grt_q15_requant(y[j], codes[j], b[j]) for j < rows, y holding exact int32 sums. */
static inline GRT_AVX2 void requant_rows(int32_t *y, const uint16_t *codes, const int32_t *b, size_t rows)
{
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        __m256i acc = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(const void *)(y + r)));
        _mm_storeu_si128((__m128i *)(void *)(y + r), grt_q15_requant4(acc, 1, codes + r, b + r));
    }
    for (; r < rows; r++)
        y[r] = grt_q15_requant(y[r], codes[r], b[r]);
}

/* ---- products ------------------------------------------------------------------------------------ */

/* The four row pointers of the pass at row r (the last pass repeats its last row where rows run out). */
static inline void rows_of(const int8_t *w[4], const int8_t *W, size_t r, size_t rows, size_t cols)
{
    w[0] = W + r * cols;
    w[1] = r + 1 < rows ? w[0] + cols : w[0];
    w[2] = r + 2 < rows ? w[1] + cols : w[1];
    w[3] = r + 3 < rows ? w[2] + cols : w[2];
}

/* k <= 4 int32 lanes of s to y. */
static inline GRT_AVX2 void store_sums(int32_t *y, __m128i s, size_t k)
{
    if (k >= 4) {
        _mm_storeu_si128((__m128i *)(void *)y, s);
        return;
    }
    int32_t s4[4];
    _mm_storeu_si128((__m128i *)(void *)s4, s);
    for (size_t i = 0; i < k; i++)
        y[i] = s4[i];
}

/* Short rows (cols <= ONE_BLOCK): the exact int32 sums of rows [0, rows) for NT steps (rows of Y, ldy
 * apart; requantized later by requant_rows, so that the passes here are short independent chains). */
BLOCK_INLINE void sums_short(int32_t *Y, size_t ldy, const int8_t *W, const int16_t *X, size_t ldx, size_t rows,
                             size_t cols, const __m256i *xt, const int8_t *end, const size_t NT)
{
    for (size_t r = 0; r < rows; r += 4) {
        const int8_t *w[4];
        __m128i s0, s1 = _mm_setzero_si128();
        rows_of(w, W, r, rows, cols);
        dot4_32(&s0, &s1, w, X, NT > 1 ? X + ldx : X, cols, xt[0], xt[NT - 1], end, NT);
        store_sums(Y + r, s0, rows - r);
        if (NT > 1)
            store_sums(Y + ldy + r, s1, rows - r);
    }
}

/* Long rows: each pass requantizes its own four int64 sums per step. */
BLOCK_INLINE void rows_long(int32_t *Y, size_t ldy, const int8_t *W, const uint16_t *codes, const int32_t *b,
                            const int16_t *X, size_t ldx, size_t rows, size_t cols, const __m256i *xt,
                            const int8_t *end, const size_t NT)
{
    for (size_t r = 0; r < rows; r += 4) {
        const int8_t *w[4];
        __m256i s0, s1 = _mm256_setzero_si256();
        rows_of(w, W, r, rows, cols);
        dot4_64(&s0, &s1, w, X, NT > 1 ? X + ldx : X, cols, xt[0], xt[NT - 1], end, NT);
        grt_q15_requant_store4(Y + r, s0, 0, codes + r, b + r, rows - r);
        if (NT > 1)
            grt_q15_requant_store4(Y + ldy + r, s1, 0, codes + r, b + r, rows - r);
    }
}

GRT_AVX2 void grt_q15_matvec_avx2(int32_t *restrict y, const int8_t *restrict W, const uint16_t *restrict codes,
                                  const int32_t *restrict b, const int16_t *restrict x, size_t rows,
                                  size_t cols)
{
    const int8_t *end = W + rows * cols;
    size_t jt = cols & ~(size_t)15;
    __m256i xt = x_tail(x + jt, cols - jt);
    if (cols <= ONE_BLOCK) {
        sums_short(y, 0, W, x, 0, rows, cols, &xt, end, 1);
        requant_rows(y, codes, b, rows);
        return;
    }
    rows_long(y, 0, W, codes, b, x, 0, rows, cols, &xt, end, 1);
}

/* Steps per chunk: a pass's four weight rows stay in L1 while they are used for the chunk's steps,
 * two at a time (register blocking: each widened weight vector serves two steps). */
#define STEP_CHUNK 16

GRT_AVX2 void grt_q15_matmul_avx2(int32_t *restrict Y, size_t ldy, const int8_t *restrict W,
                                  const uint16_t *restrict codes, const int32_t *restrict b,
                                  const int16_t *restrict X, size_t ldx, size_t rows, size_t cols, size_t T)
{
    const int8_t *end = W + rows * cols;
    size_t jt = cols & ~(size_t)15;
    __m256i xt[STEP_CHUNK];
    for (size_t t0 = 0; t0 < T; t0 += STEP_CHUNK) {
        size_t nt = T - t0 < STEP_CHUNK ? T - t0 : STEP_CHUNK;
        for (size_t t = 0; t < nt; t++)
            xt[t] = x_tail(X + (t0 + t) * ldx + jt, cols - jt);
        for (size_t r = 0; r < rows; r += 4) { /* one pass of four rows over the chunk's steps */
            size_t n = rows - r < 4 ? rows - r : 4;
            const int8_t *Wr = W + r * cols;
            size_t t = 0;
            for (; t < nt; t += 2) {
                int32_t *Yt = Y + (t0 + t) * ldy + r;
                const int16_t *Xt = X + (t0 + t) * ldx;
                if (cols > ONE_BLOCK && t + 1 < nt)
                    rows_long(Yt, ldy, Wr, codes + r, b + r, Xt, ldx, n, cols, xt + t, end, 2);
                else if (cols > ONE_BLOCK)
                    rows_long(Yt, ldy, Wr, codes + r, b + r, Xt, ldx, n, cols, xt + t, end, 1);
                else if (t + 1 < nt)
                    sums_short(Yt, ldy, Wr, Xt, ldx, n, cols, xt + t, end, 2);
                else
                    sums_short(Yt, ldy, Wr, Xt, ldx, n, cols, xt + t, end, 1);
            }
        }
        if (cols <= ONE_BLOCK)
            for (size_t t = 0; t < nt; t++)
                requant_rows(Y + (t0 + t) * ldy, codes, b, rows);
    }
}

/* ---- the GRU cell's element-wise steps (grt_q15_lanes, grt_q15.h) ----------------------------------
 * The scalar steps (grt_kernels_q15.c) on eight int32 lanes. Every intermediate fits int32, so the
 * int64 sums of the scalar code become exact 32-bit lane arithmetic:
 *   - sat32(a + b): the wrapped sum, replaced by ±(2^31 - 1) on signed overflow, then max with
 *     -(2^31 - 1) (which also catches a sum of exactly -2^31);
 *   - table activations: |v| as unsigned (2^31 for INT32_MIN), i = |v| >> bits clamped to LAST - 1 with
 *     the result replaced by one (the last entry) from i = LAST on; vpgatherdd at byte offset 2i fetches
 *     T[i] and T[i+1] together (at most the table's last four bytes); (T[i+1] - T[i])·f < 2^16·2^11;
 *   - hard sigmoids: with v = vh·2^16 + vl (vl = the low 16 bits, unsigned), RSHR(v·K, 16) =
 *     vh·K + ((vl·K + 2^15) >> 16), both terms below 2^29;
 *   - reset_after = 1: with g = gh·2^16 + gl, RSHR(r·g, 15) = 2r·gh + ((r·gl + 2^14) >> 15), r <= 2^15:
 *     the terms fit int32 (2r·gh >= -2^31, r·gl + 2^14 < 2^31) and so does the result (|.| <= |g|);
 *   - r·h (|.| <= 2^30) and z·(h - n) (h - n in [-65536, 65535], z <= 2^15: the product lies in
 *     [-2^31, 2^31 - 2^15], and adding 2^14 stays below 2^31) are plain vpmulld products; RSHR(v, 15) is
 *     (v + 2^14) >> 15 with vpsrad (floor, defined for negative lanes); sat16 is vpackssdw.
 * Lengths that are not a multiple of 8 finish with one partial eight-lane block (masked int32 loads and
 * stores, int16 through a zero-padded copy; the unused lanes are zeros and never stored back), so
 * there is no separate scalar tail. */

/* All ones in lanes [0, k), zeros in the others (k <= 8). */
static inline GRT_AVX2 __m256i first_lanes(size_t k)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The k <= 8 int32 at p (zeros in the other lanes), and the first k lanes of v stored to p. */
static inline GRT_AVX2 __m256i load8(const int32_t *p, size_t k)
{
    if (k == 8)
        return _mm256_loadu_si256((const __m256i *)(const void *)p);
    return _mm256_maskload_epi32((const int *)(const void *)p, first_lanes(k));
}

static inline GRT_AVX2 void store8(int32_t *p, __m256i v, size_t k)
{
    if (k == 8)
        _mm256_storeu_si256((__m256i *)(void *)p, v);
    else
        _mm256_maskstore_epi32((int *)(void *)p, first_lanes(k), v);
}

/* The k <= 8 int16 at p sign-extended, and the first k lanes of v saturated to int16 and stored. */
static inline GRT_AVX2 __m256i load8_i16(const int16_t *p, size_t k)
{
    int16_t buf[8] = {0};
    if (k < 8) {
        grt_memcpy(buf, p, k * sizeof(int16_t));
        p = buf;
    }
    return _mm256_cvtepi16_epi32(load16(p));
}

static inline GRT_AVX2 void store8_sat16(int16_t *p, __m256i v, size_t k)
{
    __m128i packed = _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packs_epi32(v, v), 0x08));
    if (k == 8) {
        _mm_storeu_si128((__m128i *)(void *)p, packed);
    } else {
        int16_t buf[8];
        _mm_storeu_si128((__m128i *)(void *)buf, packed);
        grt_memcpy(p, buf, k * sizeof(int16_t));
    }
}

static inline GRT_AVX2 __m256i sat32_add(__m256i a, __m256i b)
{
    __m256i s = _mm256_add_epi32(a, b);
    __m256i overflow = _mm256_srai_epi32(_mm256_and_si256(_mm256_xor_si256(a, s), _mm256_xor_si256(b, s)), 31);
    __m256i bound = _mm256_xor_si256(_mm256_srai_epi32(a, 31), _mm256_set1_epi32(0x7FFFFFFF));
    s = _mm256_blendv_epi8(s, bound, overflow);
    return _mm256_max_epi32(s, _mm256_set1_epi32(-0x7FFFFFFF));
}

/* T[i] + ((T[i+1] - T[i])·f + 2^(bits-1)) >> bits for a = |v| (unsigned), one from i = last on. */
#define INTERP8(T, last, a, bits)                                                                             \
    do {                                                                                                      \
        __m256i i_ = _mm256_srli_epi32(a, bits);                                                              \
        __m256i f_ = _mm256_and_si256(a, _mm256_set1_epi32((1 << (bits)) - 1));                               \
        __m256i past_ = _mm256_cmpgt_epi32(i_, _mm256_set1_epi32((last) - 1));                                \
        __m256i g_ = _mm256_i32gather_epi32((const int *)(const void *)(T), _mm256_min_epi32(i_, _mm256_set1_epi32((last) - 1)), 2); \
        __m256i lo_ = _mm256_and_si256(g_, _mm256_set1_epi32(0xFFFF));                                        \
        __m256i d_ = _mm256_sub_epi32(_mm256_srli_epi32(g_, 16), lo_);                                        \
        __m256i r_ = _mm256_mullo_epi32(d_, f_);                                                              \
        r_ = _mm256_add_epi32(lo_, _mm256_srli_epi32(_mm256_add_epi32(r_, _mm256_set1_epi32(1 << ((bits) - 1))), bits)); \
        a = _mm256_blendv_epi8(r_, _mm256_set1_epi32(GRT_Q15_ONE), past_);                                    \
    } while (0)

static inline GRT_AVX2 __m256i sigmoid8(__m256i v)
{
    __m256i neg = _mm256_srai_epi32(v, 31), a = _mm256_sub_epi32(_mm256_xor_si256(v, neg), neg);
    INTERP8(GRT_Q15_SIGMOID, GRT_Q15_SIGMOID_LAST, a, 11);
    return _mm256_blendv_epi8(a, _mm256_sub_epi32(_mm256_set1_epi32(GRT_Q15_ONE), a), neg);
}

static inline GRT_AVX2 __m256i tanh8(__m256i v)
{
    __m256i neg = _mm256_srai_epi32(v, 31), a = _mm256_sub_epi32(_mm256_xor_si256(v, neg), neg);
    INTERP8(GRT_Q15_TANH, GRT_Q15_TANH_LAST, a, 10);
    return _mm256_sub_epi32(_mm256_xor_si256(a, neg), neg);
}

/* clamp(RSHR(v·k, 16) + 16384, 0, 32768) */
static inline GRT_AVX2 __m256i hard_sigmoid8(__m256i v, int32_t k)
{
    __m256i K = _mm256_set1_epi32(k);
    __m256i hi = _mm256_mullo_epi32(_mm256_srai_epi32(v, 16), K);
    __m256i lo = _mm256_mullo_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0xFFFF)), K);
    __m256i t = _mm256_add_epi32(hi, _mm256_srli_epi32(_mm256_add_epi32(lo, _mm256_set1_epi32(1 << 15)), 16));
    t = _mm256_add_epi32(t, _mm256_set1_epi32(16384));
    return _mm256_min_epi32(_mm256_max_epi32(t, _mm256_setzero_si256()), _mm256_set1_epi32(GRT_Q15_ONE));
}

/* grt_q15_gate on eight lanes. */
static inline GRT_AVX2 __m256i gate8(unsigned act, __m256i v)
{
    switch (act) {
    case GRT_ACT_HARD_SIGMOID: return hard_sigmoid8(v, 5461);
    case GRT_ACT_HARD_SIGMOID_K2: return hard_sigmoid8(v, 6554);
    default: return sigmoid8(v);
    }
}

/* RSHR(v, 15) for lanes where v + 2^14 does not overflow. */
static inline GRT_AVX2 __m256i rshr15(__m256i v)
{
    return _mm256_srai_epi32(_mm256_add_epi32(v, _mm256_set1_epi32(1 << 14)), 15);
}

/* Eight lanes of each step (grt_q15.h, grt_q15_lanes). */
static inline GRT_AVX2 __m256i add_act8(unsigned act, __m256i g, __m256i a)
{
    __m256i v = sat32_add(g, a);
    return act == GRT_ACT_TANH ? tanh8(v) : gate8(act, v);
}

static inline GRT_AVX2 __m256i cand_after8(__m256i n, __m256i r, __m256i g)
{
    __m256i hi = _mm256_mullo_epi32(_mm256_add_epi32(r, r), _mm256_srai_epi32(g, 16));
    __m256i lo = _mm256_mullo_epi32(r, _mm256_and_si256(g, _mm256_set1_epi32(0xFFFF)));
    __m256i t = _mm256_add_epi32(hi, _mm256_srli_epi32(_mm256_add_epi32(lo, _mm256_set1_epi32(1 << 14)), 15));
    return tanh8(sat32_add(n, t));
}

static inline GRT_AVX2 __m256i update8(__m256i h, __m256i n, __m256i z)
{
    return _mm256_add_epi32(n, rshr15(_mm256_mullo_epi32(z, _mm256_sub_epi32(h, n))));
}

/* `block` for the n lanes in blocks of eight from lane i, k lanes each: the full blocks (k = 8, so the
 * loads and stores are plain), then the partial one (k < 8, masked). */
#define EACH_BLOCK(n, block)                                                                              \
    do {                                                                                                  \
        size_t i = 0, k = 8;                                                                              \
        for (; i + 8 <= (n); i += 8)                                                                      \
            block;                                                                                        \
        if ((k = (n) - i) > 0)                                                                            \
            block;                                                                                        \
    } while (0)

static GRT_AVX2 void add_act_avx2(unsigned act, int32_t *restrict g, const int32_t *restrict a, size_t n)
{
    EACH_BLOCK(n, store8(g + i, add_act8(act, load8(g + i, k), load8(a + i, k)), k));
}

static GRT_AVX2 void cand_after_avx2(int32_t *restrict n, const int32_t *restrict r, const int32_t *restrict gh,
                                     size_t len)
{
    EACH_BLOCK(len, store8(n + i, cand_after8(load8(n + i, k), load8(r + i, k), load8(gh + i, k)), k));
}

static GRT_AVX2 void reset_avx2(int16_t *restrict rh, const int32_t *restrict r, const int16_t *restrict h,
                                size_t n)
{
    EACH_BLOCK(n, store8_sat16(rh + i, rshr15(_mm256_mullo_epi32(load8(r + i, k), load8_i16(h + i, k))), k));
}

static GRT_AVX2 void update_avx2(int16_t *restrict h, const int32_t *restrict n, const int32_t *restrict z,
                                 size_t len)
{
    EACH_BLOCK(len, store8_sat16(h + i, update8(load8_i16(h + i, k), load8(n + i, k), load8(z + i, k)), k));
}

const grt_q15_lanes grt_q15_lanes_avx2 = {add_act_avx2, cand_after_avx2, reset_avx2, update_avx2, NULL};

#else
typedef int grt_no_q15_avx2_variant; /* ISO C forbids an empty translation unit */
#endif

/* test_util.h — a tiny test harness: CHECK counts passes and failures; main prints the totals. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "gru_rt.h"

extern long g_passed, g_failed;

#define CHECK(cond) check_impl((cond) != 0, #cond, __FILE__, __LINE__)
#define CHECK_EQ_U(a, b) check_eq_u((uint64_t)(a), (uint64_t)(b), #a, #b, __FILE__, __LINE__)

void check_impl(int ok, const char *what, const char *file, int line);
void check_eq_u(uint64_t a, uint64_t b, const char *sa, const char *sb, const char *file, int line);

/* Deterministic pseudo-random numbers (xorshift64*). */
typedef struct rng { uint64_t s; } rng;
uint32_t rng_u32(rng *r);
float rng_uniform(rng *r, float lo, float hi);

/* Memory with a chosen alignment offset: returns base (to free) and sets *p to base + 64k + shift. */
void *alloc_shifted(size_t size, size_t shift, uint8_t **p);

/* A test group or part left out by the build configuration (gru_rt.h, "Build configuration"). */
#define SKIPPED(what) printf("  %s: not in this build, skipped\n", what)

void test_config(void); /* the build configuration: features, refused precisions, the q15 float API */
void test_math(void);
void test_kernels(void);
void test_isa(void);
void test_isa_quant(void); /* q8/q15 kernels and models under every level vs scalar */
void test_loader(void);
void test_inputs(void); /* named inputs (1.4) */
void test_stream(void);
void test_batch(void); /* batches of streams == single streams, sizes, errors */
void test_fuzz(void);
void test_q15(void);
void test_quant(void);
void test_embed(void); /* Embedding layers (1.5): table rows, token ids through every entry point */
void test_q8_dot_exact(void); /* part of test_quant; alone on an emulated Cortex-M4F */
void test_mask(void); /* the input mask's integer quantization vs the float boundary */
void test_run_equals_step(void); /* under the active instruction-set level */
void test_panel_layout_stream(void); /* likewise */

#endif

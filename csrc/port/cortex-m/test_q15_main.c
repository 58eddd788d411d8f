/* test_q15_main.c — the C tests' q15 group (tests/test_q15.c: RSHR, the requantization's two paths,
 * the activations, and the matrix products against a plain int64 reference at extreme values, from 1
 * to 1100 columns) on an emulated Cortex-M core, where the products run with that core's kernels (the
 * DSP extension on M4/M7/M55). make -C csrc mcu-bench runs it on every core it benchmarks. */
#include "tests/test_util.h"

int main(void)
{
    test_q15();
    printf("C tests (q15 group): %ld passed, %ld failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}

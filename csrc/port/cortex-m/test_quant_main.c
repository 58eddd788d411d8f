/* test_quant_main.c — the q8 products of the C tests (tests/test_quant.c, test_q8_dot_exact: against the
 * plain int64 sum, 1 to 1,100 columns, extreme values) and the q15 group (tests/test_q15.c) on an
 * emulated Cortex-M4F with the full core, where both precisions' products run on the DSP extension.
 * make -C csrc mps2-run runs it. */
#include "tests/test_util.h"

int main(void)
{
    test_q8_dot_exact();
    test_q15();
    printf("C tests (q8 products, q15 group): %ld passed, %ld failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}

/* The C test runner: every group, then the totals line the build checks. */
#include "test_util.h"

int main(void)
{
    test_config();
    test_math();
    test_kernels();
    test_isa();
    test_isa_quant();
    test_loader();
    test_inputs();
    test_stream();
    test_batch();
    test_q15();
    test_quant();
    test_mask();
    test_embed();
    test_fuzz();
    printf("C tests: %ld passed, %ld failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}

/* startup.c — the vector table of the gru_rt Cortex-M port programs (QEMU mps2-an385/an386 and the
 * link checks): the initial stack pointer, then the reset handler, which enables the FPU if the core
 * has one and hands over to newlib's _start
 * (crt0 of --specs=rdimon.specs: zeroes .bss, opens the semihosting handles, calls main and exits
 * through semihosting with main's return value). A fault ends the program the same way, with status 3,
 * so an emulator run can never hang. */
#include <stdint.h>

extern uint32_t __StackTop; /* mps2.ld: the end of RAM */
extern void _start(void);
extern void _exit(int status);

void Reset_Handler(void);

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    /* Cores with an FPU (Cortex-M4F): grant full access to coprocessors 10 and 11 (CPACR) before any
     * floating-point instruction runs. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    _start();
    for (;;) {
    }
}

static void Fault_Handler(void)
{
    _exit(3);
}

typedef void (*handler)(void);

typedef struct vector_table {
    void *initial_sp;
    handler vector[15]; /* reset, NMI, HardFault, MemManage, BusFault, UsageFault, 4 reserved, SVCall,
                           DebugMon, reserved, PendSV, SysTick */
} vector_table;

__attribute__((section(".isr_vector"), used)) const vector_table isr_vector = {
    &__StackTop,
    {Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, 0,
     Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler},
};

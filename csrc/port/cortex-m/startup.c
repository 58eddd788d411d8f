/* startup.c — the vector table of the gru_rt Cortex-M port programs (QEMU mps2-an385/an386/an500,
 * mps3-an547 and the link checks): the initial stack pointer (the end of RAM, mps2.ld), then the reset
 * handler, which enables the FPU (and with it Helium) if the core has one, zeroes .bss, opens newlib's
 * semihosting handles, calls main and exits through semihosting with main's return value. Not newlib's
 * _start (crt0 of --specs=rdimon.specs): that one takes the stack and heap from the emulator's
 * SYS_HEAPINFO answer, which on mps3-an547 overlaps the program. A fault ends the program the same way,
 * with status 3, so an emulator run can never hang. */
#include <stdint.h>

extern uint32_t __StackTop;                    /* mps2.ld: the end of RAM */
extern uint32_t __bss_start__[], __bss_end__[]; /* mps2.ld */
extern void initialise_monitor_handles(void);  /* newlib (rdimon): stdin/stdout/stderr */
extern int main(void);
extern void exit(int status);
extern void _exit(int status);

void Reset_Handler(void);

void Reset_Handler(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* Cores with an FPU or Helium (Cortex-M4F, M55): grant full access to coprocessors 10 and 11
     * (CPACR) before any floating-point or vector instruction runs. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    for (uint32_t *p = __bss_start__; p < __bss_end__; p++)
        *p = 0;
    initialise_monitor_handles();
    exit(main());
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

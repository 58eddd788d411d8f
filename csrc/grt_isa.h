/* grt_isa.h — which kernel levels (grt_isa in gru_rt.h) a build contains: compile-time answers only;
 * whether the CPU can run them is grt_dispatch.c's question. Included by grt_kernels.h and grt_q15.h.
 * Not part of the public API. */
#ifndef GRT_ISA_H
#define GRT_ISA_H

/* AVX2 (+ FMA for f32): x86-64 gcc/clang, through function target attributes (no -m flag). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(GRT_NO_X86_SIMD)
#define GRT_HAVE_AVX2 1
#else
#define GRT_HAVE_AVX2 0
#endif

/* The VNNI levels (x86-64): the int8/int16 dot-product instructions vpdpbusd/vpdpwssd, through function
 * target attributes as well. avx512vnni: the EVEX form with AVX-512F/BW/VL (gcc >= 9, clang >= 9);
 * avxvnni: the VEX form (gcc >= 11, clang >= 13 — Apple clang 13 included — know the target name). */
#if GRT_HAVE_AVX2 && (defined(__clang__) ? __clang_major__ >= 9 : __GNUC__ >= 9)
#define GRT_HAVE_AVX512VNNI 1
#else
#define GRT_HAVE_AVX512VNNI 0
#endif
#if GRT_HAVE_AVX2 && (defined(__clang__) ? __clang_major__ >= 13 : __GNUC__ >= 11)
#define GRT_HAVE_AVXVNNI 1
#else
#define GRT_HAVE_AVXVNNI 0
#endif

/* NEON: part of every AArch64 target, so no attribute and no CPU check. __ARM_NEON is absent under
 * -mgeneral-regs-only (make nofloat), which then builds without the level. */
#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(GRT_NO_ARM_SIMD)
#define GRT_HAVE_NEON 1
#else
#define GRT_HAVE_NEON 0
#endif

/* The int8 dot product (sdot, FEAT_DotProd) for the neon_dot level: with gcc >= 8 through a function
 * target attribute (GRT_DOTPROD), with any compiler when the build targets it already (-march with
 * +dotprod: __ARM_FEATURE_DOTPROD). clang 14's arm_neon.h hides vdotq_s32 without the -march flag, so
 * a clang build without it has no neon_dot level. */
#if GRT_HAVE_NEON && defined(__ARM_FEATURE_DOTPROD)
#define GRT_HAVE_NEON_DOT 1
#define GRT_DOTPROD
#elif GRT_HAVE_NEON && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define GRT_HAVE_NEON_DOT 1
/* armv8.2-a as well: gcc's arm_neon.h declares vdotq_s32 for that architecture, and an intrinsic
 * inlines only into a function whose target includes the intrinsic's. */
#define GRT_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define GRT_HAVE_NEON_DOT 0
#endif

/* The Cortex-M DSP extension (Armv7E-M: M4, M7; Armv8-M Mainline with DSP: M33, M55): compile time
 * only (no CPU check on a microcontroller). The q15 products of the scalar level use it (smlad,
 * sxtb16 through ACLE's arm_acle.h). */
#if defined(__arm__) && defined(__ARM_FEATURE_DSP) && !defined(GRT_NO_ARM_SIMD)
#define GRT_HAVE_ARM_DSP 1
#include <arm_acle.h>
#else
#define GRT_HAVE_ARM_DSP 0
#endif

/* Helium, the M-profile Vector Extension (Armv8.1-M: Cortex-M55, M85), integer part: compile time as
 * well (arm_mve.h); the q15 products of the scalar level use it instead of the DSP code. */
#if defined(__arm__) && defined(__ARM_FEATURE_MVE) && !defined(GRT_NO_ARM_SIMD)
#define GRT_HAVE_ARM_MVE 1
#include <arm_mve.h>
#else
#define GRT_HAVE_ARM_MVE 0
#endif

#endif /* GRT_ISA_H */

/*
 * cpu_simd.h - how the CPU backend's hot loops get vectorised (private).
 *
 * The loops are plain C written so that gcc vectorises them: float sums kept in
 * 16 independent lanes (a float sum's order is part of its result, so the
 * compiler may not reorder one long chain), integer sums in any order.  gcc 12
 * does that fully at -O3 only, so the files that include this raise their own
 * level; and where the CPU has AVX2, CPU_HOT_LOOP functions get a second copy
 * with 32-byte vectors, picked when the program loads.  Both copies give the same
 * bits: -std=c11 turns off FMA contraction and the lanes do not depend on the
 * vector width.
 */
#ifndef LLMCHAT_CPU_SIMD_H
#define LLMCHAT_CPU_SIMD_H

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CPU_HOT_LOOP __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CPU_HOT_LOOP
#endif

#define CPU_LANES 16

#endif

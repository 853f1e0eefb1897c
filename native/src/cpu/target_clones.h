// Function multiversioning for the CPU kernels: PROTEUS_CPU_CLONES compiles a function twice (x86-64-v3:
// AVX2 and FMA, and the baseline) and the loader picks the one the CPU runs. Where it is available,
// PROTEUS_CPU_F16C is defined and <immintrin.h> included for the kernels' own F16C paths.
#pragma once

// Not under the sanitizers: their runtimes are not ready when the loader runs the clones' resolvers.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
#define PROTEUS_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#define PROTEUS_CPU_F16C 1
#include <immintrin.h>
#else
#define PROTEUS_CPU_CLONES
#endif

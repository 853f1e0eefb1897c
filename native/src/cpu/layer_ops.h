// The CPU backend's layer operations (SPEC §4–§7): the projection GEMM, dtype conversion, LayerNorm and
// RMSNorm, GELU, RoPE, the router with the DNA blend, the active-row selection and the DNA update, each
// on the backend's worker pool over validated problems. Elements are read into float32 and results
// rounded to the storage dtype once, when stored; all arithmetic is float32 but RoPE's (double, rounded once).
#pragma once

#include "backend.h"
#include "cpu/parallel.h"

namespace proteus::cpu {

/**
 * Which GEMM linear() runs for four rows or more: "cblas_sgemm from <library>" (a system BLAS opened at
 * run time, see layer_ops.cpp) or "blocked C++ GEMM (<why>)". Asking opens the BLAS if no GEMM has yet.
 * Fewer rows always take dot products row by row.
 */
const char* gemm_implementation();

/**
 * y = x·weightᵀ (+ bias) (+ beta·y). float32 operands go to the GEMM as they are; float16 and bfloat16
 * operands are widened to float32 panels in `workspace` first (float32 accumulation either way).
 */
proteus_status linear(const LinearProblem& problem, WorkerPool& pool, Allocator& workspace);
proteus_status convert(const ConvertProblem& problem, WorkerPool& pool);
/** Row statistics in float32: LayerNorm's mean and variance (two passes), RMSNorm's mean square. */
proteus_status norm(const NormProblem& problem, WorkerPool& pool);
proteus_status gelu(const GeluProblem& problem, WorkerPool& pool);
/** The angle of pair m at position p, p·base^(−2m/D), its cosine and sine are double; the rotated pair is rounded once. */
proteus_status rope(const RopeProblem& problem, WorkerPool& pool);
/** Each token's results depend on that token alone, so the bits do not depend on the thread count. */
proteus_status router(const RouterProblem& problem, WorkerPool& pool, Allocator& workspace);
proteus_status select_rows(const SelectProblem& problem, WorkerPool& pool, Allocator& workspace);
/** Partitioned by channel: every sum runs over the rows in order, so the bits do not depend on the thread count. */
proteus_status dna_update(const DnaUpdateProblem& problem, WorkerPool& pool, Allocator& workspace);

}  // namespace proteus::cpu

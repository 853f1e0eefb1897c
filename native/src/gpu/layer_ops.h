// The layer operations of the GPU backend (SPEC §4–§7; gpu/layer_ops.cu): the pieces of the drop-in
// attention layer and block around flux attention. Each queues its work on `stream` and returns
// without waiting; workspace comes from the context's stream-ordered pool, so a call can be captured
// in a graph (proteus_linear's first call on a context excepted: see gpu/blas.h).
#pragma once

#include "backend.h"
#include "gpu/blas.h"
#include "gpu/vendor.h"

namespace proteus::gpu {

/** y = x·weightᵀ (+ beta·y) by the BLAS, then + bias by a small kernel. */
proteus_status linear(const LinearProblem& problem, Blas& blas, cudaStream_t stream);

/** Element-wise dtype conversion over any rank-≤4 strided view. */
proteus_status convert(const ConvertProblem& problem, cudaStream_t stream);

/** LayerNorm / RMSNorm: one block per row, float32 statistics reduced in a fixed tree. */
proteus_status norm(const NormProblem& problem, cudaStream_t stream);

/** GELU, erf form. */
proteus_status gelu(const GeluProblem& problem, cudaStream_t stream);

/** RoPE in place; angles in double so that long positions keep float32 accuracy. */
proteus_status rope(const RopeProblem& problem, cudaStream_t stream);

/** Router logits (in-kernel float32 dot products, W_r staged through shared memory), softmax, DNA blend. Deterministic. */
proteus_status router(const RouterProblem& problem, cudaStream_t stream);

/** The active mask: per batch row a device radix select of the kept tokens, then each token's top-k heads. */
proteus_status select_rows(const SelectProblem& problem, Allocator& workspace, cudaStream_t stream);

/** The DNA EMA: fixed row chunks write partial sums to workspace, a second pass adds them in chunk order. */
proteus_status dna_update(const DnaUpdateProblem& problem, Allocator& workspace, cudaStream_t stream);

}  // namespace proteus::gpu

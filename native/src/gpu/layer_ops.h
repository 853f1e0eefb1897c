// The layer operations of the GPU backend (SPEC §4–§7; gpu/layer_ops.cu): the pieces of the drop-in
// attention layer and block around flux attention. Each queues its work on `stream` and returns
// without waiting; workspace comes from the context's stream-ordered pool, so a call can be captured
// in a graph (the first proteus_linear or proteus_router on a context excepted: see gpu/blas.h).
#pragma once

#include "backend.h"
#include "gpu/blas.h"
#include "gpu/flux_dispatch.h"
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
proteus_status rope(const RopeProblem& problem, const DeviceTraits& traits, cudaStream_t stream);

/** How the router computes its dot products. */
enum class RouterPath {
    kBlas,    // one GEMM per chunk of tokens (weights split into float32-exact 16-bit terms), then a finishing kernel
    kDirect,  // in-kernel float32 dot products, W_r and P staged through shared memory, serial finish per token
};

/**
 * The path for `problem`: the BLAS where it is usable (loaded, and not declined by the caller) and takes
 * the problem (int sizes, token rows at least C apart, the finishing kernel's shared memory on the device),
 * else direct. Pure: no work queued, nothing allocated.
 */
RouterPath router_path(const RouterProblem& problem, bool blas_usable, const DeviceTraits& traits);

/** PROTEUS_GPU_ROUTER=direct: the context declines the BLAS for the router (read when a context is created). */
bool router_direct_requested();

/**
 * Router logits, softmax and DNA blend, by router_path (`blas` null: direct). Deterministic. The BLAS
 * path's first call on a context creates the BLAS handle: refused while the stream is capturing.
 */
proteus_status router(const RouterProblem& problem, Blas* blas, const DeviceTraits& traits, Allocator& workspace,
                      cudaStream_t stream);

/** The active mask: per batch row a device radix select of the kept tokens, then each token's top-k heads. */
proteus_status select_rows(const SelectProblem& problem, Allocator& workspace, cudaStream_t stream);

/** The DNA EMA: fixed row chunks write partial sums to workspace, a second pass adds them in chunk order. */
proteus_status dna_update(const DnaUpdateProblem& problem, Allocator& workspace, cudaStream_t stream);

}  // namespace proteus::gpu

// The GEMM of proteus_linear through the platform BLAS (cuBLAS, or hipBLAS in the HIP build), loaded
// with dlopen when first used so that libproteus loads, and its CPU backend works, where the BLAS
// library (or the whole GPU driver) is not installed (gpu/blas.cu).
#pragma once

#include "gpu/vendor.h"

#include <cstdint>
#include <mutex>

#include "proteus/proteus.h"

namespace proteus::gpu {

/**
 * One context's BLAS handle, bound to the context's stream. The handle is created by the first gemm
 * (creating it allocates device memory, so that first call must not be captured in a graph: it is
 * refused while the stream is capturing); every later gemm only queues work on the stream.
 */
class Blas {
public:
    explicit Blas(cudaStream_t stream) : stream_(stream) {}
    /** Destroys the handle; the owner has waited for the stream. */
    ~Blas();
    Blas(const Blas&) = delete;
    Blas& operator=(const Blas&) = delete;

    /**
     * Row-major y [m, n] = x [m, k]·w [n, k]ᵀ + beta·y, float32 compute and accumulation (no TF32);
     * x, w and y share `dtype`; the row strides are in elements and fit an int. beta 0 never reads y.
     * PROTEUS_STATUS_BACKEND_UNAVAILABLE naming the library when it cannot be loaded.
     */
    proteus_status gemm_nt(proteus_dtype dtype, int64_t m, int64_t n, int64_t k, const void* x, int64_t x_stride,
                           const void* w, int64_t w_stride, float beta, void* y, int64_t y_stride);

private:
    proteus_status ensure_handle();

    const cudaStream_t stream_;
    std::mutex mutex_;  // guards the handle's creation
    blas::Handle handle_ = nullptr;
};

}  // namespace proteus::gpu

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
 * One context's BLAS handle, bound to the context's stream, shared by proteus_linear and proteus_router.
 * The handle is created by the first call that needs it (creating it allocates device memory, so that
 * first call must not be captured in a graph: it is refused while the stream is capturing); every later
 * gemm only queues work on the stream.
 */
class Blas {
public:
    explicit Blas(cudaStream_t stream) : stream_(stream) {}
    /** Destroys the handle; the owner has waited for the stream. */
    ~Blas();
    Blas(const Blas&) = delete;
    Blas& operator=(const Blas&) = delete;

    /** Whether the library loaded in this process (loading it once if not tried yet); creates no handle. */
    static bool loadable();

    /**
     * Creates the handle if there is none: INVALID_ARGUMENT while the stream is capturing (`caller` names
     * the entry point in the message), PROTEUS_STATUS_BACKEND_UNAVAILABLE naming the library when it
     * cannot be loaded. gemm_nt calls it; a caller that queues work before its first gemm calls it first.
     */
    proteus_status ensure_handle(const char* caller);

    /**
     * Row-major y [m, n] = x [m, k]·w [n, k]ᵀ + beta·y, float32 compute and accumulation (no TF32);
     * x and w share `dtype`, y is `y_dtype` (`dtype` or float32); the row strides are in elements and
     * fit an int. beta 0 never reads y.
     */
    proteus_status gemm_nt(proteus_dtype dtype, int64_t m, int64_t n, int64_t k, const void* x, int64_t x_stride,
                           const void* w, int64_t w_stride, float beta, proteus_dtype y_dtype, void* y,
                           int64_t y_stride, const char* caller);

private:

    const cudaStream_t stream_;
    std::mutex mutex_;  // guards the handle's creation
    blas::Handle handle_ = nullptr;
};

}  // namespace proteus::gpu

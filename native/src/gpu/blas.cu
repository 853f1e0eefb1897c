// cuBLAS / hipBLAS through dlopen (gpu/blas.h). The library is opened once per process, and only the
// few entry points the GEMM needs are resolved; their types and enum values come from gpu/vendor.h.
#include "gpu/blas.h"

#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "core/log.h"
#include "gpu/device_call.h"

namespace proteus::gpu {
namespace {

using CreateFn = blas::Status (*)(blas::Handle*);
using DestroyFn = blas::Status (*)(blas::Handle);
using SetStreamFn = blas::Status (*)(blas::Handle, cudaStream_t);
using SetMathModeFn = blas::Status (*)(blas::Handle, int);
using GemmExFn = blas::Status (*)(blas::Handle, blas::Operation, blas::Operation, int, int, int, const void*,
                                  const void*, blas::DataType, int, const void*, blas::DataType, int, const void*,
                                  void*, blas::DataType, int, blas::ComputeType, blas::GemmAlgo);

/** The resolved entry points, or why there are none. */
struct BlasApi {
    CreateFn create = nullptr;
    DestroyFn destroy = nullptr;
    SetStreamFn set_stream = nullptr;
    SetMathModeFn set_math_mode = nullptr;  // absent where the platform has no such switch
    GemmExFn gemm_ex = nullptr;
    std::string failure;      // empty when loaded
    std::string loaded_from;  // the file name opened
};

BlasApi open_api()
{
    BlasApi api;
    std::string tried;
    void* library = nullptr;
    int version_opened = 0;
    for (const int version : blas::kSonameVersions) {
        const std::string name = blas::kSonamePrefix + std::to_string(version);
        if (tried.find(name) != std::string::npos) continue;  // the built-with major is also in the fallbacks
        library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
        version_opened = version;
        if (library != nullptr) break;
        const char* reason = dlerror();
        tried += (tried.empty() ? "" : "; ") + name + ": " + (reason != nullptr ? reason : "not found");
    }
    if (library == nullptr) {
        api.failure = std::string(blas::kLibraryName) + " could not be loaded (" + tried + ")";
        return api;
    }
    // The library stays loaded for the life of the process: handles of other contexts may still use it.
    api.loaded_from = blas::kSonamePrefix + std::to_string(version_opened);
    const auto resolve = [&](const char* symbol, auto& function) {
        if (symbol == nullptr) return true;
        function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(dlsym(library, symbol));
        if (function != nullptr) return true;
        api.failure = std::string(blas::kLibraryName) + " has no " + symbol;
        return false;
    };
    if (!resolve(blas::kCreate, api.create) || !resolve(blas::kDestroy, api.destroy) ||
        !resolve(blas::kSetStream, api.set_stream) || !resolve(blas::kGemmEx, api.gemm_ex) ||
        !resolve(blas::kSetMathMode, api.set_math_mode)) {
        api.create = nullptr;
    }
    return api;
}

const BlasApi& api()
{
    static const BlasApi loaded = [] {  // thread-safe, once per process
        BlasApi opened = open_api();
        if (opened.create != nullptr) {
            log_message(PROTEUS_LOG_INFO, std::string(blas::kLibraryName) + " loaded: " + opened.loaded_from);
        } else {
            log_message(PROTEUS_LOG_WARNING, opened.failure);
        }
        return opened;
    }();
    return loaded;
}

proteus_status blas_error(const char* function, blas::Status status)
{
    return set_error(PROTEUS_STATUS_DEVICE_ERROR,
                     std::string(function) + " failed with status " + std::to_string(static_cast<int>(status)));
}

blas::DataType data_type(proteus_dtype dtype)
{
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT16: return blas::kFloat16;
    case PROTEUS_DTYPE_BFLOAT16: return blas::kBFloat16;
    default: return blas::kFloat32;
    }
}

}  // namespace

Blas::~Blas()
{
    if (handle_ != nullptr) (void)api().destroy(handle_);
}

bool Blas::loadable() { return api().create != nullptr; }

proteus_status Blas::ensure_handle(const char* caller)
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (handle_ != nullptr) return PROTEUS_STATUS_OK;
    const BlasApi& loaded = api();
    if (loaded.create == nullptr) return set_error(PROTEUS_STATUS_BACKEND_UNAVAILABLE, loaded.failure);
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    PROTEUS_GPU_CHECK(cudaStreamIsCapturing(stream_, &capture), "StreamIsCapturing");
    if (capture != cudaStreamCaptureStatusNone) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                         std::string("the first ") + caller + " of a context creates its " + blas::kLibraryName +
                             " handle, which allocates and cannot be captured: make one call before capturing",
                         "context");
    }
    blas::Handle handle = nullptr;
    blas::Status status = loaded.create(&handle);
    if (status != blas::kSuccess) return blas_error(blas::kCreate, status);
    status = loaded.set_stream(handle, stream_);
    if (status == blas::kSuccess && loaded.set_math_mode != nullptr) {
        status = loaded.set_math_mode(handle, blas::kPedanticMath);
        if (status != blas::kSuccess) {
            (void)loaded.destroy(handle);
            return blas_error(blas::kSetMathMode, status);
        }
    }
    if (status != blas::kSuccess) {
        (void)loaded.destroy(handle);
        return blas_error(blas::kSetStream, status);
    }
    handle_ = handle;
    return PROTEUS_STATUS_OK;
}

proteus_status Blas::gemm_nt(proteus_dtype dtype, int64_t m, int64_t n, int64_t k, const void* x, int64_t x_stride,
                             const void* w, int64_t w_stride, float beta, proteus_dtype y_dtype, void* y,
                             int64_t y_stride, const char* caller)
{
    const proteus_status status = ensure_handle(caller);
    if (status != PROTEUS_STATUS_OK) return status;
    // A single row's stride is never stepped over; the BLAS still wants a leading dimension ≥ its length.
    const auto leading = [](int64_t stride, int64_t rows, int64_t columns) {
        return rows > 1 ? stride : std::max<int64_t>({stride, columns, 1});
    };
    x_stride = leading(x_stride, m, k);
    w_stride = leading(w_stride, n, k);
    y_stride = leading(y_stride, m, n);
    if (n > INT_MAX || k > INT_MAX || std::max({x_stride, w_stride, y_stride}) > INT_MAX) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                         std::string(blas::kLibraryName) + " takes int sizes: N, K and the row strides must be below 2^31",
                         "weight");
    }
    // Column-major view: yᵀ [n, m] = w [k, n]ᵀ·xᵀ [k, m]; rows of more than INT_MAX go in slices.
    const blas::DataType type = data_type(dtype), y_type = data_type(y_dtype);
    const int64_t element = dtype == PROTEUS_DTYPE_FLOAT32 ? 4 : 2;
    const int64_t y_element = y_dtype == PROTEUS_DTYPE_FLOAT32 ? 4 : 2;
    const float alpha = 1.0f;
    for (int64_t row = 0; row < m; row += INT_MAX) {
        const int rows = static_cast<int>(std::min<int64_t>(m - row, INT_MAX));
        const blas::Status result = api().gemm_ex(
            handle_, blas::kTranspose, blas::kNoTranspose, static_cast<int>(n), rows, static_cast<int>(k), &alpha, w, type,
            static_cast<int>(w_stride), static_cast<const char*>(x) + row * x_stride * element, type,
            static_cast<int>(x_stride), &beta, static_cast<char*>(y) + row * y_stride * y_element, y_type,
            static_cast<int>(y_stride), blas::kComputeFloat32, blas::kDefaultAlgo);
        if (result != blas::kSuccess) return blas_error(blas::kGemmEx, result);
    }
    return PROTEUS_STATUS_OK;
}

}  // namespace proteus::gpu

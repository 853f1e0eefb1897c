// The one place where CUDA and HIP differ. The GPU backend is written against the CUDA runtime API;
// compiled as HIP (PROTEUS_GPU_BACKEND_HIP), the names it uses map to their HIP twins here, in the
// manner of llama.cpp's ggml-cuda/vendors/hip.h. Add a name here before using it in a .cu file.
#pragma once

#include <string>

#include "proteus/proteus.h"

#if defined(PROTEUS_GPU_BACKEND_HIP)

#include <hip/hip_runtime.h>

#define cudaDevAttrComputeCapabilityMajor hipDeviceAttributeComputeCapabilityMajor
#define cudaDevAttrComputeCapabilityMinor hipDeviceAttributeComputeCapabilityMinor
#define cudaDevAttrL2CacheSize hipDeviceAttributeL2CacheSize
#define cudaDevAttrMultiProcessorCount hipDeviceAttributeMultiprocessorCount
// AMD has no opt-in above a default: a block may take all of its workgroup's LDS.
#define cudaDevAttrMaxSharedMemoryPerBlockOptin hipDeviceAttributeMaxSharedMemoryPerBlock
#define cudaDeviceGetAttribute hipDeviceGetAttribute
#define cudaDeviceProp hipDeviceProp_t
#define cudaDriverGetVersion hipDriverGetVersion
#define cudaErrorMemoryAllocation hipErrorOutOfMemory
#define cudaError_t hipError_t
#define cudaEventCreate hipEventCreate
#define cudaEventDestroy hipEventDestroy
#define cudaEventElapsedTime hipEventElapsedTime
#define cudaEventRecord hipEventRecord
#define cudaEvent_t hipEvent_t
#define cudaFree hipFree
#define cudaFreeAsync hipFreeAsync
#define cudaFuncAttributeMaxDynamicSharedMemorySize hipFuncAttributeMaxDynamicSharedMemorySize
#define cudaFuncSetAttribute hipFuncSetAttribute
#define cudaGetDeviceCount hipGetDeviceCount
#define cudaGetDeviceProperties hipGetDeviceProperties
#define cudaGetErrorString hipGetErrorString
#define cudaGetLastError hipGetLastError
#define cudaMalloc hipMalloc
#define cudaMallocFromPoolAsync hipMallocFromPoolAsync
#define cudaMemAllocationTypePinned hipMemAllocationTypePinned
#define cudaMemGetInfo hipMemGetInfo
#define cudaMemHandleTypeNone hipMemHandleTypeNone
#define cudaMemLocationTypeDevice hipMemLocationTypeDevice
#define cudaMemPoolAttrReleaseThreshold hipMemPoolAttrReleaseThreshold
#define cudaMemPoolAttrReservedMemCurrent hipMemPoolAttrReservedMemCurrent
#define cudaMemPoolAttrUsedMemCurrent hipMemPoolAttrUsedMemCurrent
#define cudaMemPoolCreate hipMemPoolCreate
#define cudaMemPoolDestroy hipMemPoolDestroy
#define cudaMemPoolGetAttribute hipMemPoolGetAttribute
#define cudaMemPoolProps hipMemPoolProps
#define cudaMemPoolSetAttribute hipMemPoolSetAttribute
#define cudaMemPoolTrimTo hipMemPoolTrimTo
#define cudaMemPool_t hipMemPool_t
#define cudaMemcpyAsync hipMemcpyAsync
#define cudaMemcpyDeviceToDevice hipMemcpyDeviceToDevice
#define cudaMemcpyDeviceToHost hipMemcpyDeviceToHost
#define cudaMemcpyHostToDevice hipMemcpyHostToDevice
#define cudaMemsetAsync hipMemsetAsync
#define cudaPointerGetAttributes hipPointerGetAttributes
#define cudaSetDevice hipSetDevice
#define cudaStreamCreateWithFlags hipStreamCreateWithFlags
#define cudaStreamDestroy hipStreamDestroy
#define cudaStreamNonBlocking hipStreamNonBlocking
#define cudaStreamCaptureStatus hipStreamCaptureStatus
#define cudaStreamCaptureStatusNone hipStreamCaptureStatusNone
#define cudaStreamIsCapturing hipStreamIsCapturing
#define cudaStreamSynchronize hipStreamSynchronize
#define cudaStream_t hipStream_t
#define cudaSuccess hipSuccess

#elif defined(PROTEUS_GPU_BACKEND_CUDA)

#include <cublas_v2.h>  // types and enums only: the library is loaded when first used (gpu/blas.cu)
#include <cuda_runtime.h>

#else
#error "gpu/vendor.h: define PROTEUS_GPU_BACKEND_CUDA or PROTEUS_GPU_BACKEND_HIP"
#endif

namespace proteus::gpu {

/** What the runtime says a pointer addresses: device memory (or managed memory), host memory it knows, or neither. */
enum class MemoryKind { kDevice, kHost, kUnknown };

#if defined(PROTEUS_GPU_BACKEND_HIP)
/** Prefix of the runtime's function names, so that messages name the call that really failed. */
inline constexpr const char* kRuntimePrefix = "hip";
/** The HIP version the library was compiled with (HIP_VERSION: major · 10^7 + minor · 10^5 + patch). */
inline constexpr int kRuntimeVersion = HIP_VERSION;
inline constexpr proteus_backend kBackend = PROTEUS_BACKEND_HIP;

/**
 * `value` of lane `source` of this thread's aligned group of `width` lanes (a power of two no wider
 * than the wavefront; a 64-lane wavefront holds two groups of 32, each exchanging within itself).
 * Every lane of the group calls it.
 */
__device__ __forceinline__ uint32_t group_shuffle(uint32_t value, int source, int width)
{
    return __shfl(value, source, width);
}

/** `value` of lane (own lane XOR `mask`) within the group, as group_shuffle. */
__device__ __forceinline__ float group_shuffle_xor(float value, int mask, int width)
{
    return __shfl_xor(value, mask, width);
}

/** Bit n: the predicate of lane n of this thread's group of 32 (as group_shuffle: a 64-lane wavefront holds two). */
__device__ __forceinline__ uint32_t group_ballot(bool predicate)
{
    const unsigned long long wave = __ballot(predicate);
    return static_cast<uint32_t>(wave >> (threadIdx.x % warpSize / 32 * 32));
}

/**
 * Orders the shared-memory accesses of this thread's group of 32 before the call against those after
 * it, for every lane of the group (all of them call it). A wavefront runs in lockstep, so a barrier of
 * the wavefront with workgroup-scope fences is enough.
 */
__device__ __forceinline__ void group_sync()
{
    __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
    __builtin_amdgcn_wave_barrier();
    __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
}

/** Where `pointer` points, by the runtime; `device` is set for device memory. Clears any error it raises. */
inline MemoryKind memory_kind(const void* pointer, int& device)
{
    hipPointerAttribute_t attributes{};
    if (hipPointerGetAttributes(&attributes, pointer) != hipSuccess) {
        (void)hipGetLastError();  // HIP reports memory it does not know (plain host memory) as an error
        return MemoryKind::kUnknown;
    }
    device = attributes.device;
    if (attributes.isManaged != 0 || attributes.memoryType == hipMemoryTypeDevice) return MemoryKind::kDevice;
    return attributes.memoryType == hipMemoryTypeHost ? MemoryKind::kHost : MemoryKind::kUnknown;
}

/** "gfx90a" from gcnArchName "gfx90a:sramecc+:xnack-" (the feature flags are not the architecture). */
inline std::string device_architecture(const cudaDeviceProp& properties)
{
    const std::string name = properties.gcnArchName;
    return name.substr(0, name.find(':'));
}
#else
inline constexpr const char* kRuntimePrefix = "cuda";
/** The CUDA runtime the library was compiled with and links statically (1000 · major + 10 · minor). */
inline constexpr int kRuntimeVersion = CUDART_VERSION;
inline constexpr proteus_backend kBackend = PROTEUS_BACKEND_CUDA;

/** As the HIP twin above; a group of 32 is the whole warp, every lane of which calls it. */
__device__ __forceinline__ uint32_t group_shuffle(uint32_t value, int source, int width)
{
    return __shfl_sync(0xffffffffu, value, source, width);
}

__device__ __forceinline__ float group_shuffle_xor(float value, int mask, int width)
{
    return __shfl_xor_sync(0xffffffffu, value, mask, width);
}

__device__ __forceinline__ uint32_t group_ballot(bool predicate) { return __ballot_sync(0xffffffffu, predicate); }

__device__ __forceinline__ void group_sync() { __syncwarp(); }

/** Where `pointer` points, by the runtime; `device` is set for device memory. Clears any error it raises. */
inline MemoryKind memory_kind(const void* pointer, int& device)
{
    cudaPointerAttributes attributes{};
    if (cudaPointerGetAttributes(&attributes, pointer) != cudaSuccess) {
        (void)cudaGetLastError();
        return MemoryKind::kUnknown;
    }
    device = attributes.device;
    switch (attributes.type) {
    case cudaMemoryTypeDevice:
    case cudaMemoryTypeManaged: return MemoryKind::kDevice;
    case cudaMemoryTypeHost: return MemoryKind::kHost;
    default: return MemoryKind::kUnknown;  // unregistered host memory
    }
}

/** "sm_90" from compute capability 9.0. */
inline std::string device_architecture(const cudaDeviceProp& properties)
{
    return "sm_" + std::to_string(properties.major * 10 + properties.minor);
}
#endif

// ---- BLAS (cuBLAS / hipBLAS), loaded with dlopen when first used (gpu/blas.cu) ---------------------
// Only types, enum values and names: nothing links against the BLAS library, so the library loads where
// it is not installed. hipBLAS's header is not needed either (Debian ships none): its handful of ABI values
// are written here, those of the pre-"v2" hipblasGemmEx (hipblasDatatype_t for the data and compute
// types) that ROCm 5 and 6 export under that name.
namespace blas {
#if defined(PROTEUS_GPU_BACKEND_HIP)
using Handle = void*;
using Status = int;
using Operation = int;
using DataType = int;
using ComputeType = int;  // hipblasDatatype_t in the pre-v2 API
using GemmAlgo = int;
inline constexpr Status kSuccess = 0;          // HIPBLAS_STATUS_SUCCESS
inline constexpr Operation kNoTranspose = 111;  // HIPBLAS_OP_N
inline constexpr Operation kTranspose = 112;    // HIPBLAS_OP_T
inline constexpr DataType kFloat16 = 150;       // HIPBLAS_R_16F
inline constexpr DataType kFloat32 = 151;       // HIPBLAS_R_32F
inline constexpr DataType kBFloat16 = 168;      // HIPBLAS_R_16B
inline constexpr ComputeType kComputeFloat32 = 151;
inline constexpr GemmAlgo kDefaultAlgo = 160;   // HIPBLAS_GEMM_DEFAULT
inline constexpr const char* kLibraryName = "hipBLAS";
/** libhipblas.so.<n> of the ROCm the library was built with: another one would bring a second HIP runtime. */
inline constexpr const char* kSonamePrefix = "libhipblas.so.";
inline constexpr int kSonameVersions[] = {HIP_VERSION_MAJOR >= 6 ? 2 : 0};
inline constexpr const char* kCreate = "hipblasCreate";
inline constexpr const char* kDestroy = "hipblasDestroy";
inline constexpr const char* kSetStream = "hipblasSetStream";
inline constexpr const char* kGemmEx = "hipblasGemmEx";
inline constexpr const char* kSetMathMode = nullptr;  // no TF32 on this path: nothing to turn off
inline constexpr int kPedanticMath = 0;
#else
using Handle = cublasHandle_t;
using Status = cublasStatus_t;
using Operation = cublasOperation_t;
using DataType = cudaDataType;
using ComputeType = cublasComputeType_t;
using GemmAlgo = cublasGemmAlgo_t;
inline constexpr Status kSuccess = CUBLAS_STATUS_SUCCESS;
inline constexpr Operation kNoTranspose = CUBLAS_OP_N;
inline constexpr Operation kTranspose = CUBLAS_OP_T;
inline constexpr DataType kFloat16 = CUDA_R_16F;
inline constexpr DataType kFloat32 = CUDA_R_32F;
inline constexpr DataType kBFloat16 = CUDA_R_16BF;
inline constexpr ComputeType kComputeFloat32 = CUBLAS_COMPUTE_32F;
inline constexpr GemmAlgo kDefaultAlgo = CUBLAS_GEMM_DEFAULT;
inline constexpr const char* kLibraryName = "cuBLAS";
/** libcublas.so.<n>: the major the library was built with first; cuBLAS carries its own runtime, so another serves too. */
inline constexpr const char* kSonamePrefix = "libcublas.so.";
inline constexpr int kSonameVersions[] = {CUDART_VERSION / 1000, 13, 12, 11};
inline constexpr const char* kCreate = "cublasCreate_v2";
inline constexpr const char* kDestroy = "cublasDestroy_v2";
inline constexpr const char* kSetStream = "cublasSetStream_v2";
inline constexpr const char* kGemmEx = "cublasGemmEx";
inline constexpr const char* kSetMathMode = "cublasSetMathMode";
/** CUBLAS_DEFAULT_MATH (no TF32 for float32) with reduced-precision reductions disallowed. */
inline constexpr int kPedanticMath = CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
#endif
}  // namespace blas

}  // namespace proteus::gpu

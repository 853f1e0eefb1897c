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
#define cudaDevAttrMultiProcessorCount hipDeviceAttributeMultiprocessorCount
// AMD has no opt-in above a default: a block may take all of its workgroup's LDS.
#define cudaDevAttrMaxSharedMemoryPerBlockOptin hipDeviceAttributeMaxSharedMemoryPerBlock
#define cudaDeviceGetAttribute hipDeviceGetAttribute
#define cudaDeviceProp hipDeviceProp_t
#define cudaDriverGetVersion hipDriverGetVersion
#define cudaErrorMemoryAllocation hipErrorOutOfMemory
#define cudaError_t hipError_t
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
#define cudaPointerGetAttributes hipPointerGetAttributes
#define cudaSetDevice hipSetDevice
#define cudaStreamCreateWithFlags hipStreamCreateWithFlags
#define cudaStreamDestroy hipStreamDestroy
#define cudaStreamNonBlocking hipStreamNonBlocking
#define cudaStreamSynchronize hipStreamSynchronize
#define cudaStream_t hipStream_t
#define cudaSuccess hipSuccess

#elif defined(PROTEUS_GPU_BACKEND_CUDA)

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

}  // namespace proteus::gpu

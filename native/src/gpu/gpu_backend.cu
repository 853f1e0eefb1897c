// The GPU backend (CUDA, or HIP through gpu/vendor.h): devices, a context's non-blocking stream,
// device memory, copies and fills. Flux attention itself is in gpu/flux_kernel.cu.
#include "gpu/vendor.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "backend.h"
#include "gpu/device_call.h"
#include "gpu/flux_kernel.h"
#include "core/error.h"

namespace proteus {
namespace gpu {
namespace {

constexpr int kFillThreads = 256;
constexpr uint64_t kFillMaxBlocks = 1u << 16;  // the grid strides over larger fills

/**
 * Repeats the low `pattern_bytes` bytes of `pattern` (1, 2, 4 or 8; little-endian, as on the host)
 * over `bytes` bytes. Byte stores keep any destination offset legal, and consecutive threads still
 * write consecutive bytes, so the stores coalesce.
 */
__global__ void fill_pattern(unsigned char* destination, uint64_t bytes, uint64_t pattern, uint32_t pattern_bytes)
{
    const uint64_t step = static_cast<uint64_t>(gridDim.x) * blockDim.x;
    for (uint64_t k = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < bytes; k += step) {
        destination[k] = static_cast<unsigned char>(pattern >> (8 * (k & (pattern_bytes - 1))));
    }
}

void copy_text(char* destination, size_t capacity, const std::string& text)
{
    const size_t length = std::min(text.size(), capacity - 1);
    std::memcpy(destination, text.data(), length);
    std::memset(destination + length, 0, capacity - length);
}

/** One device with the context's stream. Every call first makes the device current on the calling thread. */
class GpuBackend final : public Backend {
public:
    GpuBackend(int32_t device, cudaStream_t stream) : device_(device), stream_(stream) {}

    ~GpuBackend() override
    {
        // A destructor has no one to report to: wait for the stream's work, then let the stream go.
        (void)cudaSetDevice(device_);
        (void)cudaStreamSynchronize(stream_);
        (void)cudaStreamDestroy(stream_);
        (void)cudaGetLastError();
    }

    GpuBackend(const GpuBackend&) = delete;
    GpuBackend& operator=(const GpuBackend&) = delete;

    proteus_status describe(proteus_device_info& info) override { return gpu_device_info(device_, info); }

    proteus_status allocate(uint64_t bytes, void** pointer) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        const cudaError_t error = cudaMalloc(pointer, bytes);
        if (error != cudaErrorMemoryAllocation) return check(error, "Malloc");
        (void)cudaGetLastError();  // an allocation failure is not sticky; clear it for the next call
        size_t free_bytes = 0;
        size_t total_bytes = 0;
        if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
            (void)cudaGetLastError();
            free_bytes = 0;
        }
        return set_out_of_memory("device allocation", bytes, free_bytes);
    }

    void release(void* pointer) noexcept override
    {
        (void)cudaSetDevice(device_);
        (void)cudaFree(pointer);
        (void)cudaGetLastError();  // a failed free has no one to tell and must not taint the next call
    }

    proteus_status upload(void* destination, const void* source, uint64_t bytes) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        PROTEUS_GPU_CHECK(cudaMemcpyAsync(destination, source, bytes, cudaMemcpyHostToDevice, stream_), "MemcpyAsync");
        return check(cudaStreamSynchronize(stream_), "StreamSynchronize");
    }

    proteus_status download(void* destination, const void* source, uint64_t bytes) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        PROTEUS_GPU_CHECK(cudaMemcpyAsync(destination, source, bytes, cudaMemcpyDeviceToHost, stream_), "MemcpyAsync");
        return check(cudaStreamSynchronize(stream_), "StreamSynchronize");
    }

    proteus_status copy(void* destination, const void* source, uint64_t bytes) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return check(cudaMemcpyAsync(destination, source, bytes, cudaMemcpyDeviceToDevice, stream_), "MemcpyAsync");
    }

    proteus_status fill(void* destination, uint64_t bytes, const void* pattern, uint32_t pattern_bytes) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        uint64_t packed = 0;
        std::memcpy(&packed, pattern, pattern_bytes);
        const uint64_t blocks = std::min<uint64_t>((bytes + kFillThreads - 1) / kFillThreads, kFillMaxBlocks);
        fill_pattern<<<static_cast<unsigned>(blocks), kFillThreads, 0, stream_>>>(
            static_cast<unsigned char*>(destination), bytes, packed, pattern_bytes);
        return check_launch("fill_pattern");
    }

    proteus_status synchronize() override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return check(cudaStreamSynchronize(stream_), "StreamSynchronize");
    }

    proteus_status memory(uint64_t& free_bytes, uint64_t& total_bytes) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        size_t free_now = 0;
        size_t total = 0;
        PROTEUS_GPU_CHECK(cudaMemGetInfo(&free_now, &total), "MemGetInfo");
        free_bytes = free_now;
        total_bytes = total;
        return PROTEUS_STATUS_OK;
    }

    // TODO(issue 8): the stream-ordered pool; for now the plain allocator.
    proteus_status allocate_workspace(uint64_t bytes, void** pointer) override { return allocate(bytes, pointer); }
    void release_workspace(void* pointer) noexcept override { release(pointer); }
    uint64_t workspace_reserved_bytes() override { return 0; }

    proteus_status check_wrap(void*, uint64_t) override { return PROTEUS_STATUS_OK; }

    proteus_status plan_flux(const FluxProblem&, FluxPlan& plan) override
    {
        plan = FluxPlan{};  // TODO(issue 8): gpu/flux_dispatch
        plan.launch.struct_size = sizeof plan.launch;
        return PROTEUS_STATUS_OK;
    }

    proteus_status flux_launch_candidates(const FluxProblem&, std::vector<proteus_launch_config>& configs) override
    {
        configs.clear();  // TODO(issue 8): gpu/flux_dispatch
        return PROTEUS_STATUS_OK;
    }

    proteus_status flux_attention(const FluxProblem& problem, const FluxPlan&, Allocator& workspace) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return gpu::flux_attention(problem, workspace, stream_, device_);
    }

    proteus_status shortlist_gather(const GatherProblem&, Allocator&) override
    {
        return set_error(PROTEUS_STATUS_INTERNAL_ERROR, "TODO(issue 8): gather on the GPU");
    }

private:
    const int32_t device_;
    const cudaStream_t stream_;
};

}  // namespace
}  // namespace gpu

proteus_backend gpu_backend_kind() { return gpu::kBackend; }

void gpu_versions(int32_t& runtime_version, int32_t& driver_version)
{
    runtime_version = 0;
    driver_version = 0;  // TODO(issue 8)
}

int32_t gpu_device_count()
{
    int count = 0;
    // No driver, no device, or a driver older than the runtime: the backend has no devices here.
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return count;
}

proteus_status gpu_device_info(int32_t ordinal, proteus_device_info& info)
{
    cudaDeviceProp properties{};
    PROTEUS_GPU_CHECK(cudaGetDeviceProperties(&properties, ordinal), "GetDeviceProperties");
    info.backend = gpu::kBackend;
    info.ordinal = ordinal;
    info.multiprocessor_count = properties.multiProcessorCount;
    info.warp_size = properties.warpSize;
    info.reserved0 = 0;
    info.total_memory = properties.totalGlobalMem;
    gpu::copy_text(info.name, sizeof info.name, properties.name);
    gpu::copy_text(info.architecture, sizeof info.architecture, gpu::device_architecture(properties));
    return PROTEUS_STATUS_OK;
}

proteus_status create_gpu_backend(int32_t ordinal, void* caller_stream, bool own_stream,
                                  std::unique_ptr<Backend>& backend)
{
    (void)caller_stream;
    (void)own_stream;  // TODO(issue 8): the caller's stream
    PROTEUS_GPU_CHECK(cudaSetDevice(ordinal), "SetDevice");
    cudaStream_t stream = nullptr;
    // Non-blocking: the context's work must not serialise with the legacy default stream of other code.
    PROTEUS_GPU_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "StreamCreateWithFlags");
    try {
        backend = std::make_unique<gpu::GpuBackend>(ordinal, stream);
    } catch (...) {
        (void)cudaStreamDestroy(stream);
        throw;
    }
    return PROTEUS_STATUS_OK;
}

}  // namespace proteus

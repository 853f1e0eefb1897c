// The GPU backend (CUDA, or HIP through gpu/vendor.h): devices, a context's stream (its own
// non-blocking one or the caller's), device memory, the stream-ordered workspace pool, copies and
// fills. Dispatch is in gpu/flux_dispatch.cu, flux attention in gpu/flux_kernel.cu, gather in
// gpu/shortlist_gather.cu, the layer operations in gpu/layer_ops.cu.
#include "gpu/vendor.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "core/error.h"
#include "gpu/device_call.h"
#include "gpu/flux_dispatch.h"
#include "gpu/flux_kernel.h"
#include "gpu/flux_row_mode.h"
#include "gpu/layer_ops.h"
#include "gpu/shortlist_gather.h"

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

/** Device memory free now (0 when the runtime cannot say), for out-of-memory messages. */
uint64_t free_device_bytes()
{
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return free_bytes;
}

/**
 * A pool for the context's workspace on `device`: cudaMallocFromPoolAsync / cudaFreeAsync on the
 * context's stream. Its release threshold is unbounded, so memory freed on the stream stays in the
 * pool for the next call instead of going back to the device at each synchronisation.
 */
proteus_status create_workspace_pool(int device, cudaMemPool_t& pool)
{
    cudaMemPoolProps properties{};
    properties.allocType = cudaMemAllocationTypePinned;
    properties.handleTypes = cudaMemHandleTypeNone;
    properties.location.type = cudaMemLocationTypeDevice;
    properties.location.id = device;
    PROTEUS_GPU_CHECK(cudaMemPoolCreate(&pool, &properties), "MemPoolCreate");
    uint64_t threshold = UINT64_MAX;
    const proteus_status status =
        check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold), "MemPoolSetAttribute");
    if (status != PROTEUS_STATUS_OK) (void)cudaMemPoolDestroy(pool);
    return status;
}

/** Events on the context's stream; the runtime measures the time between two of them on the device. */
class EventClock final : public StreamClock {
public:
    EventClock(int32_t device, cudaStream_t stream) : device_(device), stream_(stream) {}

    ~EventClock() override
    {
        (void)cudaSetDevice(device_);
        for (cudaEvent_t event : events_) (void)cudaEventDestroy(event);
        (void)cudaGetLastError();
    }

    EventClock(const EventClock&) = delete;
    EventClock& operator=(const EventClock&) = delete;

    /** Creates the `marks` events up front, so that recording allocates nothing between timed runs. */
    proteus_status create(int marks)
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        events_.reserve(static_cast<size_t>(marks));
        for (int n = 0; n < marks; ++n) {
            cudaEvent_t event = nullptr;
            PROTEUS_GPU_CHECK(cudaEventCreate(&event), "EventCreate");
            events_.push_back(event);
        }
        return PROTEUS_STATUS_OK;
    }

    proteus_status record(int index) override
    {
        return check(cudaEventRecord(events_[static_cast<size_t>(index)], stream_), "EventRecord");
    }

    proteus_status elapsed(int from, int to, float& milliseconds) override
    {
        return check(cudaEventElapsedTime(&milliseconds, events_[static_cast<size_t>(from)], events_[static_cast<size_t>(to)]),
                     "EventElapsedTime");
    }

private:
    const int32_t device_;
    const cudaStream_t stream_;
    std::vector<cudaEvent_t> events_;
};

/**
 * One device with the context's stream and workspace pool. Every call first makes the device current
 * on the calling thread. The stream is the backend's own (destroyed with it) or the caller's (only
 * waited for).
 */
class GpuBackend final : public Backend {
public:
    GpuBackend(int32_t device, cudaStream_t stream, bool own_stream, cudaMemPool_t pool, const DeviceTraits& traits,
               uint64_t l2_bytes)
        : device_(device), stream_(stream), own_stream_(own_stream), pool_(pool), traits_(traits), l2_bytes_(l2_bytes),
          blas_(std::make_unique<Blas>(stream))
    {
    }

    ~GpuBackend() override
    {
        // A destructor has no one to report to: wait for the stream's work (its queued workspace
        // releases included), then let the pool and an own stream go.
        (void)cudaSetDevice(device_);
        (void)cudaStreamSynchronize(stream_);
        blas_.reset();  // its handle is bound to the stream: destroyed while the stream still exists
        (void)cudaMemPoolDestroy(pool_);
        if (own_stream_) (void)cudaStreamDestroy(stream_);
        (void)cudaGetLastError();
    }

    GpuBackend(const GpuBackend&) = delete;
    GpuBackend& operator=(const GpuBackend&) = delete;

    proteus_status describe(proteus_device_info& info) override { return gpu_device_info(device_, info); }

    proteus_status allocate(uint64_t bytes, void** pointer) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        cudaError_t error = cudaMalloc(pointer, bytes);
        if (error == cudaErrorMemoryAllocation) {
            // The workspace pool keeps what it freed; hand its unused memory back and try once more.
            (void)cudaGetLastError();  // an allocation failure is not sticky; clear it for the next call
            PROTEUS_GPU_CHECK(cudaMemPoolTrimTo(pool_, 0), "MemPoolTrimTo");
            error = cudaMalloc(pointer, bytes);
        }
        if (error != cudaErrorMemoryAllocation) return check(error, "Malloc");
        (void)cudaGetLastError();
        return set_out_of_memory("device allocation", bytes, free_device_bytes());
    }

    void release(void* pointer) noexcept override
    {
        (void)cudaSetDevice(device_);
        (void)cudaFree(pointer);
        (void)cudaGetLastError();  // a failed free has no one to tell and must not taint the next call
    }

    proteus_status allocate_workspace(uint64_t bytes, void** pointer) override
    {
        if (bytes == 0) {
            *pointer = nullptr;
            return PROTEUS_STATUS_OK;
        }
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        const cudaError_t error = cudaMallocFromPoolAsync(pointer, bytes, pool_, stream_);
        if (error != cudaErrorMemoryAllocation) return check(error, "MallocFromPoolAsync");
        (void)cudaGetLastError();
        return set_out_of_memory("workspace", bytes, free_device_bytes() + workspace_reserved_bytes());
    }

    void release_workspace(void* pointer) noexcept override
    {
        if (pointer == nullptr) return;
        (void)cudaSetDevice(device_);
        (void)cudaFreeAsync(pointer, stream_);
        (void)cudaGetLastError();  // as release()
    }

    uint64_t workspace_reserved_bytes() override
    {
        (void)cudaSetDevice(device_);
        uint64_t reserved = 0;
        uint64_t used = 0;
        if (cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved) != cudaSuccess ||
            cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemCurrent, &used) != cudaSuccess) {
            (void)cudaGetLastError();
            return 0;
        }
        return reserved > used ? reserved - used : 0;
    }

    proteus_status check_wrap(void* pointer, uint64_t bytes) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        // Both ends: memory of this device from the first byte to the last.
        const void* const ends[] = {pointer, static_cast<const char*>(pointer) + (bytes > 0 ? bytes - 1 : 0)};
        for (const void* end : ends) {
            int device = -1;
            const MemoryKind kind = memory_kind(end, device);
            if (kind != MemoryKind::kDevice) {
                return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                                 std::string(kind == MemoryKind::kHost ? "host" : "unregistered") +
                                     " memory: a buffer wrapped on a " + kRuntimePrefix +
                                     " context must be device (or managed) memory of its device",
                                 "pointer");
            }
            if (device != device_) {
                return set_error(PROTEUS_STATUS_DEVICE_MISMATCH,
                                 "the memory belongs to device " + std::to_string(device) + ", the context to device " +
                                     std::to_string(device_),
                                 "pointer");
            }
        }
        return PROTEUS_STATUS_OK;
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

    proteus_status create_clock(int marks, std::unique_ptr<StreamClock>& clock) override
    {
        auto events = std::make_unique<EventClock>(device_, stream_);
        const proteus_status status = events->create(marks);
        if (status == PROTEUS_STATUS_OK) clock = std::move(events);
        return status;
    }

    uint64_t cache_flush_bytes() override { return 2 * l2_bytes_; }

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

    proteus_status plan_flux(const FluxProblem& problem, FluxPlan& plan) override
    {
        return gpu::plan_flux(problem, traits_, plan);
    }

    proteus_status flux_launch_candidates(const FluxProblem& problem, std::vector<proteus_launch_config>& configs) override
    {
        return gpu::flux_launch_candidates(problem, traits_, configs);
    }

    proteus_status flux_attention(const FluxProblem& problem, const FluxPlan& plan, Allocator& workspace) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return gpu::flux_attention(problem, plan, traits_, row_kernel_, workspace, stream_);
    }

    proteus_status shortlist_gather(const GatherProblem& problem, Allocator& workspace) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return gpu::shortlist_gather(problem, workspace, traits_.multiprocessors, stream_);
    }

    proteus_status linear(const LinearProblem& problem, Allocator&) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return gpu::linear(problem, *blas_, stream_);
    }

    proteus_status convert(const ConvertProblem& problem) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return gpu::convert(problem, stream_);
    }

    proteus_status norm(const NormProblem& problem) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return gpu::norm(problem, stream_);
    }

    proteus_status gelu(const GeluProblem& problem) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return gpu::gelu(problem, stream_);
    }

    proteus_status rope(const RopeProblem& problem) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return gpu::rope(problem, traits_, stream_);
    }

    proteus_status router(const RouterProblem& problem, Allocator& workspace) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return gpu::router(problem, router_blas_ ? blas_.get() : nullptr, traits_, workspace, stream_);
    }

    proteus_status select_rows(const SelectProblem& problem, Allocator& workspace) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return gpu::select_rows(problem, workspace, stream_);
    }

    proteus_status dna_update(const DnaUpdateProblem& problem, Allocator& workspace) override
    {
        PROTEUS_GPU_CHECK(cudaSetDevice(device_), "SetDevice");
        return gpu::dna_update(problem, workspace, stream_);
    }

private:
    const int32_t device_;
    const cudaStream_t stream_;
    const bool own_stream_;
    const cudaMemPool_t pool_;
    const DeviceTraits traits_;  // queried once: no attribute query per call
    const uint64_t l2_bytes_;    // the device's L2 cache (proteus_flux_time's flush covers twice this)
    std::unique_ptr<Blas> blas_;  // linear's and the router's handle, created by the first call (gpu/blas.h)
    const bool router_blas_ = !router_direct_requested();  // PROTEUS_GPU_ROUTER=direct declines it for the router
    const RowModeKernel row_kernel_ = row_mode_kernel_requested();  // PROTEUS_ROW_MODE_KERNEL=rows: per-row gathers
};

}  // namespace
}  // namespace gpu

proteus_backend gpu_backend_kind() { return gpu::kBackend; }

void gpu_versions(int32_t& runtime_version, int32_t& driver_version)
{
    // The runtime is the one compiled in (CUDA's is linked statically), so its version is known without a
    // driver; asking the runtime fails on machines that have none.
    int runtime = gpu::kRuntimeVersion;
    int driver = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;  // 0 also when no driver is installed
    (void)cudaGetLastError();
    runtime_version = runtime;
    driver_version = driver;
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
    PROTEUS_GPU_CHECK(cudaSetDevice(ordinal), "SetDevice");
    gpu::DeviceTraits traits;
    proteus_status status = gpu::query_device_traits(ordinal, traits);
    if (status != PROTEUS_STATUS_OK) return status;
    // Some devices report no L2; a 64 MiB flush still covers every cache such a device could have.
    const uint64_t l2 = traits.l2_bytes > 0 ? static_cast<uint64_t>(traits.l2_bytes) : uint64_t{32} << 20;
    // Own: non-blocking, so the context's work does not serialise with the legacy default stream of
    // other code. The caller's (null: the legacy default stream) is used as given and never destroyed.
    cudaStream_t stream = static_cast<cudaStream_t>(caller_stream);
    if (own_stream) PROTEUS_GPU_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "StreamCreateWithFlags");
    cudaMemPool_t pool = nullptr;
    status = gpu::create_workspace_pool(ordinal, pool);
    if (status != PROTEUS_STATUS_OK) {
        if (own_stream) (void)cudaStreamDestroy(stream);
        return status;
    }
    try {
        backend = std::make_unique<gpu::GpuBackend>(ordinal, stream, own_stream, pool, traits, l2);
    } catch (...) {
        (void)cudaMemPoolDestroy(pool);
        if (own_stream) (void)cudaStreamDestroy(stream);
        throw;
    }
    return PROTEUS_STATUS_OK;
}

}  // namespace proteus

// The CPU backend: host memory stands in for device memory; flux attention runs the tile kernel (or,
// when asked, the literal reference) on the backend's worker pool. Always compiled, needing nothing
// beyond the C++ runtime.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <list>
#include <mutex>
#include <new>
#include <numeric>
#include <string>
#include <thread>

#include "backend.h"
#include "core/error.h"
#include "core/shortlist.h"
#include "cpu/flux_attention.h"
#include "cpu/layer_ops.h"
#include "cpu/parallel.h"

namespace proteus {
namespace {

// Cache-line alignment, which also satisfies every element type and the vector loads of the kernels.
constexpr std::align_val_t buffer_alignment{64};

int hardware_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

uint64_t physical_memory()
{
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) : 0;
}

/** MemAvailable counts reclaimable caches, which sysconf's free pages leave out. */
uint64_t available_memory()
{
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t kibibytes = 0;
    while (meminfo >> key >> kibibytes) {
        if (key == "MemAvailable:") return kibibytes * 1024;
        meminfo.ignore(256, '\n');
    }
    const long pages = sysconf(_SC_AVPHYS_PAGES);
    const long page_size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) : 0;
}

std::string cpu_model_name()
{
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) != 0) continue;
        const size_t start = line.find_first_not_of(" \t", line.find(':') + 1);
        if (start != std::string::npos) return line.substr(start);
    }
    return "CPU";
}

std::string machine_architecture()
{
    utsname system{};
    return uname(&system) == 0 ? system.machine : "unknown";
}

void copy_text(char* destination, size_t capacity, const std::string& text)
{
    const size_t length = std::min(text.size(), capacity - 1);
    std::memcpy(destination, text.data(), length);
    std::memset(destination + length, 0, capacity - length);
}

/** PROTEUS_NUM_THREADS when set (a whole number 1..4096), else the hardware threads. */
proteus_status configured_threads(int& threads)
{
    const char* text = std::getenv("PROTEUS_NUM_THREADS");
    if (text == nullptr || *text == '\0') {
        threads = hardware_threads();
        return PROTEUS_STATUS_OK;
    }
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < 1 || value > cpu::max_threads) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                         std::string("PROTEUS_NUM_THREADS = '") + text + "' is not a whole number from 1 to " +
                             std::to_string(cpu::max_threads),
                         "PROTEUS_NUM_THREADS");
    }
    threads = static_cast<int>(value);
    return PROTEUS_STATUS_OK;
}

/** A pool of `threads` (1 … 4096) workers, or INVALID_ARGUMENT naming "threads". */
proteus_status start_pool(int32_t threads, std::shared_ptr<cpu::WorkerPool>& pool)
{
    if (threads < 1 || threads > cpu::max_threads) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                         "threads = " + std::to_string(threads) + ": a CPU context runs 1 to " +
                             std::to_string(cpu::max_threads) + " worker threads",
                         "threads");
    }
    pool = std::make_shared<cpu::WorkerPool>();
    return pool->start(threads);
}

/**
 * Host memory in 64-byte-aligned blocks. libstdc++'s aligned operator new rounds the size up to the
 * alignment without an overflow check, so a size near UINT64_MAX would come back as a tiny block:
 * anything beyond the machine's physical memory is refused before it is asked for.
 */
class HostMemory {
public:
    HostMemory() : largest_(largest_block()) {}

    proteus_status allocate(uint64_t bytes, void** pointer) const
    {
        *pointer = bytes <= largest_ ? ::operator new(bytes, buffer_alignment, std::nothrow) : nullptr;
        if (*pointer == nullptr) return set_out_of_memory("CPU allocation", bytes, available_memory());
        return PROTEUS_STATUS_OK;
    }

    static void release(void* pointer) noexcept { ::operator delete(pointer, buffer_alignment); }

private:
    static uint64_t largest_block()
    {
        const uint64_t alignment = static_cast<uint64_t>(buffer_alignment);
        const uint64_t no_overflow = std::numeric_limits<uint64_t>::max() - (alignment - 1);
        const uint64_t physical = physical_memory();
        return physical > 0 ? std::min(physical, no_overflow) : no_overflow;
    }

    const uint64_t largest_;
};

/**
 * The CPU workspace pool. A released block is kept and the next request it fits takes it (the smallest
 * such block, and only when at most twice the request, so a small call does not pin a large block).
 * At most `max_free_blocks` are kept, the most recently released (the oldest goes back to the system
 * first); every kept block goes back when an allocation fails, before it is tried again. Thread-safe:
 * calls on one context may come from several threads. The bytes counted are the blocks' own sizes.
 */
class WorkspaceArena {
public:
    explicit WorkspaceArena(const HostMemory& memory) : memory_(memory) {}

    ~WorkspaceArena()
    {
        for (const Block& block : free_) HostMemory::release(block.data);
        for (const Block& block : in_use_) HostMemory::release(block.data);
    }

    WorkspaceArena(const WorkspaceArena&) = delete;
    WorkspaceArena& operator=(const WorkspaceArena&) = delete;

    proteus_status allocate(uint64_t bytes, void** pointer)
    {
        std::list<Block> node;  // the new block's list node, made before any memory is taken
        {
            std::lock_guard<std::mutex> lock(mutex_);
            const auto fit = smallest_fit(bytes);
            if (fit != free_.end()) {
                reserved_ -= fit->bytes;
                *pointer = fit->data;
                in_use_.splice(in_use_.end(), free_, fit);
                return PROTEUS_STATUS_OK;
            }
        }
        node.emplace_back();
        proteus_status status = memory_.allocate(bytes, &node.back().data);
        if (status == PROTEUS_STATUS_OUT_OF_MEMORY && trim()) status = memory_.allocate(bytes, &node.back().data);
        if (status != PROTEUS_STATUS_OK) return status;
        node.back().bytes = bytes;
        *pointer = node.back().data;
        std::lock_guard<std::mutex> lock(mutex_);
        in_use_.splice(in_use_.end(), node);
        return PROTEUS_STATUS_OK;
    }

    void release(void* pointer) noexcept
    {
        std::list<Block> surplus;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            const auto block = std::find_if(in_use_.begin(), in_use_.end(),
                                            [pointer](const Block& b) { return b.data == pointer; });
            if (block == in_use_.end()) return;  // null (a failed allocation's), or not from this arena
            if (free_.size() == max_free_blocks) {
                reserved_ -= free_.front().bytes;
                surplus.splice(surplus.end(), free_, free_.begin());
            }
            reserved_ += block->bytes;
            free_.splice(free_.end(), in_use_, block);
        }
        for (const Block& b : surplus) HostMemory::release(b.data);
    }

    uint64_t reserved_bytes()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return reserved_;
    }

private:
    static constexpr size_t max_free_blocks = 8;

    struct Block {
        void* data = nullptr;
        uint64_t bytes = 0;
    };

    std::list<Block>::iterator smallest_fit(uint64_t bytes)
    {
        auto best = free_.end();
        for (auto block = free_.begin(); block != free_.end(); ++block) {
            const bool fits = block->bytes >= bytes && block->bytes / 2 <= bytes;
            if (fits && (best == free_.end() || block->bytes < best->bytes)) best = block;
        }
        return best;
    }

    /** Gives every kept block back to the system; false when there was none. */
    bool trim() noexcept
    {
        std::list<Block> kept;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            kept.splice(kept.end(), free_);
            reserved_ = 0;
        }
        for (const Block& block : kept) HostMemory::release(block.data);
        return !kept.empty();
    }

    const HostMemory& memory_;
    std::mutex mutex_;
    std::list<Block> free_;    // kept for reuse, oldest release first
    std::list<Block> in_use_;  // handed out, not yet released
    uint64_t reserved_ = 0;    // bytes in free_
};

/** The CPU kernels have no launch fields: each must be 0 (the heuristic); the mode AUTO or REFERENCE. */
proteus_status check_cpu_launch(const proteus_launch_config& launch)
{
    if (launch.mode != PROTEUS_LAUNCH_AUTO && launch.mode != PROTEUS_LAUNCH_REFERENCE) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                         "launch.mode = " + std::to_string(launch.mode) +
                             ": the CPU backend takes PROTEUS_LAUNCH_AUTO (its tile kernel) or "
                             "PROTEUS_LAUNCH_REFERENCE (the literal reference)",
                         "launch.mode");
    }
    const std::pair<const char*, int32_t> fields[] = {{"launch.block_q", launch.block_q},
                                                      {"launch.block_k", launch.block_k},
                                                      {"launch.rows_per_warp", launch.rows_per_warp},
                                                      {"launch.stages", launch.stages}};
    for (const auto& [name, value] : fields) {
        if (value != 0) {
            return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                             std::string(name) + " = " + std::to_string(value) +
                                 ": the CPU kernels have no such setting; pass 0",
                             name);
        }
    }
    return PROTEUS_STATUS_OK;
}

/** The all-heuristic launch (mode AUTO or REFERENCE): what the CPU reports it ran; AUTO is the one it offers. */
proteus_launch_config default_launch(int32_t mode = PROTEUS_LAUNCH_AUTO)
{
    proteus_launch_config launch{};
    launch.struct_size = sizeof launch;
    launch.mode = mode;
    return launch;
}

/** C(i) of every requested row, visited in increasing order so the DNA set only grows (one prefix scan). */
void gather_shortlists(const GatherProblem& problem)
{
    const TensorRef& values = problem.salience;
    const float* salience =
        values.present() ? static_cast<const float*>(values.data) + problem.batch * values.strides[0] : nullptr;
    std::vector<int64_t> order(static_cast<size_t>(problem.row_count));
    std::iota(order.begin(), order.end(), 0);
    const int64_t* rows = problem.rows;
    std::sort(order.begin(), order.end(), [rows](int64_t a, int64_t b) { return rows[a] < rows[b]; });
    core::ShortlistBuilder builder(problem.candidates, problem.seq_len, salience);
    for (const int64_t r : order) {
        const std::vector<int64_t>& candidates = builder.candidates(rows[r]);
        std::copy(candidates.begin(), candidates.end(), problem.indices + r * problem.capacity);
        problem.lengths[r] = static_cast<int64_t>(candidates.size());
    }
}

/** Steady-clock marks: a CPU call has finished when it returns, so a mark is the time it is recorded. */
class HostClock final : public StreamClock {
public:
    explicit HostClock(int marks) : marks_(static_cast<size_t>(marks)) {}

    proteus_status record(int index) override
    {
        marks_[static_cast<size_t>(index)] = std::chrono::steady_clock::now();
        return PROTEUS_STATUS_OK;
    }

    proteus_status elapsed(int from, int to, float& milliseconds) override
    {
        const std::chrono::duration<double, std::milli> span = marks_[static_cast<size_t>(to)] - marks_[static_cast<size_t>(from)];
        milliseconds = static_cast<float>(span.count());
        return PROTEUS_STATUS_OK;
    }

private:
    std::vector<std::chrono::steady_clock::time_point> marks_;
};

/** Twice the last-level cache the C library reports, or 64 MiB where it reports none. */
uint64_t host_cache_flush_bytes()
{
    long bytes = 0;
#if defined(_SC_LEVEL3_CACHE_SIZE)
    bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (bytes <= 0) bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return bytes > 0 ? 2 * static_cast<uint64_t>(bytes) : uint64_t{64} << 20;
}

class CpuBackend final : public Backend {
public:
    CpuBackend(int32_t ordinal, std::shared_ptr<cpu::WorkerPool> pool)
        : ordinal_(ordinal), pool_(std::move(pool)), workspace_(memory_)
    {
    }

    proteus_status describe(proteus_device_info& info) override { return cpu_device_info(ordinal_, info); }

    proteus_status allocate(uint64_t bytes, void** pointer) override { return memory_.allocate(bytes, pointer); }

    void release(void* pointer) noexcept override { HostMemory::release(pointer); }

    proteus_status upload(void* destination, const void* source, uint64_t bytes) override
    {
        std::memcpy(destination, source, bytes);
        return PROTEUS_STATUS_OK;
    }

    proteus_status download(void* destination, const void* source, uint64_t bytes) override
    {
        std::memcpy(destination, source, bytes);
        return PROTEUS_STATUS_OK;
    }

    proteus_status copy(void* destination, const void* source, uint64_t bytes) override
    {
        std::memcpy(destination, source, bytes);
        return PROTEUS_STATUS_OK;
    }

    proteus_status fill(void* destination, uint64_t bytes, const void* pattern, uint32_t pattern_bytes) override
    {
        // Lay the pattern down once, then keep doubling the filled prefix.
        char* out = static_cast<char*>(destination);
        std::memcpy(out, pattern, pattern_bytes);
        for (uint64_t filled = pattern_bytes; filled < bytes;) {
            const uint64_t step = std::min(filled, bytes - filled);
            std::memcpy(out + filled, out, step);
            filled += step;
        }
        return PROTEUS_STATUS_OK;
    }

    proteus_status synchronize() override { return PROTEUS_STATUS_OK; }  // every call completes before returning

    proteus_status create_clock(int marks, std::unique_ptr<StreamClock>& clock) override
    {
        clock = std::make_unique<HostClock>(marks);
        return PROTEUS_STATUS_OK;
    }

    uint64_t cache_flush_bytes() override
    {
        static const uint64_t bytes = host_cache_flush_bytes();
        return bytes;
    }

    proteus_status memory(uint64_t& free_bytes, uint64_t& total_bytes) override
    {
        free_bytes = available_memory();
        total_bytes = physical_memory();
        return PROTEUS_STATUS_OK;
    }

    proteus_status allocate_workspace(uint64_t bytes, void** pointer) override
    {
        return workspace_.allocate(bytes, pointer);
    }

    void release_workspace(void* pointer) noexcept override { workspace_.release(pointer); }

    uint64_t workspace_reserved_bytes() override { return workspace_.reserved_bytes(); }

    /** Any host memory: the CPU backend cannot tell whose it is, only that it is there. */
    proteus_status check_wrap(void* pointer, uint64_t bytes) override
    {
        if (pointer == nullptr) {
            return set_error(PROTEUS_STATUS_INVALID_ARGUMENT, "pointer: NULL is not host memory", "pointer");
        }
        if (bytes == 0) {
            return set_error(PROTEUS_STATUS_INVALID_ARGUMENT, "bytes: a buffer holds at least one byte", "bytes");
        }
        if (bytes - 1 > std::numeric_limits<uintptr_t>::max() - reinterpret_cast<uintptr_t>(pointer)) {
            return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                             "bytes = " + std::to_string(bytes) + " runs past the end of the address space", "bytes");
        }
        return PROTEUS_STATUS_OK;
    }

    proteus_status plan_flux(const FluxProblem& problem, FluxPlan& plan) override
    {
        const proteus_status status = check_cpu_launch(problem.launch);
        if (status != PROTEUS_STATUS_OK) return status;
        // The reference when asked for, and for what the tile kernel does not take (the Seed policy).
        const bool reference = problem.launch.mode == PROTEUS_LAUNCH_REFERENCE || !cpu::tiles_take(problem);
        plan.kernel = reference ? PROTEUS_KERNEL_CPU_REFERENCE : PROTEUS_KERNEL_CPU_TILE;
        plan.launch = default_launch(problem.launch.mode);
        return PROTEUS_STATUS_OK;
    }

    proteus_status flux_launch_candidates(const FluxProblem&, std::vector<proteus_launch_config>& configs) override
    {
        configs.assign(1, default_launch());
        return PROTEUS_STATUS_OK;
    }

    proteus_status flux_attention(const FluxProblem& problem, const FluxPlan& plan, Allocator& workspace) override
    {
        const std::shared_ptr<cpu::WorkerPool> pool = current_pool();
        return plan.kernel == PROTEUS_KERNEL_CPU_TILE ? cpu::flux_attention_tiles(problem, *pool, workspace)
                                                      : cpu::flux_attention(problem, *pool, workspace);
    }

    proteus_status shortlist_gather(const GatherProblem& problem, Allocator&) override
    {
        gather_shortlists(problem);
        return PROTEUS_STATUS_OK;
    }

    proteus_status linear(const LinearProblem& problem, Allocator& workspace) override
    {
        return cpu::linear(problem, *current_pool(), workspace);
    }

    proteus_status convert(const ConvertProblem& problem) override { return cpu::convert(problem, *current_pool()); }

    proteus_status norm(const NormProblem& problem) override { return cpu::norm(problem, *current_pool()); }

    proteus_status gelu(const GeluProblem& problem) override { return cpu::gelu(problem, *current_pool()); }

    proteus_status rope(const RopeProblem& problem) override { return cpu::rope(problem, *current_pool()); }

    proteus_status router(const RouterProblem& problem, Allocator& workspace) override
    {
        return cpu::router(problem, *current_pool(), workspace);
    }

    proteus_status select_rows(const SelectProblem& problem, Allocator& workspace) override
    {
        return cpu::select_rows(problem, *current_pool(), workspace);
    }

    proteus_status dna_update(const DnaUpdateProblem& problem, Allocator& workspace) override
    {
        return cpu::dna_update(problem, *current_pool(), workspace);
    }

    /** A new pool replaces the old one; a call already running keeps the old pool until it returns. */
    proteus_status set_threads(int32_t threads) override
    {
        std::shared_ptr<cpu::WorkerPool> pool;
        const proteus_status status = start_pool(threads, pool);
        if (status != PROTEUS_STATUS_OK) return status;
        std::lock_guard<std::mutex> lock(pool_mutex_);
        pool_.swap(pool);
        return PROTEUS_STATUS_OK;
    }

    int32_t threads() override { return current_pool()->threads(); }

private:
    std::shared_ptr<cpu::WorkerPool> current_pool()
    {
        std::lock_guard<std::mutex> lock(pool_mutex_);
        return pool_;
    }

    const int32_t ordinal_;
    std::mutex pool_mutex_;
    std::shared_ptr<cpu::WorkerPool> pool_;
    const HostMemory memory_;
    WorkspaceArena workspace_;  // after memory_, which it allocates from
};

}  // namespace

int32_t cpu_device_count() { return 1; }

proteus_status cpu_device_info(int32_t ordinal, proteus_device_info& info)
{
    info.backend = PROTEUS_BACKEND_CPU;
    info.ordinal = ordinal;
    info.multiprocessor_count = hardware_threads();
    info.warp_size = 1;
    info.reserved0 = 0;
    info.total_memory = physical_memory();
    copy_text(info.name, sizeof info.name, cpu_model_name());
    copy_text(info.architecture, sizeof info.architecture, machine_architecture());
    return PROTEUS_STATUS_OK;
}

proteus_status create_cpu_backend(int32_t ordinal, void* stream, bool own_stream, std::unique_ptr<Backend>& backend)
{
    if (!own_stream && stream != nullptr) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT, "stream: the CPU backend has no streams; pass NULL",
                         "stream");
    }
    int threads = 0;
    proteus_status status = configured_threads(threads);
    std::shared_ptr<cpu::WorkerPool> pool;
    if (status == PROTEUS_STATUS_OK) status = start_pool(threads, pool);
    if (status != PROTEUS_STATUS_OK) return status;
    backend = std::make_unique<CpuBackend>(ordinal, std::move(pool));
    return PROTEUS_STATUS_OK;
}

}  // namespace proteus

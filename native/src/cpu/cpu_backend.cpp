// The CPU backend: host memory stands in for device memory and the reference flux attention runs on
// std::threads. Always compiled, needing nothing beyond the C++ runtime.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <thread>

#include "backend.h"
#include "cpu/flux_attention.h"
#include "core/error.h"

namespace proteus {
namespace {

// Cache-line alignment, which also satisfies every element type and the vector loads of the kernels.
constexpr std::align_val_t buffer_alignment{64};
constexpr long max_threads = 4096;

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
    if (errno != 0 || *end != '\0' || value < 1 || value > max_threads) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                         std::string("PROTEUS_NUM_THREADS = '") + text + "' is not a whole number from 1 to " +
                             std::to_string(max_threads),
                         "PROTEUS_NUM_THREADS");
    }
    threads = static_cast<int>(value);
    return PROTEUS_STATUS_OK;
}

class CpuBackend final : public Backend {
public:
    CpuBackend(int32_t ordinal, int threads) : ordinal_(ordinal), threads_(threads) {}

    proteus_status describe(proteus_device_info& info) override { return cpu_device_info(ordinal_, info); }

    proteus_status allocate(uint64_t bytes, void** pointer) override
    {
        *pointer = ::operator new(bytes, buffer_alignment, std::nothrow);
        if (*pointer == nullptr) return set_out_of_memory("CPU allocation", bytes, available_memory());
        return PROTEUS_STATUS_OK;
    }

    void release(void* pointer) noexcept override { ::operator delete(pointer, buffer_alignment); }

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

    proteus_status memory(uint64_t& free_bytes, uint64_t& total_bytes) override
    {
        free_bytes = available_memory();
        total_bytes = physical_memory();
        return PROTEUS_STATUS_OK;
    }

    // TODO(issue 8): an arena; for now the plain allocator.
    proteus_status allocate_workspace(uint64_t bytes, void** pointer) override { return allocate(bytes, pointer); }
    void release_workspace(void* pointer) noexcept override { release(pointer); }
    uint64_t workspace_reserved_bytes() override { return 0; }

    proteus_status check_wrap(void*, uint64_t) override { return PROTEUS_STATUS_OK; }

    proteus_status plan_flux(const FluxProblem&, FluxPlan& plan) override
    {
        plan = FluxPlan{};
        plan.kernel = PROTEUS_KERNEL_CPU_REFERENCE;
        plan.launch.struct_size = sizeof plan.launch;
        return PROTEUS_STATUS_OK;
    }

    proteus_status flux_launch_candidates(const FluxProblem&, std::vector<proteus_launch_config>& configs) override
    {
        proteus_launch_config config{};
        config.struct_size = sizeof config;
        configs.assign(1, config);
        return PROTEUS_STATUS_OK;
    }

    proteus_status flux_attention(const FluxProblem& problem, const FluxPlan&, Allocator& workspace) override
    {
        return cpu::flux_attention(problem, threads_, workspace);
    }

    proteus_status shortlist_gather(const GatherProblem&, Allocator&) override
    {
        return set_error(PROTEUS_STATUS_INTERNAL_ERROR, "TODO(issue 8): gather as a backend method");
    }

private:
    const int32_t ordinal_;
    const int threads_;
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
    const proteus_status status = configured_threads(threads);
    if (status != PROTEUS_STATUS_OK) return status;
    backend = std::make_unique<CpuBackend>(ordinal, threads);
    return PROTEUS_STATUS_OK;
}

}  // namespace proteus

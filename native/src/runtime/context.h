// The objects behind the opaque handles: a context (one device of one backend, its memory counters and
// limit) and its buffers. Every byte the library holds on a device goes through Context::allocate or
// Context::allocate_workspace, so the peak counter and the memory limit see buffers and workspaces
// alike. Wrapped buffers (the caller's memory) are neither counted nor ever released by the library.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "backend.h"

namespace proteus {

class Context {
public:
    explicit Context(std::unique_ptr<Backend> backend);
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    Backend& backend() { return *backend_; }

    /**
     * Device memory within the limit; on failure records an out-of-memory error with the figures. More
     * than the device has (or a size whose allocation arithmetic would overflow) fails before the
     * backend is asked.
     */
    proteus_status allocate(uint64_t bytes, void** pointer);
    void release(void* pointer, uint64_t bytes) noexcept;

    /** Stream-ordered workspace from the backend's pool, counted and limited like allocate(). */
    proteus_status allocate_workspace(uint64_t bytes, void** pointer);
    void release_workspace(void* pointer, uint64_t bytes) noexcept;

    /** Device figures, narrowed to the limit when one is set, and the library's own counters. */
    proteus_status memory(proteus_memory_stats& stats);
    void reset_peak();
    void set_memory_limit(uint64_t limit_bytes);

private:
    uint64_t free_within_limit() const;  // callers hold mutex_
    /** OUT_OF_MEMORY when `bytes` cannot be granted: past the limit or past the device. Callers hold mutex_. */
    proteus_status admit(uint64_t bytes, const char* what);
    void count(uint64_t bytes);  // callers hold mutex_

    const std::unique_ptr<Backend> backend_;
    uint64_t device_bytes_ = 0;  // the device's memory (CPU: physical memory); 0 when unknown
    std::mutex mutex_;
    uint64_t allocated_bytes_ = 0;
    uint64_t peak_allocated_bytes_ = 0;
    uint64_t limit_bytes_ = 0;  // 0: no limit
};

/**
 * Device memory of a context: owned (it goes back through the context when the last user lets go) or
 * wrapped (the caller's memory: never released, never counted).
 */
class Buffer {
public:
    enum class Ownership { Owned, Wrapped };

    Buffer(std::shared_ptr<Context> context, void* data, uint64_t bytes, Ownership ownership);
    ~Buffer();
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    const std::shared_ptr<Context>& context() const { return context_; }
    void* data() const { return data_; }
    uint64_t bytes() const { return bytes_; }

private:
    const std::shared_ptr<Context> context_;
    void* const data_;
    const uint64_t bytes_;
    const Ownership ownership_;
};

/** Allocates a buffer of `bytes` on the context. */
proteus_status create_buffer(const std::shared_ptr<Context>& context, uint64_t bytes, std::shared_ptr<Buffer>& buffer);

/** A buffer over the caller's memory, after the backend accepts it (Backend::check_wrap). */
proteus_status wrap_buffer(const std::shared_ptr<Context>& context, void* pointer, uint64_t bytes,
                           std::shared_ptr<Buffer>& buffer);

/**
 * The workspace of one backend call: stream-ordered memory from the backend's pool, counted on its
 * context; what the backend leaves is released (queued on the stream) at the end.
 */
class Workspace final : public Allocator {
public:
    explicit Workspace(Context& context) : context_(context) {}
    ~Workspace() override;
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;

    proteus_status allocate(uint64_t bytes, void** pointer) override;
    void release(void* pointer) noexcept override;

    /** Bytes taken over the call (each allocation counted once, releases not subtracted). */
    uint64_t taken_bytes() const { return taken_bytes_; }

private:
    Context& context_;
    std::unordered_map<void*, uint64_t> sizes_;
    uint64_t taken_bytes_ = 0;
};

}  // namespace proteus

// The objects behind the opaque handles: a context (one device of one backend, its memory counters and
// limit) and the buffers it owns. Every byte the library holds on a device goes through
// Context::allocate, so the peak counter and the memory limit see buffers and workspaces alike.
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

    /** Device memory within the limit; on failure records an out-of-memory error with the figures. */
    proteus_status allocate(uint64_t bytes, void** pointer);
    void release(void* pointer, uint64_t bytes) noexcept;

    /** Device figures, narrowed to the limit when one is set, and the library's own counters. */
    proteus_status memory(proteus_memory_stats& stats);
    void reset_peak();
    void set_memory_limit(uint64_t limit_bytes);

private:
    uint64_t free_within_limit() const;  // callers hold mutex_

    const std::unique_ptr<Backend> backend_;
    std::mutex mutex_;
    uint64_t allocated_bytes_ = 0;
    uint64_t peak_allocated_bytes_ = 0;
    uint64_t limit_bytes_ = 0;  // 0: no limit
};

/** Device memory owned by a context; the memory goes back through the context when the last user lets go. */
class Buffer {
public:
    Buffer(std::shared_ptr<Context> context, void* data, uint64_t bytes);
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
};

/** Allocates a buffer of `bytes` on the context. */
proteus_status create_buffer(const std::shared_ptr<Context>& context, uint64_t bytes, std::shared_ptr<Buffer>& buffer);

/** The workspace of one backend call, counted on its context; what the backend leaves is released at the end. */
class Workspace final : public Allocator {
public:
    explicit Workspace(Context& context) : context_(context) {}
    ~Workspace() override;
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;

    proteus_status allocate(uint64_t bytes, void** pointer) override;
    void release(void* pointer) noexcept override;

private:
    Context& context_;
    std::unordered_map<void*, uint64_t> sizes_;
};

}  // namespace proteus

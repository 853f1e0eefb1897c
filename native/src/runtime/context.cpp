#include "runtime/context.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace proteus {

Context::Context(std::unique_ptr<Backend> backend) : backend_(std::move(backend)) {}

proteus_status Context::allocate(uint64_t bytes, void** pointer)
{
    // Held across the backend call so that two threads cannot both pass the limit check.
    std::lock_guard<std::mutex> lock(mutex_);
    if (limit_bytes_ != 0 && bytes > free_within_limit()) {
        return set_out_of_memory(
            "allocation past the context's memory limit of " + std::to_string(limit_bytes_) + " bytes", bytes,
            free_within_limit());
    }
    const proteus_status status = backend_->allocate(bytes, pointer);
    if (status != PROTEUS_STATUS_OK) return status;
    allocated_bytes_ += bytes;
    peak_allocated_bytes_ = std::max(peak_allocated_bytes_, allocated_bytes_);
    return PROTEUS_STATUS_OK;
}

void Context::release(void* pointer, uint64_t bytes) noexcept
{
    std::lock_guard<std::mutex> lock(mutex_);
    backend_->release(pointer);
    allocated_bytes_ -= bytes;
}

proteus_status Context::memory(proteus_memory_stats& stats)
{
    uint64_t device_free = 0;
    uint64_t device_total = 0;
    const proteus_status status = backend_->memory(device_free, device_total);
    if (status != PROTEUS_STATUS_OK) return status;
    std::lock_guard<std::mutex> lock(mutex_);
    stats.free_bytes = limit_bytes_ != 0 ? std::min(device_free, free_within_limit()) : device_free;
    stats.total_bytes = limit_bytes_ != 0 ? limit_bytes_ : device_total;
    stats.allocated_bytes = allocated_bytes_;
    stats.peak_allocated_bytes = peak_allocated_bytes_;
    stats.limit_bytes = limit_bytes_;
    return PROTEUS_STATUS_OK;
}

void Context::reset_peak()
{
    std::lock_guard<std::mutex> lock(mutex_);
    peak_allocated_bytes_ = allocated_bytes_;
}

void Context::set_memory_limit(uint64_t limit_bytes)
{
    std::lock_guard<std::mutex> lock(mutex_);
    limit_bytes_ = limit_bytes;
}

uint64_t Context::free_within_limit() const
{
    return limit_bytes_ > allocated_bytes_ ? limit_bytes_ - allocated_bytes_ : 0;
}

Buffer::Buffer(std::shared_ptr<Context> context, void* data, uint64_t bytes)
    : context_(std::move(context)), data_(data), bytes_(bytes)
{
}

Buffer::~Buffer() { context_->release(data_, bytes_); }

proteus_status create_buffer(const std::shared_ptr<Context>& context, uint64_t bytes, std::shared_ptr<Buffer>& buffer)
{
    void* data = nullptr;
    const proteus_status status = context->allocate(bytes, &data);
    if (status != PROTEUS_STATUS_OK) return status;
    try {
        buffer = std::make_shared<Buffer>(context, data, bytes);
    } catch (...) {
        context->release(data, bytes);
        throw;
    }
    return PROTEUS_STATUS_OK;
}

Workspace::~Workspace()
{
    for (const auto& [pointer, bytes] : sizes_) context_.release(pointer, bytes);
}

proteus_status Workspace::allocate(uint64_t bytes, void** pointer)
{
    const proteus_status status = context_.allocate(bytes, pointer);
    if (status != PROTEUS_STATUS_OK) return status;
    try {
        sizes_.emplace(*pointer, bytes);
    } catch (...) {
        context_.release(*pointer, bytes);
        throw;
    }
    return PROTEUS_STATUS_OK;
}

void Workspace::release(void* pointer) noexcept
{
    const auto found = sizes_.find(pointer);
    if (found == sizes_.end()) return;
    context_.release(found->first, found->second);
    sizes_.erase(found);
}

}  // namespace proteus

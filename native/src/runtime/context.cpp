#include "runtime/context.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace proteus {
namespace {

/** The device's memory, the largest allocation that can possibly succeed (0 when the backend cannot say). */
uint64_t device_bytes(Backend& backend)
{
    proteus_device_info info{};
    info.struct_size = sizeof info;
    return backend.describe(info) == PROTEUS_STATUS_OK ? info.total_memory : 0;
}

}  // namespace

Context::Context(std::unique_ptr<Backend> backend) : backend_(std::move(backend)), device_bytes_(device_bytes(*backend_))
{
}

proteus_status Context::admit(uint64_t bytes, const char* what)
{
    if (limit_bytes_ != 0 && bytes > free_within_limit()) {
        return set_out_of_memory(std::string(what) + " past the context's memory limit of " +
                                     std::to_string(limit_bytes_) + " bytes",
                                 bytes, free_within_limit());
    }
    // Caught here, before any allocator rounds the size up (libstdc++'s aligned new wraps around near 2^64).
    if (device_bytes_ != 0 && bytes > device_bytes_) {
        return set_out_of_memory(std::string(what) + " larger than the device's " + std::to_string(device_bytes_) +
                                     " bytes",
                                 bytes, device_bytes_ - std::min(device_bytes_, allocated_bytes_));
    }
    return PROTEUS_STATUS_OK;
}

void Context::count(uint64_t bytes)
{
    allocated_bytes_ += bytes;
    peak_allocated_bytes_ = std::max(peak_allocated_bytes_, allocated_bytes_);
}

proteus_status Context::allocate(uint64_t bytes, void** pointer)
{
    // Held across the backend call so that two threads cannot both pass the limit check.
    std::lock_guard<std::mutex> lock(mutex_);
    proteus_status status = admit(bytes, "allocation");
    if (status == PROTEUS_STATUS_OK) status = backend_->allocate(bytes, pointer);
    if (status == PROTEUS_STATUS_OK) count(bytes);
    return status;
}

void Context::release(void* pointer, uint64_t bytes) noexcept
{
    std::lock_guard<std::mutex> lock(mutex_);
    backend_->release(pointer);
    allocated_bytes_ -= bytes;
}

proteus_status Context::allocate_workspace(uint64_t bytes, void** pointer)
{
    std::lock_guard<std::mutex> lock(mutex_);
    proteus_status status = admit(bytes, "workspace");
    if (status == PROTEUS_STATUS_OK) status = backend_->allocate_workspace(bytes, pointer);
    if (status == PROTEUS_STATUS_OK) count(bytes);
    return status;
}

void Context::release_workspace(void* pointer, uint64_t bytes) noexcept
{
    std::lock_guard<std::mutex> lock(mutex_);
    backend_->release_workspace(pointer);
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
    stats.workspace_reserved_bytes = backend_->workspace_reserved_bytes();
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

Buffer::Buffer(std::shared_ptr<Context> context, void* data, uint64_t bytes, Ownership ownership)
    : context_(std::move(context)), data_(data), bytes_(bytes), ownership_(ownership)
{
}

Buffer::~Buffer()
{
    if (ownership_ == Ownership::Owned) context_->release(data_, bytes_);
}

proteus_status create_buffer(const std::shared_ptr<Context>& context, uint64_t bytes, std::shared_ptr<Buffer>& buffer)
{
    void* data = nullptr;
    const proteus_status status = context->allocate(bytes, &data);
    if (status != PROTEUS_STATUS_OK) return status;
    try {
        buffer = std::make_shared<Buffer>(context, data, bytes, Buffer::Ownership::Owned);
    } catch (...) {
        context->release(data, bytes);
        throw;
    }
    return PROTEUS_STATUS_OK;
}

proteus_status wrap_buffer(const std::shared_ptr<Context>& context, void* pointer, uint64_t bytes,
                           std::shared_ptr<Buffer>& buffer)
{
    const proteus_status status = context->backend().check_wrap(pointer, bytes);
    if (status == PROTEUS_STATUS_OK) buffer = std::make_shared<Buffer>(context, pointer, bytes, Buffer::Ownership::Wrapped);
    return status;
}

Workspace::~Workspace()
{
    for (const auto& [pointer, bytes] : sizes_) context_.release_workspace(pointer, bytes);
}

proteus_status Workspace::allocate(uint64_t bytes, void** pointer)
{
    const proteus_status status = context_.allocate_workspace(bytes, pointer);
    if (status != PROTEUS_STATUS_OK) return status;
    try {
        sizes_.emplace(*pointer, bytes);
    } catch (...) {
        context_.release_workspace(*pointer, bytes);
        throw;
    }
    taken_bytes_ += bytes;
    return PROTEUS_STATUS_OK;
}

void Workspace::release(void* pointer) noexcept
{
    const auto found = sizes_.find(pointer);
    if (found == sizes_.end()) return;
    context_.release_workspace(found->first, found->second);
    sizes_.erase(found);
}

}  // namespace proteus

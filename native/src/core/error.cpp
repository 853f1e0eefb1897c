#include "core/error.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>

namespace proteus {
namespace {

struct LastError {
    proteus_status status = PROTEUS_STATUS_OK;
    std::string message;
    std::string argument;
    uint64_t requested_bytes = 0;
    uint64_t free_bytes = 0;
};

thread_local LastError last_error;

std::string describe_bytes(uint64_t bytes)
{
    char text[96];
    std::snprintf(text, sizeof text, "%llu bytes (%.1f MiB)", static_cast<unsigned long long>(bytes),
                  static_cast<double>(bytes) / (1024.0 * 1024.0));
    return text;
}

/** Keeps the status and figures even when the text cannot be stored (the caller is reporting a failure). */
void store_text(LastError& error, const std::string& message, const char* argument) noexcept
{
    try {
        error.message = message;
        error.argument = argument != nullptr ? argument : "";
    } catch (const std::bad_alloc&) {
        error.message.clear();
        error.argument.clear();
    }
}

}  // namespace

proteus_status set_error(proteus_status status, const std::string& message, const char* argument)
{
    LastError& error = last_error;
    error.status = status;
    error.requested_bytes = 0;
    error.free_bytes = 0;
    store_text(error, message, argument);
    return status;
}

proteus_status set_out_of_memory(const std::string& what, uint64_t requested_bytes, uint64_t free_bytes)
{
    const std::string message =
        what + ": asked for " + describe_bytes(requested_bytes) + " with " + describe_bytes(free_bytes) + " free";
    LastError& error = last_error;
    error.status = PROTEUS_STATUS_OUT_OF_MEMORY;
    error.requested_bytes = requested_bytes;
    error.free_bytes = free_bytes;
    store_text(error, message, "");
    return PROTEUS_STATUS_OUT_OF_MEMORY;
}

const char* last_error_message() { return last_error.message.c_str(); }

void last_error_info(proteus_error_info& info)
{
    const LastError& error = last_error;
    info.status = error.status;
    info.requested_bytes = error.requested_bytes;
    info.free_bytes = error.free_bytes;
    const size_t length = std::min(error.argument.size(), sizeof info.argument - 1);
    std::memcpy(info.argument, error.argument.data(), length);
    std::memset(info.argument + length, 0, sizeof info.argument - length);
}

}  // namespace proteus

// Dispatch from a proteus_backend value to the backends compiled into this build.
#pragma once

#include <cstdint>
#include <memory>

#include "backend.h"

namespace proteus {

/** Bit (1 << backend) for every compiled backend. */
uint32_t compiled_backends();

/** Devices of a backend value: 0 when not compiled in; INVALID_ARGUMENT when not a proteus_backend. */
proteus_status device_count(int32_t backend, int32_t& count);

/** Describes a device; BACKEND_UNAVAILABLE when the backend is not compiled in or has no such device. */
proteus_status device_info(int32_t backend, int32_t ordinal, proteus_device_info& info);

/**
 * Opens a device, with the same errors as device_info: a backend on a new stream of its own
 * (own_stream), or on the caller's `stream`.
 */
proteus_status create_backend(int32_t backend, int32_t ordinal, void* stream, bool own_stream,
                              std::unique_ptr<Backend>& instance);

}  // namespace proteus

// The per-thread last error behind proteus_last_error_message / proteus_last_error_info.
// Every failing path records its message here and returns the status it recorded.
#pragma once

#include <cstdint>
#include <string>

#include "proteus/proteus.h"

namespace proteus {

/** Records `message` (and the offending argument, if any) as this thread's last error; returns `status`. */
proteus_status set_error(proteus_status status, const std::string& message, const char* argument = "");

/**
 * Records an out-of-memory error: "<what>: asked for N bytes (x.y MiB) with M bytes (x.y MiB) free".
 * Returns PROTEUS_STATUS_OUT_OF_MEMORY.
 */
proteus_status set_out_of_memory(const std::string& what, uint64_t requested_bytes, uint64_t free_bytes);

/** The message of this thread's last error. */
const char* last_error_message();

/** The details of this thread's last error. */
void last_error_info(proteus_error_info& info);

}  // namespace proteus

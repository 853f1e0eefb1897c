// The process-wide log callback behind proteus_set_log_callback. Off by default; a message below the
// minimum level costs one atomic load.
#pragma once

#include <string>

#include "proteus/proteus.h"

namespace proteus {

/** Installs `callback` (null: none) for messages of `min_level` and above; waits for calls of the previous one. */
void set_log_callback(proteus_log_callback callback, void* user_data, proteus_log_level min_level);

/** Whether a message of `level` would reach a callback (to skip building its text). */
bool log_enabled(proteus_log_level level) noexcept;

/** Hands `message` to the callback when one is set for `level`; never throws. */
void log_message(proteus_log_level level, const std::string& message) noexcept;

}  // namespace proteus

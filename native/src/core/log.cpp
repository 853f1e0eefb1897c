#include "core/log.h"

#include <atomic>
#include <mutex>
#include <shared_mutex>

namespace proteus {
namespace {

struct LogSink {
    std::shared_mutex mutex;  // shared while calling, exclusive while replacing: a removed callback is never running
    proteus_log_callback callback = nullptr;
    void* user_data = nullptr;
    std::atomic<int> min_level{PROTEUS_LOG_NONE};  // read without the lock first, so that logging off costs nothing
};

LogSink& sink()
{
    static LogSink instance;
    return instance;
}

}  // namespace

void set_log_callback(proteus_log_callback callback, void* user_data, proteus_log_level min_level)
{
    LogSink& log = sink();
    std::unique_lock lock(log.mutex);
    log.callback = callback;
    log.user_data = user_data;
    log.min_level.store(callback != nullptr ? min_level : PROTEUS_LOG_NONE, std::memory_order_release);
}

bool log_enabled(proteus_log_level level) noexcept
{
    return level < PROTEUS_LOG_NONE && level >= sink().min_level.load(std::memory_order_acquire);
}

void log_message(proteus_log_level level, const std::string& message) noexcept
{
    if (!log_enabled(level)) return;
    LogSink& log = sink();
    std::shared_lock lock(log.mutex);
    if (log.callback == nullptr || level < log.min_level.load(std::memory_order_relaxed)) return;
    log.callback(level, message.c_str(), log.user_data);
}

}  // namespace proteus

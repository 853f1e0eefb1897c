#include "cpu/parallel.h"

#include <system_error>

#include "core/error.h"

namespace proteus::cpu {

WorkerPool::~WorkerPool() { stop(); }

proteus_status WorkerPool::start(int threads)
{
    stop();
    try {
        workers_.reserve(static_cast<size_t>(threads > 1 ? threads - 1 : 0));
        for (int worker = 1; worker < threads; ++worker) workers_.emplace_back([this, worker] { work(worker); });
    } catch (const std::system_error& error) {
        const size_t started = workers_.size();
        stop();
        return set_error(PROTEUS_STATUS_OUT_OF_MEMORY, "threads = " + std::to_string(threads) +
                                                           ": the system refused a thread after " +
                                                           std::to_string(started + 1) + " (" + error.what() + ")",
                         "threads");
    }
    return PROTEUS_STATUS_OK;
}

void WorkerPool::stop() noexcept
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
    stopping_ = false;
}

void WorkerPool::run(int64_t task_count, const std::function<void(int worker, int64_t index)>& task)
{
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    bool woken = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        task_ = &task;
        task_count_ = task_count;
        next_ = 0;
        failure_ = nullptr;
        // Workers are woken only when there is more than the caller's share of work.
        busy_ = task_count > 1 ? static_cast<int>(workers_.size()) : 0;
        woken = busy_ > 0;
        if (woken) ++generation_;
    }
    if (woken) wake_.notify_all();
    drain(0);
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [this] { return busy_ == 0; });
    task_ = nullptr;
    if (failure_) std::rethrow_exception(failure_);
}

void WorkerPool::work(int worker)
{
    uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
        }
        drain(worker);
        std::lock_guard<std::mutex> lock(mutex_);
        if (--busy_ == 0) finished_.notify_one();
    }
}

/** Takes indices until none is left; a task's exception stops the handing out and is kept. */
void WorkerPool::drain(int worker) noexcept
{
    for (;;) {
        int64_t index = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (next_ >= task_count_) return;
            index = next_++;
        }
        try {
            (*task_)(worker, index);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!failure_) failure_ = std::current_exception();
            next_ = task_count_;
        }
    }
}

}  // namespace proteus::cpu

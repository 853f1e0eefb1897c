#include "cpu/parallel.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace proteus::cpu {
namespace {

class TaskQueue {
public:
    TaskQueue(int64_t task_count, const std::function<void(int, int64_t)>& task) : count_(task_count), task_(task) {}

    void drain(int worker) noexcept
    {
        for (int64_t index = next_++; index < count_; index = next_++) {
            try {
                task_(worker, index);
            } catch (...) {
                fail(std::current_exception());
            }
        }
    }

    void rethrow_failure() const
    {
        if (failure_) std::rethrow_exception(failure_);
    }

private:
    void fail(std::exception_ptr failure) noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!failure_) failure_ = failure;
        next_ = count_;  // stop handing out work
    }

    const int64_t count_;
    const std::function<void(int, int64_t)>& task_;
    std::atomic<int64_t> next_{0};
    std::mutex mutex_;
    std::exception_ptr failure_;
};

}  // namespace

void parallel_for(int workers, int64_t task_count, const std::function<void(int worker, int64_t index)>& task)
{
    TaskQueue queue(task_count, task);
    std::vector<std::thread> threads;
    for (int worker = 1; worker < workers && worker < task_count; ++worker) {
        try {
            threads.emplace_back([&queue, worker] { queue.drain(worker); });
        } catch (const std::exception&) {
            break;  // no more threads to be had: the ones running (and this one) still finish every task
        }
    }
    queue.drain(0);
    for (std::thread& thread : threads) thread.join();
    queue.rethrow_failure();
}

}  // namespace proteus::cpu

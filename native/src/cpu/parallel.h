// The CPU backend's worker pool: threads started once (when the backend is made or its thread count
// changes) and reused by every call, so that no call pays for thread creation.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "proteus/proteus.h"

namespace proteus::cpu {

/** The most worker threads a CPU context may have (proteus_context_set_threads, PROTEUS_NUM_THREADS). */
constexpr int32_t max_threads = 4096;

class WorkerPool {
public:
    /** Use create(): it reports a failure to start the threads as a status. */
    WorkerPool() = default;
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    /**
     * Starts threads − 1 workers (the calling thread of run() is worker 0). OUT_OF_MEMORY when the
     * system refuses a thread; the workers already started are then stopped again.
     */
    proteus_status start(int threads);

    /** The workers of a call, the caller's thread included. */
    int threads() const { return static_cast<int>(workers_.size()) + 1; }

    /**
     * Runs task(worker, index) for every index in [0, task_count), handing indices out in increasing
     * order; worker is in [0, threads()). Returns when all are done and rethrows the first exception a
     * task threw (the remaining indices are then skipped). One run at a time: a second caller waits.
     */
    void run(int64_t task_count, const std::function<void(int worker, int64_t index)>& task);

private:
    void work(int worker);
    void drain(int worker) noexcept;
    void stop() noexcept;

    std::mutex run_mutex_;  // one run at a time
    std::mutex mutex_;      // guards everything below
    std::condition_variable wake_;
    std::condition_variable finished_;
    uint64_t generation_ = 0;  // bumped for each run that wakes the workers
    bool stopping_ = false;
    int busy_ = 0;  // workers still inside the current run
    const std::function<void(int, int64_t)>* task_ = nullptr;
    int64_t task_count_ = 0;
    int64_t next_ = 0;
    std::exception_ptr failure_;
    std::vector<std::thread> workers_;
};

}  // namespace proteus::cpu

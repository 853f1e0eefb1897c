// A minimal fork-join loop for the CPU backend: enough to keep the reference fast without a pool.
#pragma once

#include <cstdint>
#include <functional>

namespace proteus::cpu {

/**
 * Runs task(worker, index) for every index in [0, task_count), handing indices out in increasing order
 * to `workers` threads (the calling thread is worker 0). Returns when all are done; rethrows the first
 * exception a task threw (the remaining indices are then skipped).
 */
void parallel_for(int workers, int64_t task_count, const std::function<void(int worker, int64_t index)>& task);

}  // namespace proteus::cpu

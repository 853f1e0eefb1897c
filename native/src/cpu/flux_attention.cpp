#include "cpu/flux_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/numeric.h"
#include "core/shortlist.h"
#include "cpu/scratch.h"

namespace proteus::cpu {
namespace {

// The reference: SPEC §2 literally, one row at a time (launch mode REFERENCE, and AUTO for Seed).
// Storage formats: elements are read into float32 and results stored back with round-to-nearest-even.
// A kernel makes one format object per task and reads through it.
struct Float32Format {
    using Element = float;
    float load(float x) const { return x; }
    float store(float x) const { return x; }
};

/** half_to_float of every bit pattern, computed once, so that the inner loops look values up instead of branching. */
struct HalfTable {
    float values[1 << 16];

    HalfTable()
    {
        for (uint32_t bits = 0; bits < (1u << 16); ++bits) values[bits] = half_to_float(static_cast<uint16_t>(bits));
    }
};

const float* half_table()
{
    static const HalfTable table;
    return table.values;
}

struct Float16Format {
    using Element = uint16_t;
    // Fetched once per task: a function-local static read per element would keep the loops scalar.
    const float* table = half_table();
    float load(uint16_t x) const { return table[x]; }
    uint16_t store(float x) const { return float_to_half(x); }
};

struct BFloat16Format {
    using Element = uint16_t;
    float load(uint16_t x) const { return bfloat16_to_float(x); }
    uint16_t store(float x) const { return float_to_bfloat16(x); }
};

/** One task: query rows [first, last) of batch row `batch` (row r is position query_offset + r), all heads. */
struct RowChunk {
    int64_t batch;
    int64_t first;
    int64_t last;
};

/**
 * Tasks are (batch row, chunk of query rows) with every head inside: C(i) depends on (b, i) only, so
 * it is built once and used by all H heads. Several chunks per worker keep the threads balanced.
 */
struct TaskPlan {
    int64_t batch;
    int64_t query_len;
    int64_t chunks_per_batch;
    int64_t rows_per_chunk;

    int64_t task_count() const { return batch * chunks_per_batch; }

    RowChunk chunk(int64_t task) const
    {
        // Later rows first: under the causal mask they hold the most keys, and starting the longest
        // tasks first leaves short ones to even out the workers at the end.
        const int64_t index = chunks_per_batch - 1 - task / batch;
        const int64_t first = index * rows_per_chunk;
        return {task % batch, first, std::min(query_len, first + rows_per_chunk)};
    }
};

TaskPlan plan_tasks(const FluxProblem& problem, int threads)
{
    const int64_t rows = problem.query_len;
    const int64_t tasks_wanted = 8 * static_cast<int64_t>(threads);
    const int64_t chunks = std::clamp<int64_t>((tasks_wanted + problem.batch - 1) / problem.batch, 1, rows);
    const int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
    return {problem.batch, rows, (rows + rows_per_chunk - 1) / rows_per_chunk, rows_per_chunk};
}

/** A worker's scratch: the scores of one row's candidates, the query row and the output accumulator. */
struct RowScratch {
    float* scores;
    float* query;
    float* accumulator;
};

template <typename Element>
Element* row_of(const TensorRef& tensor, int64_t b, int64_t h, int64_t i)
{
    return static_cast<Element*>(tensor.data) + b * tensor.strides[0] + h * tensor.strides[1] + i * tensor.strides[2];
}

bool is_active(const FluxProblem& p, int64_t b, int64_t h, int64_t i)
{
    return !p.active.present() || *row_of<const uint8_t>(p.active, b, h, i) != 0;
}

template <typename Format>
float dot(const Format format, const float* query, const typename Format::Element* key, int64_t head_dim)
{
    // Eight running sums (every supported D is a multiple of 8) let the compiler vectorise; the SPEC
    // fixes float32 arithmetic, not the order of the additions.
    constexpr int lanes = 8;
    float partial[lanes] = {};
    for (int64_t d = 0; d < head_dim; d += lanes) {
        for (int lane = 0; lane < lanes; ++lane) partial[lane] += query[d + lane] * format.load(key[d + lane]);
    }
    return ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
           ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

/**
 * SPEC §2 for one active query row r (position query_offset + r, whose candidates are given): softmax
 * over C(i) in two passes (scores and their max, then the sums).
 */
template <typename Format>
void attend_row(const Format format, const FluxProblem& p, int64_t b, int64_t h, int64_t r,
                const std::vector<int64_t>& candidates, const RowScratch& scratch)
{
    using Element = typename Format::Element;
    const int64_t kv_head = h / (p.heads / p.kv_heads);
    const int64_t D = p.head_dim;
    const Element* query = row_of<const Element>(p.q, b, h, r);
    for (int64_t d = 0; d < D; ++d) scratch.query[d] = format.load(query[d]);

    float max_score = -std::numeric_limits<float>::infinity();
    for (size_t c = 0; c < candidates.size(); ++c) {
        const float score =
            p.scale * dot(format, scratch.query, row_of<const Element>(p.k, b, kv_head, candidates[c]), D);
        scratch.scores[c] = score;
        max_score = std::max(max_score, score);
    }

    float sum = 0.0f;
    std::fill(scratch.accumulator, scratch.accumulator + D, 0.0f);
    for (size_t c = 0; c < candidates.size(); ++c) {
        const float weight = std::exp(scratch.scores[c] - max_score);
        const Element* value = row_of<const Element>(p.v, b, kv_head, candidates[c]);
        sum += weight;
        for (int64_t d = 0; d < D; ++d) scratch.accumulator[d] += weight * format.load(value[d]);
    }

    Element* out = row_of<Element>(p.o, b, h, r);
    for (int64_t d = 0; d < D; ++d) out[d] = format.store(scratch.accumulator[d] / sum);
    if (p.lse.present()) *row_of<float>(p.lse, b, h, r) = max_score + std::log(sum);
}

template <typename Format>
void write_inactive_row(const Format format, const FluxProblem& p, int64_t b, int64_t h, int64_t r)
{
    using Element = typename Format::Element;
    std::fill_n(row_of<Element>(p.o, b, h, r), p.head_dim, format.store(0.0f));
    if (p.lse.present()) *row_of<float>(p.lse, b, h, r) = -std::numeric_limits<float>::infinity();
}

template <typename Format>
void attend_chunk(const FluxProblem& p, const core::CandidateSpec& spec, const RowChunk& chunk, const RowScratch& scratch)
{
    const float* salience = p.salience.present()
                                ? static_cast<const float*>(p.salience.data) + chunk.batch * p.salience.strides[0]
                                : nullptr;
    // The builder ranges over all T keys, as in a full-length call, so a row of a slice gets exactly the
    // C(i) it has there; its first row covers the DNA prefix of position query_offset + first in one scan.
    core::ShortlistBuilder shortlist(spec, p.seq_len, salience);
    const Format format;
    for (int64_t r = chunk.first; r < chunk.last; ++r) {
        const std::vector<int64_t>& candidates = shortlist.candidates(p.query_offset + r);
        for (int64_t h = 0; h < p.heads; ++h) {
            if (is_active(p, chunk.batch, h, r)) {
                attend_row(format, p, chunk.batch, h, r, candidates, scratch);
            } else {
                write_inactive_row(format, p, chunk.batch, h, r);
            }
        }
    }
}

/**
 * PROTEUS_POLICY_EXPLICIT: C(i) is the row's list as a multiset, the indices outside [0, i] left out. A
 * shared list is read once for all heads. A row left with no key writes o = 0 and lse = −inf, as an
 * inactive row (the softmax of an empty set).
 */
template <typename Format>
void attend_explicit_chunk(const FluxProblem& p, const core::CandidateSpec&, const RowChunk& chunk,
                           const RowScratch& scratch)
{
    const core::ExplicitLists lists = explicit_lists_of(p);
    const Format format;
    std::vector<int64_t> candidates;
    candidates.reserve(static_cast<size_t>(lists.slots));
    const auto gather = [&](int64_t list_head, int64_t r) {
        candidates.clear();
        const int32_t* list = lists.list(chunk.batch, list_head, r);
        const int64_t n = lists.length(chunk.batch, list_head, r);
        for (int64_t s = 0; s < n; ++s) {
            if (lists.counts(list[s], r)) candidates.push_back(list[s]);
        }
    };
    for (int64_t r = chunk.first; r < chunk.last; ++r) {
        if (!lists.per_head) gather(0, r);
        for (int64_t h = 0; h < p.heads; ++h) {
            if (!is_active(p, chunk.batch, h, r)) {
                write_inactive_row(format, p, chunk.batch, h, r);
                continue;
            }
            if (lists.per_head) gather(h, r);
            if (candidates.empty()) {
                write_inactive_row(format, p, chunk.batch, h, r);
            } else {
                attend_row(format, p, chunk.batch, h, r, candidates, scratch);
            }
        }
    }
}

/** A length outside [0, L] is the caller's error; the CPU reads its host lists before any work to say so. */
proteus_status check_explicit_lengths(const FluxProblem& problem)
{
    if (!problem.candidate_lengths.present()) return PROTEUS_STATUS_OK;
    const core::ExplicitLists lists = explicit_lists_of(problem);
    for (int64_t b = 0; b < lists.batch; ++b) {
        for (int64_t h = 0; h < lists.heads; ++h) {
            for (int64_t r = 0; r < lists.rows; ++r) {
                const int64_t n = lists.given_length(b, h, r);
                if (n >= 0 && n <= lists.slots) continue;
                const std::string where = lists.per_head ? "[" + std::to_string(b) + ", " + std::to_string(h) + ", " +
                                                               std::to_string(r) + "]"
                                                         : "[" + std::to_string(b) + ", " + std::to_string(r) + "]";
                return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                                 "candidate_lengths: candidate_lengths" + where + " = " + std::to_string(n) +
                                     " is outside [0, L = " + std::to_string(lists.slots) + "]",
                                 "candidate_lengths");
            }
        }
    }
    return PROTEUS_STATUS_OK;
}

using ChunkKernel = void (*)(const FluxProblem&, const core::CandidateSpec&, const RowChunk&, const RowScratch&);

/** The kernel of a storage dtype; validation admits float32, float16 and bfloat16 only. */
ChunkKernel chunk_kernel(proteus_dtype dtype, bool explicit_lists)
{
    if (explicit_lists) {
        switch (dtype) {
        case PROTEUS_DTYPE_FLOAT16: return attend_explicit_chunk<Float16Format>;
        case PROTEUS_DTYPE_BFLOAT16: return attend_explicit_chunk<BFloat16Format>;
        default: return attend_explicit_chunk<Float32Format>;
        }
    }
    switch (dtype) {
    case PROTEUS_DTYPE_FLOAT16: return attend_chunk<Float16Format>;
    case PROTEUS_DTYPE_BFLOAT16: return attend_chunk<BFloat16Format>;
    default: return attend_chunk<Float32Format>;
    }
}

}  // namespace

proteus_status flux_attention(const FluxProblem& problem, WorkerPool& pool, Allocator& workspace)
{
    const int threads = pool.threads();
    const core::CandidateSpec& spec = problem.candidates;
    const bool explicit_lists = spec.policy == PROTEUS_POLICY_EXPLICIT;
    if (explicit_lists) {
        const proteus_status status = check_explicit_lengths(problem);
        if (status != PROTEUS_STATUS_OK) return status;
    }
    const TaskPlan plan = plan_tasks(problem, threads);
    // Rows reach position query_offset + query_len − 1 at most, so no C(i) is larger than the bound of
    // that prefix; an explicit list holds at most its L slots.
    const int64_t rows_end = problem.query_offset + problem.query_len;
    const int64_t largest_set = explicit_lists ? problem.list_len : core::shortlist_bound(spec, rows_end);
    const int64_t floats_per_worker = largest_set + 2 * problem.head_dim;

    ScratchBlock scratch(workspace);
    const proteus_status status = scratch.allocate(static_cast<uint64_t>(threads * floats_per_worker));
    if (status != PROTEUS_STATUS_OK) return status;

    const ChunkKernel kernel = chunk_kernel(problem.q.dtype, explicit_lists);
    const auto attend = [&](int worker, int64_t task) {
        float* own = scratch.data() + worker * floats_per_worker;  // any pool thread may take a task; query [D], accumulator [D], scores [bound]
        const RowScratch row_scratch{own + 2 * problem.head_dim, own, own + problem.head_dim};
        kernel(problem, spec, plan.chunk(task), row_scratch);
    };
    pool.run(plan.task_count(), attend);
    return PROTEUS_STATUS_OK;
}

}  // namespace proteus::cpu

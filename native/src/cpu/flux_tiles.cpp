// The CPU tile kernel: what AUTO runs on the CPU backend for the Aligned and Relative policies.
//
// A task takes a tile of query rows of one batch row and some of its heads. The candidate sets of the
// tile's rows are merged into one sorted key list U (a few intervals of positions); each row keeps its
// C(i) as runs of indices into U. Per head, with the rows in the vector lanes (blocks of 16):
//   scores    S[u][row] = <q_row · scale · log2 e, k_U[u]>     keys converted to float32 64 at a time
//   mask      S = −∞ outside the row's runs;  m = max over u
//   weights   P = 2^(S − m)                                     a vectorised exp2
//   sum       o_row = Σ_u P[u][row] · v_U[u],  l = Σ_u P[u][row]   in increasing key order
// Every number of a row is computed in an order fixed by its own C(i) (masked keys add exact zeros),
// so the result does not depend on the tile, the slice or the thread count.
//
// The micro-kernels are compiled twice where the compiler can (x86-64-v3: AVX2 and FMA, and the
// baseline) and the loader picks the one the CPU runs (function multiversioning); float16 rows widen
// with F16C where the CPU has it. AVX-512 is never needed.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/candidate_rules.h"
#include "core/numeric.h"
#include "core/shortlist.h"
#include "cpu/flux_attention.h"
#include "cpu/scratch.h"
#include "cpu/target_clones.h"

namespace proteus::cpu {
namespace {

/** Tile sizes: one place. */
struct TileShape {
    static constexpr int64_t lanes = 8;          // floats in one vector
    static constexpr int64_t block_rows = 16;    // rows in the lanes of the micro-kernels (two vectors)
    static constexpr int64_t chunk_keys = 64;    // keys converted to float32 at a time
    static constexpr int64_t max_tile_rows = 64; // rows whose candidate sets are merged
    static constexpr uint64_t score_floats = uint64_t{4} << 20;  // a worker's scores stay within 16 MiB
};

typedef float Lanes __attribute__((vector_size(32)));
typedef int32_t IntLanes __attribute__((vector_size(32)));

Lanes load(const float* p)
{
    Lanes v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

void store(float* p, Lanes v) { std::memcpy(p, &v, sizeof v); }

/** 2^x for x ≤ 0 (a score minus its row's maximum); below 2^−126, and for −∞, exactly 0. */
inline Lanes exp2_nonpositive(Lanes x)
{
    const Lanes clamped = x < -126.0f ? Lanes{} - 126.0f : x;
    const Lanes round = Lanes{} + 12582912.0f;  // 1.5 · 2^23: adding and subtracting rounds to an integer
    const Lanes n = (clamped + round) - round;
    const Lanes f = clamped - n;  // [−0.5, 0.5]
    // 2^f = e^(f ln 2): Taylor to degree 7, relative error below 1e-8 on [−0.5, 0.5].
    Lanes p = Lanes{} + 1.5252733804059840e-5f;
    p = p * f + 1.5403530393381609e-4f;
    p = p * f + 1.3333558146428443e-3f;
    p = p * f + 9.6181291076284772e-3f;
    p = p * f + 5.5504108664821580e-2f;
    p = p * f + 2.4022650695910071e-1f;
    p = p * f + 6.9314718055994531e-1f;
    p = p * f + 1.0f;
    const IntLanes exponent = (__builtin_convertvector(n, IntLanes) + 127) << 23;
    Lanes scale;
    std::memcpy(&scale, &exponent, sizeof scale);
    const Lanes result = p * scale;
    return x < -126.0f ? Lanes{} : result;
}

/**
 * scores[u][0..16) = Σ_d qt[d][0..16) · keys[u][d] for u < key_count: 16 rows in the lanes, four keys
 * at a time. Each score is one chain of multiply-adds in increasing d, whichever loop computes it.
 */
PROTEUS_CPU_CLONES
void score_block(const float* qt, const float* const* keys, int64_t key_count, int64_t head_dim, float* scores)
{
    int64_t u = 0;
    for (; u + 4 <= key_count; u += 4) {
        const float *k0 = keys[u], *k1 = keys[u + 1], *k2 = keys[u + 2], *k3 = keys[u + 3];
        Lanes a0 = {}, b0 = {}, a1 = {}, b1 = {}, a2 = {}, b2 = {}, a3 = {}, b3 = {};
        for (int64_t d = 0; d < head_dim; ++d) {
            const Lanes qa = load(qt + d * 16), qb = load(qt + d * 16 + 8);
            a0 += qa * k0[d];
            b0 += qb * k0[d];
            a1 += qa * k1[d];
            b1 += qb * k1[d];
            a2 += qa * k2[d];
            b2 += qb * k2[d];
            a3 += qa * k3[d];
            b3 += qb * k3[d];
        }
        float* out = scores + u * 16;
        store(out, a0), store(out + 8, b0), store(out + 16, a1), store(out + 24, b1);
        store(out + 32, a2), store(out + 40, b2), store(out + 48, a3), store(out + 56, b3);
    }
    for (; u < key_count; ++u) {
        const float* k0 = keys[u];
        Lanes a0 = {}, b0 = {};
        for (int64_t d = 0; d < head_dim; ++d) {
            a0 += load(qt + d * 16) * k0[d];
            b0 += load(qt + d * 16 + 8) * k0[d];
        }
        store(scores + u * 16, a0), store(scores + u * 16 + 8, b0);
    }
}

/** scores[u][lane] ← 2^(scores[u][lane] − max[lane]) for u < key_count. */
PROTEUS_CPU_CLONES
void weigh_block(float* scores, int64_t key_count, const float* max)
{
    const Lanes ma = load(max), mb = load(max + 8);
    for (int64_t u = 0; u < key_count; ++u) {
        store(scores + u * 16, exp2_nonpositive(load(scores + u * 16) - ma));
        store(scores + u * 16 + 8, exp2_nonpositive(load(scores + u * 16 + 8) - mb));
    }
}

/**
 * ot[d][lane] += Σ_u weights[u][lane] · values[u][d] and sums[lane] += Σ_u weights[u][lane], each in
 * increasing u: four d at a time, 16 rows in the lanes.
 */
PROTEUS_CPU_CLONES
void accumulate_block(const float* weights, const float* const* values, int64_t key_count, int64_t head_dim,
                      float* ot, float* sums)
{
    for (int64_t d = 0; d < head_dim; d += 4) {
        float* o = ot + d * 16;
        Lanes a0 = load(o), b0 = load(o + 8), a1 = load(o + 16), b1 = load(o + 24);
        Lanes a2 = load(o + 32), b2 = load(o + 40), a3 = load(o + 48), b3 = load(o + 56);
        for (int64_t u = 0; u < key_count; ++u) {
            const Lanes pa = load(weights + u * 16), pb = load(weights + u * 16 + 8);
            const float* v = values[u] + d;
            a0 += pa * v[0];
            b0 += pb * v[0];
            a1 += pa * v[1];
            b1 += pb * v[1];
            a2 += pa * v[2];
            b2 += pb * v[2];
            a3 += pa * v[3];
            b3 += pb * v[3];
        }
        store(o, a0), store(o + 8, b0), store(o + 16, a1), store(o + 24, b1);
        store(o + 32, a2), store(o + 40, b2), store(o + 48, a3), store(o + 56, b3);
    }
    Lanes sa = load(sums), sb = load(sums + 8);
    for (int64_t u = 0; u < key_count; ++u) {
        sa += load(weights + u * 16);
        sb += load(weights + u * 16 + 8);
    }
    store(sums, sa), store(sums + 8, sb);
}

/** float16 → float32, branch-free (subnormals, ±∞ and NaN included): the portable path. */
void widen_float16_portable(const uint16_t* in, int64_t count, float* out)
{
    for (int64_t e = 0; e < count; ++e) {
        const uint32_t sign = static_cast<uint32_t>(in[e] & 0x8000u) << 16;
        const uint32_t magnitude = in[e] & 0x7fffu;
        float scaled;
        const uint32_t shifted = magnitude << 13;
        std::memcpy(&scaled, &shifted, sizeof scaled);
        scaled *= 0x1p112f;  // rebias the exponent 15 → 127; subnormals become normal exactly
        uint32_t bits;
        std::memcpy(&bits, &scaled, sizeof bits);
        bits = magnitude >= 0x7c00u ? shifted | 0x7f800000u : bits;
        bits |= sign;
        std::memcpy(out + e, &bits, sizeof bits);
    }
}

#if defined(PROTEUS_CPU_F16C)
/** float16 → float32 eight at a time with the F16C instruction (exact, as the portable path). */
__attribute__((target("avx,f16c"))) void widen_float16_f16c(const uint16_t* in, int64_t count, float* out)
{
    int64_t e = 0;
    for (; e + 8 <= count; e += 8) {
        _mm256_storeu_ps(out + e, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + e))));
    }
    widen_float16_portable(in + e, count - e, out + e);
}
#endif

using WidenFloat16 = void (*)(const uint16_t*, int64_t, float*);

WidenFloat16 pick_widen_float16()
{
#if defined(PROTEUS_CPU_F16C)
    if (__builtin_cpu_supports("f16c")) return widen_float16_f16c;
#endif
    return widen_float16_portable;
}

void widen_float16(const uint16_t* in, int64_t count, float* out)
{
    static const WidenFloat16 widen = pick_widen_float16();
    widen(in, count, out);
}

PROTEUS_CPU_CLONES
void widen_bfloat16(const uint16_t* in, int64_t count, float* out)
{
    for (int64_t e = 0; e < count; ++e) {
        const uint32_t bits = static_cast<uint32_t>(in[e]) << 16;
        std::memcpy(out + e, &bits, sizeof bits);
    }
}

// ---- Storage formats: rows read as float32 (a chunk at a time), results stored rounded to nearest even.

struct Float32Format {
    using Element = float;
    /** float32 rows are used where they lie. */
    static const float* row(const float* source, int64_t, float*) { return source; }
    static float store(float x) { return x; }
};

struct Float16Format {
    using Element = uint16_t;
    static const float* row(const uint16_t* source, int64_t count, float* scratch)
    {
        widen_float16(source, count, scratch);
        return scratch;
    }
    static uint16_t store(float x) { return float_to_half(x); }
};

struct BFloat16Format {
    using Element = uint16_t;
    static const float* row(const uint16_t* source, int64_t count, float* scratch)
    {
        widen_bfloat16(source, count, scratch);
        return scratch;
    }
    static uint16_t store(float x) { return float_to_bfloat16(x); }
};

template <typename Element>
Element* row_of(const TensorRef& tensor, int64_t b, int64_t h, int64_t i)
{
    return static_cast<Element*>(tensor.data) + b * tensor.strides[0] + h * tensor.strides[1] + i * tensor.strides[2];
}

/** A run of consecutive positions (or of indices into the tile's key list): [first, end). */
struct Run {
    int64_t first;
    int64_t end;
};

/**
 * Appends `position` to one row's sorted runs, runs[row_begin …), extending the row's last run when it is
 * adjacent. Runs before row_begin are other rows': never extended (with W = 1 the previous row's run ends
 * exactly where this row's window starts).
 */
void append(std::vector<Run>& runs, size_t row_begin, int64_t position)
{
    if (runs.size() > row_begin && runs.back().end == position) {
        ++runs.back().end;
    } else {
        runs.push_back({position, position + 1});
    }
}

/** Builds each row's C(i) as runs of positions: from the index rules without DNA, else from the builder. */
class RowRuns {
public:
    RowRuns(const FluxProblem& p, int64_t batch)
        : spec_(p.candidates),
          builder_(p.candidates, p.seq_len,
                   p.salience.present() ? static_cast<const float*>(p.salience.data) + batch * p.salience.strides[0]
                                        : nullptr)
    {
    }

    /** Appends row i's runs to `runs` (which holds the tile's earlier rows' runs). */
    void add(int64_t i, std::vector<Run>& runs)
    {
        const size_t row_begin = runs.size();
        if (spec_.dna_count > 0) {
            for (const int64_t j : builder_.candidates(i)) append(runs, row_begin, j);
            return;
        }
        const int64_t local_first = window_start(i, spec_.window);
        if (spec_.policy == PROTEUS_POLICY_ALIGNED) {
            const AlignedAnchors anchors = aligned_anchors(i, spec_.window, spec_.anchor_stride, spec_.anchor_count);
            for (int64_t a = 0; a < anchors.count; ++a) append(runs, row_begin, anchors.first + a * spec_.anchor_stride);
        } else {
            // Relative anchors i − s·S, largest s (smallest position) first; those in the window count there.
            for (int64_t s = relative_anchor_count(i, spec_.anchor_stride, spec_.anchor_count); s >= 1; --s) {
                const int64_t j = relative_anchor(i, s, spec_.anchor_stride);
                if (j < local_first) append(runs, row_begin, j);
            }
        }
        if (runs.size() > row_begin && runs.back().end == local_first) {
            runs.back().end = i + 1;
        } else {
            runs.push_back({local_first, i + 1});
        }
    }

private:
    core::CandidateSpec spec_;
    core::ShortlistBuilder builder_;
};

/**
 * The key list U of one tile (the union of its rows' C(i), sorted, as disjoint intervals of positions)
 * and each row's C(i) as runs of indices into U.
 */
struct TileKeys {
    std::vector<Run> intervals;     // U, by position
    std::vector<int64_t> starts;    // index in U of each interval's first position
    int64_t size = 0;               // |U|
    std::vector<Run> row_runs;      // every row's runs, by index into U
    std::vector<int64_t> row_first; // row r's runs are row_runs[row_first[r] … row_first[r + 1])

    void build(RowRuns& rules, int64_t first_position, int64_t rows)
    {
        row_runs.clear();
        row_first.assign(1, 0);
        for (int64_t r = 0; r < rows; ++r) {
            rules.add(first_position + r, row_runs);
            row_first.push_back(static_cast<int64_t>(row_runs.size()));
        }
        intervals = row_runs;
        std::sort(intervals.begin(), intervals.end(), [](const Run& a, const Run& b) { return a.first < b.first; });
        size_t merged = 0;
        for (const Run& run : intervals) {
            if (merged > 0 && run.first <= intervals[merged - 1].end) {
                intervals[merged - 1].end = std::max(intervals[merged - 1].end, run.end);
            } else {
                intervals[merged++] = run;
            }
        }
        intervals.resize(merged);
        starts.resize(merged);
        size = 0;
        for (size_t k = 0; k < merged; ++k) {
            starts[k] = size;
            size += intervals[k].end - intervals[k].first;
        }
        // A run of positions lies inside one interval, so its indices are consecutive too.
        for (Run& run : row_runs) {
            const size_t k = static_cast<size_t>(
                std::upper_bound(intervals.begin(), intervals.end(), run.first,
                                 [](int64_t position, const Run& interval) { return position < interval.first; }) -
                intervals.begin() - 1);
            const int64_t index = starts[k] + (run.first - intervals[k].first);
            run = {index, index + (run.end - run.first)};
        }
    }

    /** The positions of U[first, first + count), into `positions`. */
    void positions(int64_t first, int64_t count, int64_t* out) const
    {
        size_t k = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), first) - starts.begin() - 1);
        for (int64_t u = first; u < first + count; ++u) {
            while (u - starts[k] >= intervals[k].end - intervals[k].first) ++k;
            *out++ = intervals[k].first + (u - starts[k]);
        }
    }
};

/** One task: query rows [first, last) of batch row `batch`, heads [head_first, head_last). */
struct TileTask {
    int64_t batch, first, last, head_first, head_last;
};

/** Tiles of rows × groups of heads, enough tasks to balance the workers; the longest rows first. */
struct TilePlan {
    int64_t batch, query_len, tile_rows, tiles, head_groups, heads;

    int64_t task_count() const { return batch * tiles * head_groups; }

    TileTask task(int64_t index) const
    {
        const int64_t group = index % head_groups;
        const int64_t b = index / head_groups % batch;
        const int64_t tile = tiles - 1 - index / (head_groups * batch);
        const int64_t heads_per_group = (heads + head_groups - 1) / head_groups;
        return {b, tile * tile_rows, std::min(query_len, (tile + 1) * tile_rows), group * heads_per_group,
                std::min(heads, (group + 1) * heads_per_group)};
    }
};

/** The largest |U| of a tile of `rows` rows. */
int64_t key_capacity(const FluxProblem& p, int64_t rows)
{
    const int64_t rows_end = p.query_offset + p.query_len;
    return std::min(rows_end, rows * core::shortlist_bound(p.candidates, rows_end));
}

TilePlan plan_tiles(const FluxProblem& p, int threads)
{
    // Relative anchors differ from row to row, so a wide tile's key list would be mostly masked.
    int64_t rows = p.candidates.policy == PROTEUS_POLICY_RELATIVE && p.candidates.anchor_count > 0
                       ? TileShape::block_rows
                       : TileShape::max_tile_rows;
    while (rows > TileShape::block_rows &&
           static_cast<uint64_t>(rows * key_capacity(p, rows)) > TileShape::score_floats) {
        rows /= 2;
    }
    const int64_t tiles = (p.query_len + rows - 1) / rows;
    const int64_t wanted = 4 * static_cast<int64_t>(threads);
    const int64_t groups = std::clamp<int64_t>((wanted + p.batch * tiles - 1) / (p.batch * tiles), 1, p.heads);
    const int64_t per_group = (p.heads + groups - 1) / groups;
    return {p.batch, p.query_len, rows, tiles, (p.heads + per_group - 1) / per_group, p.heads};
}

/** A worker's float scratch, carved from one workspace block. */
struct TileScratch {
    float* scores;    // [tile rows / 16][key capacity][16]
    float* queries;   // [tile rows / 16][D][16]
    float* outputs;   // [tile rows / 16][D][16]
    float* max;       // [tile rows]
    float* sums;      // [tile rows]
    float* converted; // [chunk keys][D]: a chunk of 16-bit rows as float32

    static int64_t floats(int64_t tile_rows, int64_t keys, int64_t head_dim)
    {
        return tile_rows * keys + 2 * tile_rows * head_dim + 2 * tile_rows + TileShape::chunk_keys * head_dim;
    }

    TileScratch(float* base, int64_t tile_rows, int64_t keys, int64_t head_dim)
        : scores(base),
          queries(scores + tile_rows * keys),
          outputs(queries + tile_rows * head_dim),
          max(outputs + tile_rows * head_dim),
          sums(max + tile_rows),
          converted(sums + tile_rows)
    {
    }
};

template <typename Format>
class TileKernel {
public:
    using Element = typename Format::Element;

    TileKernel(const FluxProblem& p, const TilePlan& plan, int64_t key_capacity, float* scratch)
        : p_(p), capacity_(key_capacity), scratch_(scratch, plan.tile_rows, key_capacity, p.head_dim)
    {
    }

    void run(const TileTask& task)
    {
        RowRuns rules(p_, task.batch);
        keys_.build(rules, p_.query_offset + task.first, task.last - task.first);
        for (int64_t h = task.head_first; h < task.head_last; ++h) attend_head(task, h);
    }

private:
    static constexpr int64_t B = TileShape::block_rows;

    void attend_head(const TileTask& task, int64_t h)
    {
        const int64_t D = p_.head_dim;
        active_.clear();
        for (int64_t r = task.first; r < task.last; ++r) {
            if (!p_.active.present() || *row_of<const uint8_t>(p_.active, task.batch, h, r) != 0) {
                active_.push_back(r);
            } else {
                std::fill_n(row_of<Element>(p_.o, task.batch, h, r), D, Format::store(0.0f));
                if (p_.lse.present()) {
                    *row_of<float>(p_.lse, task.batch, h, r) = -std::numeric_limits<float>::infinity();
                }
            }
        }
        if (active_.empty()) return;
        const int64_t blocks = (static_cast<int64_t>(active_.size()) + B - 1) / B;
        const int64_t kv_head = h / (p_.heads / p_.kv_heads);

        load_queries(task, h, blocks);
        for (int64_t u = 0; u < keys_.size; u += TileShape::chunk_keys) {
            const int64_t count = std::min(TileShape::chunk_keys, keys_.size - u);
            gather(p_.k, task.batch, kv_head, u, count);
            for (int64_t blk = 0; blk < blocks; ++blk) {
                score_block(scratch_.queries + blk * D * B, rows_, count, D, scores_of(blk) + u * B);
            }
        }
        mask_and_weigh(task, blocks);
        std::fill_n(scratch_.outputs, blocks * B * D, 0.0f);
        std::fill_n(scratch_.sums, blocks * B, 0.0f);
        for (int64_t u = 0; u < keys_.size; u += TileShape::chunk_keys) {
            const int64_t count = std::min(TileShape::chunk_keys, keys_.size - u);
            gather(p_.v, task.batch, kv_head, u, count);
            for (int64_t blk = 0; blk < blocks; ++blk) {
                accumulate_block(scores_of(blk) + u * B, rows_, count, D, scratch_.outputs + blk * D * B,
                                 scratch_.sums + blk * B);
            }
        }
        store_outputs(task, h);
    }

    float* scores_of(int64_t block) const { return scratch_.scores + block * capacity_ * B; }

    /** The active rows' queries, times scale · log2 e, transposed into [block][d][lane] (idle lanes 0). */
    void load_queries(const TileTask& task, int64_t h, int64_t blocks)
    {
        const int64_t D = p_.head_dim;
        const float factor = p_.scale * 1.4426950408889634f;
        std::fill_n(scratch_.queries, blocks * B * D, 0.0f);
        for (size_t a = 0; a < active_.size(); ++a) {
            const float* q = Format::row(row_of<const Element>(p_.q, task.batch, h, active_[a]), D, scratch_.converted);
            float* lane = scratch_.queries + static_cast<int64_t>(a) / B * D * B + static_cast<int64_t>(a) % B;
            for (int64_t d = 0; d < D; ++d) lane[d * B] = q[d] * factor;
        }
    }

    /** Row pointers (float32) of keys or values U[first, first + count) of one kv head. */
    void gather(const TensorRef& tensor, int64_t b, int64_t kv_head, int64_t first, int64_t count)
    {
        const int64_t D = p_.head_dim;
        keys_.positions(first, count, positions_);
        for (int64_t u = 0; u < count; ++u) {
            rows_[u] = Format::row(row_of<const Element>(tensor, b, kv_head, positions_[u]), D,
                                   scratch_.converted + u * D);
        }
    }

    /** −∞ outside each row's runs, the row maxima, then the weights 2^(s − m). */
    void mask_and_weigh(const TileTask& task, int64_t blocks)
    {
        const float minus_infinity = -std::numeric_limits<float>::infinity();
        for (size_t a = 0; a < active_.size(); ++a) {
            const int64_t row = active_[a] - task.first;
            float* lane = scores_of(static_cast<int64_t>(a) / B) + static_cast<int64_t>(a) % B;
            int64_t next = 0;  // first index not yet masked or kept
            for (int64_t k = keys_.row_first[row]; k < keys_.row_first[row + 1]; ++k) {
                for (int64_t u = next; u < keys_.row_runs[k].first; ++u) lane[u * B] = minus_infinity;
                next = keys_.row_runs[k].end;
            }
            for (int64_t u = next; u < keys_.size; ++u) lane[u * B] = minus_infinity;
        }
        for (int64_t blk = 0; blk < blocks; ++blk) {
            float* max = scratch_.max + blk * B;
            const float* scores = scores_of(blk);
            Lanes ma = Lanes{} + minus_infinity, mb = ma;
            for (int64_t u = 0; u < keys_.size; ++u) {
                const Lanes sa = load(scores + u * B), sb = load(scores + u * B + 8);
                ma = sa > ma ? sa : ma;
                mb = sb > mb ? sb : mb;
            }
            // Idle lanes (all-zero queries) have a finite maximum: only active rows are ever read back.
            store(max, ma), store(max + 8, mb);
            weigh_block(scores_of(blk), keys_.size, max);
        }
    }

    void store_outputs(const TileTask& task, int64_t h)
    {
        const int64_t D = p_.head_dim;
        for (size_t a = 0; a < active_.size(); ++a) {
            const int64_t blk = static_cast<int64_t>(a) / B, lane = static_cast<int64_t>(a) % B;
            const float sum = scratch_.sums[blk * B + lane];
            const float* o = scratch_.outputs + blk * D * B + lane;
            Element* out = row_of<Element>(p_.o, task.batch, h, active_[a]);
            for (int64_t d = 0; d < D; ++d) out[d] = Format::store(o[d * B] / sum);
            if (p_.lse.present()) {
                *row_of<float>(p_.lse, task.batch, h, active_[a]) =
                    (scratch_.max[blk * B + lane] + std::log2(sum)) * 0.6931471805599453f;
            }
        }
    }

    const FluxProblem& p_;
    const int64_t capacity_;
    const TileScratch scratch_;
    TileKeys keys_;
    std::vector<int64_t> active_;
    int64_t positions_[TileShape::chunk_keys];
    const float* rows_[TileShape::chunk_keys];
};

template <typename Format>
void run_tiles(const FluxProblem& p, const TilePlan& plan, int64_t capacity, float* scratch, int64_t floats_per_worker,
               WorkerPool& pool)
{
    pool.run(plan.task_count(), [&](int worker, int64_t index) {
        TileKernel<Format> kernel(p, plan, capacity, scratch + worker * floats_per_worker);
        kernel.run(plan.task(index));
    });
}

}  // namespace

bool tiles_take(const FluxProblem& problem)
{
    const proteus_candidate_policy policy = problem.candidates.policy;
    return policy == PROTEUS_POLICY_ALIGNED || policy == PROTEUS_POLICY_RELATIVE;
}

proteus_status flux_attention_tiles(const FluxProblem& problem, WorkerPool& pool, Allocator& workspace)
{
    const int threads = pool.threads();
    const TilePlan plan = plan_tiles(problem, threads);
    const int64_t capacity = key_capacity(problem, plan.tile_rows);
    // Padded to whole 64-byte lines so that no two workers share one.
    const int64_t floats_per_worker = (TileScratch::floats(plan.tile_rows, capacity, problem.head_dim) + 15) / 16 * 16;
    ScratchBlock scratch(workspace);
    const proteus_status status = scratch.allocate(static_cast<uint64_t>(threads * floats_per_worker));
    if (status != PROTEUS_STATUS_OK) return status;
    switch (problem.q.dtype) {
    case PROTEUS_DTYPE_FLOAT16:
        run_tiles<Float16Format>(problem, plan, capacity, scratch.data(), floats_per_worker, pool);
        break;
    case PROTEUS_DTYPE_BFLOAT16:
        run_tiles<BFloat16Format>(problem, plan, capacity, scratch.data(), floats_per_worker, pool);
        break;
    default: run_tiles<Float32Format>(problem, plan, capacity, scratch.data(), floats_per_worker, pool);
    }
    return PROTEUS_STATUS_OK;
}

}  // namespace proteus::cpu

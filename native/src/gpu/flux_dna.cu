// The DNA candidates of the tile kernel and the row mode (gpu/flux_dna.h): a causal prefix top K of
// each batch row's salience in three parallel passes, O(T·K) work in all.
//
// Every prefix up to the last row's is walked (the top K of [0, p] depends on all of [0, p]), cut into
// chunks: the lead-in [0, first_prefix) before the slice's first row with DNA keys (query slices:
// row r is position p0 + r; first_prefix = max(p0, W) − W) in chunks of kChunkPrefixes, walked only
// for their top K; then the prefixes the rows use (p = i − W for the slice's rows i ≥ W) in chunks
// that begin where a query tile begins (about kChunkPrefixes prefixes, whole tiles of block_q rows;
// a tile's first row need not sit at a multiple of block_q).
//   1. dna_chunk_best: the top K of each chunk alone, one block per chunk and a thread per key: a
//      key's rank is the number of the chunk's keys above it (keys are unique).
//   2. dna_chunk_scan: an inclusive scan of those lists over the chunks, ⌈log4 chunks⌉ Hillis–Steele
//      steps, each merging up to 4 lists in parallel (rank of a key in the union = its rank in its
//      own list + the number of keys above it in each other, by binary search): entry m − 1 is the top
//      K of everything before chunk m.
//   3. dna_walk (the slice's chunks only): a walker (one group of 32 lanes) walks its chunk again from
//      that start, 32 prefixes a step, writing every prefix's K-th best key (the threshold), and for
//      every query tile the list of its DNA keys: the top K of its first prefix (written when the walk
//      reaches it), then each later prefix of the tile that enters. Keys that beat the current K-th best
//      (a ballot; K/p of them on random salience) are merged into the top K a step at a time, not one
//      by one (see dna_walk), so salience that grows along the sequence, or ties (every key enters:
//      ties go to the larger j), cost a few merges per step rather than 32 serial insertions.
// Everything a group does with shuffles and ballots is uniform across its lanes, so the groups never
// diverge; the walkers' and the scan's barriers are outside any branch that depends on the lane.
#include "gpu/flux_dna.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "gpu/device_call.h"
#include "core/error.h"

namespace proteus::gpu {
namespace {

constexpr int kGroup = 32;             // lanes of one walker
// Prefixes per walker, about (whole query tiles); also dna_chunk_best's block (a thread per prefix).
// At T = 256K, 1024 walkers; shorter chunks would add walkers and steps of the scan (O(log chunks)).
constexpr int64_t kChunkPrefixes = 256;
// Lists merged per step of the chunk scan: ⌈log4 chunks⌉ steps (5 at T = 256K, not 10), each a few
// binary searches more per key; the steps are short (a load, searches, a store), so fewer is faster.
constexpr int kScanRadix = 4;

struct DnaArgs {
    const float* salience = nullptr;
    int64_t salience_batch = 0, salience_token = 0;  // strides in elements
    int64_t batch = 0;
    int64_t window = 0;
    int64_t query_offset = 0;  // p0: query row r is position p0 + r
    int64_t first_prefix = 0;  // max(p0, W) − W: the first prefix a row uses
    int64_t prefix_end = 0;    // p0 + Tq − W: prefixes [0, prefix_end) are walked
    int32_t keys = 0;          // K, at most prefix_end
    int32_t block_q = 0;
    int32_t first_tile = 0;    // the first query tile with a row at a position ≥ W
    int32_t query_tiles = 0;   // ⌈Tq / block_q⌉
    int32_t chunk_tiles = 0;   // query tiles per chunk of the slice
    int32_t lead_chunks = 0;   // chunks of [0, first_prefix), kChunkPrefixes each
    int32_t chunks = 0;        // per batch row, lead_chunks included
    int32_t capacity = 0;      // of a tile's list
};

__device__ __forceinline__ uint64_t shuffle64(uint64_t value, int source)
{
    const uint32_t low = group_shuffle(static_cast<uint32_t>(value), source, kGroup);
    const uint32_t high = group_shuffle(static_cast<uint32_t>(value >> 32), source, kGroup);
    return (uint64_t{high} << 32) | low;
}

/**
 * The prefixes [begin, end) of chunk m: a lead-in chunk (m < lead_chunks) of [0, first_prefix), else
 * the prefixes of the rows of query tiles first_tile + (m − lead_chunks)·chunk_tiles …, whose rows
 * are at positions p0 + tile·block_q … (the first tile's first prefix is first_prefix).
 */
struct PrefixRange {
    int64_t begin, end;
};

__device__ PrefixRange chunk_prefixes(const DnaArgs& args, int64_t m)
{
    if (m < args.lead_chunks) {
        const int64_t begin = m * kChunkPrefixes;
        return {begin, begin + kChunkPrefixes < args.first_prefix ? begin + kChunkPrefixes : args.first_prefix};
    }
    const int64_t first = args.first_tile + (m - args.lead_chunks) * args.chunk_tiles;
    const int64_t last = first + args.chunk_tiles < args.query_tiles ? first + args.chunk_tiles : args.query_tiles;
    const int64_t begin = args.query_offset + first * args.block_q - args.window;
    const int64_t end = args.query_offset + last * args.block_q - args.window;
    return {begin > args.first_prefix ? begin : args.first_prefix, end < args.prefix_end ? end : args.prefix_end};
}

__device__ __forceinline__ uint64_t salience_key(const DnaArgs& args, int64_t b, int64_t p, int64_t end)
{
    return p < end ? dna_rank_key(args.salience[b * args.salience_batch + p * args.salience_token], p) : 0;
}

/**
 * The top K of one chunk alone (descending, 0-padded): one block per (batch row, chunk), a thread per
 * prefix of the chunk (≤ kChunkPrefixes of them); a key's rank is the count of the chunk's keys above
 * it (keys are unique), so each of the top K lands at its place with no sorting.
 */
__global__ void __launch_bounds__(kChunkPrefixes) dna_chunk_best(const DnaArgs args, uint64_t* summaries)
{
    __shared__ uint64_t keys[kChunkPrefixes];
    const int64_t list = blockIdx.x;  // b · chunks + m
    const PrefixRange range = chunk_prefixes(args, list % args.chunks);
    const uint64_t x = salience_key(args, list / args.chunks, range.begin + threadIdx.x, range.end);  // 0: none
    keys[threadIdx.x] = x;
    __syncthreads();
    int above = 0;
#pragma unroll 16
    for (int k = 0; k < kChunkPrefixes; ++k) above += keys[k] > x;
    uint64_t* const best = summaries + list * args.keys;
    if (x != 0 && above < args.keys) best[above] = x;
    // A chunk shorter than K leaves the ranks past its keys empty.
    for (int64_t r = range.end - range.begin + threadIdx.x; r < args.keys; r += kChunkPrefixes) best[r] = 0;
}

/** Keys of `list` (descending, 0-padded, `count` long) above x > 0. */
__device__ int count_above(const uint64_t* list, int count, uint64_t x)
{
    int low = 0, high = count;
    while (low < high) {
        const int middle = (low + high) / 2;
        if (list[middle] > x) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

/**
 * One step of a radix-kScanRadix Hillis–Steele scan over each batch row's chunk lists: out[m] = the
 * top K of in[m] ∪ in[m − offset] ∪ … ∪ in[m − (kScanRadix − 1)·offset] (the lists that exist, m − k·offset
 * ≥ 0). Before the step of offset kScanRadix^d, entry m covers chunks (m − kScanRadix^d, m], so the
 * merged lists cover disjoint chunks and hold distinct keys; after ⌈log_kScanRadix chunks⌉ steps
 * entry m is the top K of chunks 0 … m. A key's rank in the union is its rank in its own list plus
 * the keys above it in each other list (binary searches). One block per (batch row, chunk), a thread
 * per rank (K ≤ kMaxTileDnaKeys): one load of each list and kScanRadix − 1 searches per key.
 */
__global__ void __launch_bounds__(kMaxTileDnaKeys) dna_chunk_scan(const DnaArgs args, const uint64_t* in, uint64_t* out, int64_t offset)
{
    __shared__ uint64_t merging[kScanRadix][kMaxTileDnaKeys];
    const int rank = static_cast<int>(threadIdx.x);
    const int64_t list = blockIdx.x;  // b · chunks + m
    const int K = args.keys;
    uint64_t* const result = out + list * K;
    const int64_t reach = list % args.chunks / offset + 1;  // lists m, m − offset, … in this batch row
    const int count = reach < kScanRadix ? static_cast<int>(reach) : kScanRadix;
    if (count == 1) {
        if (rank < K) result[rank] = in[list * K + rank];
        return;
    }
    for (int k = 0; k < count; ++k) {
        if (rank < K) merging[k][rank] = in[(list - k * offset) * K + rank];
    }
    __syncthreads();
    int held = 0;  // keys of the union: fewer than K only early on, and the ranks past it are empty
    for (int k = 0; k < count; ++k) held += count_above(merging[k], K, 0);
    if (rank >= K) return;
    for (int k = 0; k < count; ++k) {
        const uint64_t x = merging[k][rank];
        if (x == 0) continue;
        int at = rank;
        for (int other = 0; other < count; ++other) {
            if (other != k) at += count_above(merging[other], K, x);
        }
        if (at < K) result[at] = x;
    }
    if (rank >= held) result[rank] = 0;
}

/**
 * Walks the slice's chunks: one walker (a block of one group of 32 lanes) per (batch row, chunk
 * m ≥ lead_chunks), 32 prefixes a step. The walker's top K is a sorted list in shared memory. A step's
 * candidates are its keys above the current K-th best (a ballot); without any (the usual case on
 * random salience) every prefix's threshold is that K-th best. With some, the step is done at once
 * rather than key by key (salience that grows, or ties, make every key a candidate):
 *   - a candidate x of lane q enters (as the walk key by key would insert it) when fewer than K keys
 *     of best ∪ {candidates of lanes < q} are above it: its rank in best (binary search) plus the
 *     earlier candidates above it (a loop over the candidates' shuffled keys);
 *   - `merged` is best ∪ candidates, sorted: a candidate at (its rank in best) + (candidates above it),
 *     best's key of rank i at i + (candidates above it);
 *   - lane q's threshold is the K-th key of `merged` without the candidates of lanes > q: start at
 *     position K − 1 and step over each such candidate at or before it, in position order;
 *   - a query tile opening at lane q lists the first min(prefix + 1, K) of those keys; an entering key
 *     after it is appended to its tile's list, in prefix order;
 *   - the new best is the first K of `merged`.
 */
__global__ void __launch_bounds__(kGroup)
    dna_walk(const DnaArgs args, const uint64_t* covered, uint64_t* thresholds, uint64_t* lists, int32_t* counts)
{
    __shared__ uint64_t best[kMaxTileDnaKeys];
    __shared__ uint64_t merged[kMaxTileDnaKeys + kGroup];
    __shared__ int merged_lane[kMaxTileDnaKeys + kGroup];  // the candidate's lane, −1 for a key of best
    __shared__ int by_rank_lane[kGroup];                    // the candidates, in descending key order:
    __shared__ int by_rank_in_best[kGroup];                 //   their lane and their rank in best
    const int lane = static_cast<int>(threadIdx.x);
    const uint32_t below = (1u << lane) - 1u;
    const int K = args.keys;
    const int64_t slice_chunks = args.chunks - args.lead_chunks;
    const int64_t b = blockIdx.x / slice_chunks;
    const int64_t chunk = b * args.chunks + args.lead_chunks + blockIdx.x % slice_chunks;
    const PrefixRange range = chunk_prefixes(args, chunk % args.chunks);
    // The top K of the chunks before; empty at the start of a batch row's first chunk.
    for (int r = lane; r < K; r += kGroup) best[r] = chunk % args.chunks != 0 ? covered[(chunk - 1) * K + r] : 0;
    __syncthreads();

    // The chunk begins where a query tile does, so its first prefix opens a list. Prefix p's threshold
    // is entry p − first_prefix of the batch row's (gpu/flux_dna.h).
    uint64_t* const batch_thresholds = thresholds + b * (args.prefix_end - args.first_prefix);
    uint64_t* list = nullptr;
    int32_t* count = nullptr;
    int32_t fill = 0;
    uint64_t next_key = salience_key(args, b, range.begin + lane, range.end);
    for (int64_t base = range.begin; base < range.end; base += kGroup) {
        const int64_t p = base + lane;
        const uint64_t key = next_key;
        next_key = salience_key(args, b, p + kGroup, range.end);  // in flight during this step
        // A query tile's first prefix: row position p + W begins a tile (p + W − p0 a multiple of
        // block_q), or p = first_prefix (the first tile with a row ≥ W, which may begin below W).
        const bool opens =
            p < range.end && (p == args.first_prefix || (p + args.window - args.query_offset) % args.block_q == 0);
        const uint32_t openings = group_ballot(opens);
        const uint64_t kth = best[K - 1];
        const uint32_t candidates = group_ballot(key > kth);
        const int held = __popc(candidates);
        uint64_t threshold = kth;  // after this lane's prefix
        uint32_t enters = 0;
        if (candidates != 0) {
            const bool candidate = (candidates >> lane & 1u) != 0;
            const int in_best = candidate ? count_above(best, K, key) : 0;
            int above = 0, above_earlier = 0;  // candidates above this lane's key: all, of earlier lanes
            for (uint32_t rest = candidates; rest != 0; rest &= rest - 1) {
                const int source = __ffs(rest) - 1;
                const bool higher = shuffle64(key, source) > key;
                above += higher;
                above_earlier += higher && source < lane;
            }
            enters = group_ballot(candidate && in_best + above_earlier < K);
            if (candidate) {
                by_rank_lane[above] = lane;
                by_rank_in_best[above] = in_best;
                merged[in_best + above] = key;
                merged_lane[in_best + above] = lane;
            }
            __syncthreads();
            for (int i = lane; i < K; i += kGroup) {
                int low = 0, high = held;  // candidates above best[i]: those of rank in best ≤ i
                while (low < high) {
                    const int middle = (low + high) / 2;
                    if (by_rank_in_best[middle] <= i) {
                        low = middle + 1;
                    } else {
                        high = middle;
                    }
                }
                merged[i + low] = best[i];
                merged_lane[i + low] = -1;
            }
            __syncthreads();
            int at = K - 1;
            for (int rank = 0; rank < held; ++rank) {
                if (by_rank_lane[rank] > lane && by_rank_in_best[rank] + rank <= at) ++at;
            }
            threshold = merged[at];
        }
        // Entering keys and openings, in prefix order: the entering keys before each opening go to the
        // list open then; an opening's own key is in the list it writes.
        uint32_t handled = 0;
        for (uint32_t events = openings;; events &= events - 1) {
            const int source = events != 0 ? __ffs(events) - 1 : kGroup;
            const uint32_t segment = (source == kGroup ? ~0u : (1u << source) - 1u) & ~handled;
            const uint32_t appended = enters & segment;
            if (appended != 0) {
                if ((appended >> lane & 1u) != 0) list[fill + __popc(appended & below)] = key;
                fill += __popc(appended);
                if (lane == 0) *count = fill;
            }
            if (source == kGroup) break;
            handled |= segment | (1u << source);
            const int64_t prefix = base + source;
            const int64_t tile = (prefix + args.window - args.query_offset) / args.block_q;
            list = lists + (b * args.query_tiles + tile) * args.capacity;
            count = counts + b * args.query_tiles + tile;
            fill = static_cast<int32_t>(prefix + 1 < K ? prefix + 1 : K);
            if (candidates == 0) {
                for (int r = lane; r < fill; r += kGroup) list[r] = best[r];
            } else {
                // The first `fill` keys of merged without the candidates of lanes after the opening.
                int kept = 0;
                for (int m0 = 0; m0 < K + held && kept < fill; m0 += kGroup) {
                    const int m = m0 + lane;
                    const bool keep = m < K + held && merged_lane[m] <= source;
                    const uint32_t keeps = group_ballot(keep);
                    const int r = kept + __popc(keeps & below);
                    if (keep && r < fill) list[r] = merged[m];
                    kept += __popc(keeps);
                }
            }
            if (lane == 0) *count = fill;
        }
        if (p < range.end) batch_thresholds[p - args.first_prefix] = threshold;
        if (candidates != 0) {
            for (int r = lane; r < K; r += kGroup) best[r] = merged[r];
            __syncthreads();  // best is whole before the next step; merged and the ranks are free again
        }
    }
}

proteus_status launch_walks(const DnaArgs& args, uint64_t* summaries, uint64_t* starts, TileDna& dna, uint64_t* thresholds,
                            uint64_t* lists, int32_t* counts, cudaStream_t stream)
{
    const auto lists_count = static_cast<unsigned>(args.batch * args.chunks);
    dna_chunk_best<<<lists_count, kChunkPrefixes, 0, stream>>>(args, summaries);
    proteus_status status = check_launch("dna_chunk_best");
    if (status != PROTEUS_STATUS_OK) return status;
    // The chunk lists' inclusive scan, ping-ponging between summaries and starts.
    uint64_t* covered = summaries;
    uint64_t* spare = starts;
    for (int64_t offset = 1; offset < args.chunks; offset *= kScanRadix) {
        dna_chunk_scan<<<lists_count, kMaxTileDnaKeys, 0, stream>>>(args, covered, spare, offset);
        if ((status = check_launch("dna_chunk_scan")) != PROTEUS_STATUS_OK) return status;
        std::swap(covered, spare);
    }
    const auto slice_walkers = static_cast<unsigned>(args.batch * (args.chunks - args.lead_chunks));
    dna_walk<<<slice_walkers, kGroup, 0, stream>>>(args, covered, thresholds, lists, counts);
    if ((status = check_launch("dna_walk")) != PROTEUS_STATUS_OK) return status;
    dna.thresholds = thresholds;
    dna.lists = lists;
    dna.counts = counts;
    return PROTEUS_STATUS_OK;
}

}  // namespace

proteus_status build_tile_dna(const FluxProblem& problem, int block_q, StreamWorkspace& workspace, cudaStream_t stream,
                              TileDna& dna)
{
    dna = TileDna{};
    if (!has_dna_keys(problem)) return PROTEUS_STATUS_OK;
    DnaArgs args;
    args.salience = static_cast<const float*>(problem.salience.data);
    args.salience_batch = problem.salience.strides[0];
    args.salience_token = problem.salience.strides[1];
    args.batch = problem.batch;
    // Query row r is position p0 + r; rows at positions i ≥ W take prefix i − W.
    const int64_t W = problem.candidates.window;
    const int64_t p0 = problem.query_offset;
    const int64_t first_dna_position = std::max(p0, W);
    args.window = W;
    args.query_offset = p0;
    args.first_prefix = first_dna_position - W;
    args.prefix_end = last_query_position(problem) + 1 - W;
    args.keys = static_cast<int32_t>(std::min(problem.candidates.dna_count, args.prefix_end));
    args.block_q = block_q;
    args.first_tile = static_cast<int32_t>((first_dna_position - p0) / block_q);
    args.query_tiles = static_cast<int32_t>((problem.query_len + block_q - 1) / block_q);
    args.chunk_tiles = static_cast<int32_t>(std::max<int64_t>(1, kChunkPrefixes / block_q));
    args.lead_chunks = static_cast<int32_t>((args.first_prefix + kChunkPrefixes - 1) / kChunkPrefixes);
    args.chunks = args.lead_chunks + (args.query_tiles - args.first_tile + args.chunk_tiles - 1) / args.chunk_tiles;
    args.capacity = args.keys + block_q;
    dna.first_prefix = args.first_prefix;
    dna.prefixes = args.prefix_end - args.first_prefix;
    dna.keys = args.keys;
    dna.capacity = args.capacity;
    dna.block_q = block_q;
    dna.query_tiles = args.query_tiles;
    // dna_chunk_best holds a chunk in one block: at most kChunkPrefixes prefixes (block_q ≤ kChunkPrefixes).
    if (dna.prefixes <= 0 || args.keys <= 0 || args.keys > kMaxTileDnaKeys || block_q > kChunkPrefixes) {
        return set_error(PROTEUS_STATUS_INTERNAL_ERROR,
                         "tile DNA candidates for K = " + std::to_string(problem.candidates.dna_count) + " over " +
                             std::to_string(dna.prefixes) + " prefixes of query rows in tiles of " +
                             std::to_string(block_q));
    }

    const auto batch = static_cast<uint64_t>(args.batch);
    const uint64_t chunk_lists = batch * static_cast<uint64_t>(args.chunks) * static_cast<uint64_t>(args.keys);
    const uint64_t tiles = batch * static_cast<uint64_t>(args.query_tiles);
    uint64_t* summaries = nullptr;
    uint64_t* starts = nullptr;
    uint64_t* thresholds = nullptr;
    uint64_t* lists = nullptr;
    int32_t* counts = nullptr;
    proteus_status status = workspace.allocate(chunk_lists, &summaries);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(chunk_lists, &starts);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(batch * static_cast<uint64_t>(dna.prefixes), &thresholds);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(tiles * static_cast<uint64_t>(args.capacity), &lists);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(tiles, &counts);
    if (status != PROTEUS_STATUS_OK) return status;

    return launch_walks(args, summaries, starts, dna, thresholds, lists, counts, stream);
}

}  // namespace proteus::gpu

// Host candidate sets C(i) (SPEC §3; Appendix A for the Seed policy): the one place of the rules that
// need the salience. The CPU reference, the CPU gather and proteus_shortlist_total build on them.
#pragma once

#include <cstdint>
#include <vector>

#include "core/candidate_spec.h"

namespace proteus::core {

/** Largest |C(i)| over rows 0..T−1: min(T, min(W, T) + A + K), or min(L, T) for Seed. */
int64_t shortlist_bound(const CandidateSpec& spec, int64_t seq_len);

/**
 * The k positions of highest salience within a growing prefix [0, end) of one salience row: ties go
 * to the larger position and NaN ranks as −∞. Growing the prefix by one position costs O(log k).
 */
class PrefixTopK {
public:
    PrefixTopK(const float* salience, int64_t k);

    /**
     * Makes the set the top-k of [0, end) (end ≤ 0: empty): a scan of the positions not yet covered,
     * rebuilt from scratch when the prefix shrinks; nothing at all when k ≤ 0.
     */
    void cover(int64_t end);

    /** The positions of the set, in no particular order. */
    const std::vector<int64_t>& positions() const { return heap_; }

private:
    void offer(int64_t j);
    bool ranks_above(int64_t a, int64_t b) const;

    const float* salience_;
    int64_t k_;
    int64_t end_ = 0;
    std::vector<int64_t> heap_;  // heap whose front is the lowest-ranked position kept
};

/**
 * Builds C(i) for the rows of one batch row. Rows in increasing order advance the DNA set incrementally
 * (one scan of the prefix in all); without DNA a row costs O(|C(i)|), whatever its position.
 */
class ShortlistBuilder {
public:
    /** `salience`: the T contiguous values of the batch row; may be null when the budgets use no DNA. */
    ShortlistBuilder(const CandidateSpec& spec, int64_t seq_len, const float* salience);

    /** C(i), sorted ascending without duplicates; valid until the next call. */
    const std::vector<int64_t>& candidates(int64_t i);

private:
    void add_local(int64_t i, int64_t width);
    void add_relative_anchors(int64_t i, int64_t count);
    void add_aligned_anchors(int64_t i);
    void add_dna(int64_t prefix_end);

    CandidateSpec spec_;
    int64_t seq_len_;
    PrefixTopK dna_;
    std::vector<int64_t> candidates_;
};

}  // namespace proteus::core

namespace proteus::core {

/**
 * Σ |C(i)| over the rows [first_row, first_row + row_count) of one batch row (SPEC §3, every policy),
 * exact, without building a set: |Local| + |Anchors \ Local| + |Dna \ (Local ∪ Anchors)| (Seed then
 * keeps at most L). The DNA overlaps come from order statistics over the top-K set, so each row costs
 * O(log K) once the set covers the first row's prefix (an O(prefix · log K) scan, needed only when
 * K > 0). `salience`: the row's values from position 0 (at least up to the last row), null when the
 * budgets take no DNA. Rows are within [0, seq_len).
 */
int64_t shortlist_total(const CandidateSpec& spec, int64_t seq_len, const float* salience, int64_t first_row,
                        int64_t row_count);

}  // namespace proteus::core

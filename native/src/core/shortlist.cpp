#include "core/shortlist.h"

#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <utility>

#include "core/candidate_rules.h"

namespace proteus::core {
namespace {

int64_t saturating_add(int64_t a, int64_t b)  // both ≥ 0
{
    int64_t sum = 0;
    return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<int64_t>::max() : sum;
}

/** How many DNA positions a row takes: K, or for Seed min(L, cap_dna, T) (Appendix A). */
int64_t dna_capacity(const CandidateSpec& spec, int64_t seq_len)
{
    if (spec.policy != PROTEUS_POLICY_SEED) return spec.dna_count;
    return std::min({spec.seed_cap, spec.dna_count, seq_len});
}

/** NaN ranks as −∞: it never displaces a number, and among equals the larger position still wins. */
float salience_rank(float salience)
{
    return std::isnan(salience) ? -std::numeric_limits<float>::infinity() : salience;
}

}  // namespace

int64_t shortlist_bound(const CandidateSpec& spec, int64_t seq_len)
{
    if (spec.policy == PROTEUS_POLICY_SEED) return std::min(spec.seed_cap, seq_len);
    const int64_t local = std::min(spec.window, seq_len);
    const int64_t sum = saturating_add(saturating_add(local, spec.anchor_count), spec.dna_count);
    return std::min(seq_len, sum);
}

PrefixTopK::PrefixTopK(const float* salience, int64_t k) : salience_(salience), k_(k) {}

void PrefixTopK::cover(int64_t end)
{
    if (k_ <= 0) return;  // the set stays empty: no per-position work, whatever the prefix
    end = std::max<int64_t>(end, 0);
    if (end < end_) {
        heap_.clear();
        end_ = 0;
    }
    for (; end_ < end; ++end_) offer(end_);
}

void PrefixTopK::offer(int64_t j)
{
    const auto lowest_first = [this](int64_t a, int64_t b) { return ranks_above(a, b); };
    if (static_cast<int64_t>(heap_.size()) < k_) {
        heap_.push_back(j);
        std::push_heap(heap_.begin(), heap_.end(), lowest_first);
    } else if (ranks_above(j, heap_.front())) {
        std::pop_heap(heap_.begin(), heap_.end(), lowest_first);
        heap_.back() = j;
        std::push_heap(heap_.begin(), heap_.end(), lowest_first);
    }
}

bool PrefixTopK::ranks_above(int64_t a, int64_t b) const
{
    const float sa = salience_rank(salience_[a]);
    const float sb = salience_rank(salience_[b]);
    return sa > sb || (sa == sb && a > b);
}

ShortlistBuilder::ShortlistBuilder(const CandidateSpec& spec, int64_t seq_len, const float* salience)
    : spec_(spec), seq_len_(seq_len), dna_(salience, dna_capacity(spec, seq_len))
{
}

const std::vector<int64_t>& ShortlistBuilder::candidates(int64_t i)
{
    // {i} needs no step of its own: Local(i) holds it, as W ≥ 1 (and n ≥ 1 for Seed).
    candidates_.clear();
    switch (spec_.policy) {
    case PROTEUS_POLICY_ALIGNED:
        add_local(i, spec_.window);
        add_aligned_anchors(i);
        add_dna(i - spec_.window + 1);  // Dna(i) ranges over j ≤ i − W
        break;
    case PROTEUS_POLICY_RELATIVE:
        add_local(i, spec_.window);
        add_relative_anchors(i, spec_.anchor_count);
        add_dna(i - spec_.window + 1);
        break;
    case PROTEUS_POLICY_SEED:
        add_local(i, std::min({spec_.window, spec_.seed_cap, spec_.seed_local_cap}));
        if (spec_.anchor_stride > 0) add_relative_anchors(i, std::min({spec_.anchor_count, spec_.seed_cap, seq_len_}));
        add_dna(i + 1);  // Seed ranks the window too
        break;
    case PROTEUS_POLICY_EXPLICIT: break;  // the caller's lists; the runtime never builds a rule for them
    }
    std::sort(candidates_.begin(), candidates_.end());
    candidates_.erase(std::unique(candidates_.begin(), candidates_.end()), candidates_.end());
    // Seed keeps the L smallest indices, so on overflow the newest keys (possibly i itself) go.
    if (spec_.policy == PROTEUS_POLICY_SEED && static_cast<int64_t>(candidates_.size()) > spec_.seed_cap) {
        candidates_.resize(static_cast<size_t>(spec_.seed_cap));
    }
    return candidates_;
}

void ShortlistBuilder::add_local(int64_t i, int64_t width)
{
    for (int64_t j = window_start(i, width); j <= i; ++j) candidates_.push_back(j);
}

void ShortlistBuilder::add_relative_anchors(int64_t i, int64_t count)
{
    const int64_t distinct = relative_anchor_count(i, spec_.anchor_stride, count);
    for (int64_t s = 1; s <= distinct; ++s) candidates_.push_back(relative_anchor(i, s, spec_.anchor_stride));
}

void ShortlistBuilder::add_aligned_anchors(int64_t i)
{
    const AlignedAnchors anchors = aligned_anchors(i, spec_.window, spec_.anchor_stride, spec_.anchor_count);
    for (int64_t a = 0; a < anchors.count; ++a) candidates_.push_back(anchors.first + a * spec_.anchor_stride);
}

void ShortlistBuilder::add_dna(int64_t prefix_end)
{
    dna_.cover(prefix_end);
    candidates_.insert(candidates_.end(), dna_.positions().begin(), dna_.positions().end());
}

}  // namespace proteus::core

// ---- Σ |C(i)| ----------------------------------------------------------------------------------------

namespace proteus::core {
namespace {

// Positions ordered by (position mod S, position): the anchors of a row that a DNA position can be
// are one residue class above a threshold, so their count is a difference of two ranks.
using ClassTree = __gnu_pbds::tree<std::pair<int64_t, int64_t>, __gnu_pbds::null_type,
                                   std::less<std::pair<int64_t, int64_t>>, __gnu_pbds::rb_tree_tag,
                                   __gnu_pbds::tree_order_statistics_node_update>;

/**
 * The top-K positions of a growing salience prefix (the ranking of PrefixTopK: NaN as −∞, ties to
 * the larger position), kept in order-statistics trees so that "how many lie in [a, b]" and "how many
 * of residue r mod S lie in [a, b]" cost O(log K).
 */
class CountedTopK {
public:
    CountedTopK(const float* salience, int64_t k, int64_t stride) : salience_(salience), k_(k), stride_(stride) {}

    /** Makes the set the top-K of [0, end) (end only grows). */
    void cover(int64_t end)
    {
        for (; end_ < end; ++end_) offer(end_);
    }

    int64_t size() const { return static_cast<int64_t>(heap_.size()); }

    /** Positions of the set in [first, last]. */
    int64_t count(int64_t first, int64_t last) const
    {
        if (first > last) return 0;
        return static_cast<int64_t>(by_position_.order_of_key({0, last + 1}) - by_position_.order_of_key({0, first}));
    }

    /** Positions of the set in [first, last] congruent to `residue` mod the anchor stride (> 0). */
    int64_t count_class(int64_t residue, int64_t first, int64_t last) const
    {
        if (first > last) return 0;
        return static_cast<int64_t>(by_class_.order_of_key({residue, last + 1}) -
                                    by_class_.order_of_key({residue, first}));
    }

private:
    bool ranks_above(int64_t a, int64_t b) const
    {
        const float sa = salience_rank(salience_[a]);
        const float sb = salience_rank(salience_[b]);
        return sa > sb || (sa == sb && a > b);
    }

    void insert(int64_t j)
    {
        by_position_.insert({0, j});
        if (stride_ > 0) by_class_.insert({j % stride_, j});
    }

    void erase(int64_t j)
    {
        by_position_.erase({0, j});
        if (stride_ > 0) by_class_.erase({j % stride_, j});
    }

    void offer(int64_t j)
    {
        if (k_ <= 0) return;
        const auto lowest_first = [this](int64_t a, int64_t b) { return ranks_above(a, b); };
        if (static_cast<int64_t>(heap_.size()) < k_) {
            heap_.push_back(j);
            std::push_heap(heap_.begin(), heap_.end(), lowest_first);
            insert(j);
        } else if (ranks_above(j, heap_.front())) {
            std::pop_heap(heap_.begin(), heap_.end(), lowest_first);
            erase(heap_.back());
            heap_.back() = j;
            std::push_heap(heap_.begin(), heap_.end(), lowest_first);
            insert(j);
        }
    }

    const float* salience_;
    int64_t k_;
    int64_t stride_;
    int64_t end_ = 0;
    std::vector<int64_t> heap_;  // front: the lowest-ranked position kept
    ClassTree by_position_;      // keys (0, j)
    ClassTree by_class_;         // keys (j mod S, j)
};

/** |C(i)| of one row, with the DNA set already covering the row's prefix. */
int64_t row_total(const CandidateSpec& spec, int64_t seq_len, const CountedTopK& dna, int64_t i)
{
    const bool seed = spec.policy == PROTEUS_POLICY_SEED;
    const int64_t width = seed ? std::min({spec.window, spec.seed_cap, spec.seed_local_cap}) : spec.window;
    const int64_t local_first = window_start(i, width);
    int64_t total = i - local_first + 1;  // Local(i), which holds i
    // Dna(i) ∩ Local(i): empty unless the DNA prefix reaches into the window (Seed).
    int64_t dna_outside = dna.size() - dna.count(local_first, i);
    const int64_t stride = spec.anchor_stride;

    if (spec.policy == PROTEUS_POLICY_ALIGNED) {
        const AlignedAnchors anchors = aligned_anchors(i, spec.window, stride, spec.anchor_count);
        total += anchors.count;  // all before the window
        if (anchors.count > 0) {
            dna_outside -= dna.count_class(0, anchors.first, anchors.first + (anchors.count - 1) * stride);
        }
    } else if (stride > 0) {  // Relative, or Seed with anchors
        const int64_t count = seed ? std::min({spec.anchor_count, spec.seed_cap, seq_len}) : spec.anchor_count;
        const int64_t distinct = relative_anchor_count(i, stride, count);
        // Anchors i − s·S inside the window: s ≤ (i − local_first) / S; the one at 0 only when the window reaches 0.
        const int64_t in_window = local_first == 0 ? distinct : std::min(distinct, (i - local_first) / stride);
        total += distinct - in_window;
        if (distinct > in_window) {
            // Positive anchors before the window: i − s·S for s in (in_window, positive count], one residue class.
            const bool has_zero = relative_anchor(i, distinct, stride) == 0;
            const int64_t positive = has_zero ? distinct - 1 : distinct;
            if (positive > in_window) {
                dna_outside -= dna.count_class(i % stride, i - positive * stride, i - (in_window + 1) * stride);
            }
            if (has_zero && local_first > 0) dna_outside -= dna.count(0, 0);
        }
    }
    total += dna_outside;
    return seed ? std::min(total, spec.seed_cap) : total;
}

}  // namespace

int64_t shortlist_total(const CandidateSpec& spec, int64_t seq_len, const float* salience, int64_t first_row,
                        int64_t row_count)
{
    const int64_t k = salience != nullptr ? dna_capacity(spec, seq_len) : 0;
    CountedTopK dna(salience, k, spec.anchor_stride);
    const bool seed = spec.policy == PROTEUS_POLICY_SEED;
    int64_t total = 0;
    for (int64_t i = first_row; i < first_row + row_count; ++i) {
        dna.cover(seed ? i + 1 : i - spec.window + 1);  // Seed ranks the window too
        total += row_total(spec, seq_len, dna, i);
    }
    return total;
}

}  // namespace proteus::core

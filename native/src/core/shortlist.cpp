#include "core/shortlist.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

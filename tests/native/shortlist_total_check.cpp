// core::shortlist_total against core::ShortlistBuilder: for random budgets of every policy, random
// salience (with ties and NaN) and random row ranges, the total equals Σ |C(i)| of the built sets.
// Compiled with the core sources themselves (the library exports only the C ABI).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "core/shortlist.h"

using proteus::core::CandidateSpec;

namespace {

int64_t built_total(const CandidateSpec& spec, int64_t seq_len, const float* salience, int64_t first, int64_t count)
{
    proteus::core::ShortlistBuilder builder(spec, seq_len, salience);
    int64_t total = 0;
    for (int64_t i = first; i < first + count; ++i) total += static_cast<int64_t>(builder.candidates(i).size());
    return total;
}

}  // namespace

int main()
{
    std::mt19937_64 random(20261201);
    const auto uniform = [&random](int64_t low, int64_t high) {
        return std::uniform_int_distribution<int64_t>(low, high)(random);
    };
    int failures = 0;
    int cases = 0;
    for (int round = 0; round < 3000; ++round) {
        CandidateSpec spec;
        spec.policy = static_cast<proteus_candidate_policy>(round % 3);
        const int64_t seq_len = uniform(1, 120);
        spec.window = uniform(1, 40);
        spec.anchor_count = uniform(0, 6);
        spec.anchor_stride = spec.anchor_count > 0 || spec.policy == PROTEUS_POLICY_SEED ? uniform(0, 9) : 0;
        if (spec.policy != PROTEUS_POLICY_SEED && spec.anchor_count > 0 && spec.anchor_stride == 0) spec.anchor_stride = 1;
        spec.dna_count = uniform(0, 8);
        spec.seed_cap = uniform(1, 30);
        spec.seed_local_cap = uniform(1, 30);

        std::vector<float> salience(static_cast<size_t>(seq_len));
        for (float& value : salience) {
            const int64_t kind = uniform(0, 9);
            value = kind == 0   ? std::numeric_limits<float>::quiet_NaN()
                    : kind <= 3 ? 0.5f  // ties
                                : static_cast<float>(uniform(-1000, 1000)) / 1000.0f;
        }
        const float* values = spec.dna_count > 0 ? salience.data() : nullptr;
        const int64_t first = uniform(0, seq_len - 1);
        const int64_t count = uniform(0, seq_len - first);
        const int64_t expected = built_total(spec, seq_len, values, first, count);
        const int64_t total = proteus::core::shortlist_total(spec, seq_len, values, first, count);
        ++cases;
        if (total != expected) {
            if (++failures <= 10) {
                std::fprintf(stderr,
                             "policy %d T %lld W %lld S %lld A %lld K %lld L %lld loc %lld rows [%lld, +%lld): "
                             "total %lld, built %lld\n",
                             spec.policy, (long long)seq_len, (long long)spec.window, (long long)spec.anchor_stride,
                             (long long)spec.anchor_count, (long long)spec.dna_count, (long long)spec.seed_cap,
                             (long long)spec.seed_local_cap, (long long)first, (long long)count, (long long)total,
                             (long long)expected);
            }
        }
    }
    if (failures != 0) {
        std::fprintf(stderr, "%d of %d cases differ\n", failures, cases);
        return 1;
    }
    std::printf("shortlist_total equals the built sets in %d cases\n", cases);
    return 0;
}

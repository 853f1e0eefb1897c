#include "core/explicit_lists.h"

namespace proteus::core {

ExplicitReport inspect_explicit_lists(const ExplicitLists& lists)
{
    ExplicitReport report;
    for (int64_t b = 0; b < lists.batch; ++b) {
        for (int64_t h = 0; h < lists.heads; ++h) {
            const int64_t head = lists.per_head ? h : -1;
            for (int64_t r = 0; r < lists.rows; ++r) {
                const int64_t given = lists.given_length(b, h, r);
                if (given < 0 || given > lists.slots) {
                    if (report.bad_lengths++ == 0) report.first_bad_length = {b, head, r, -1};
                }
                const int64_t n = lists.length(b, h, r);
                const int32_t* list = lists.list(b, h, r);
                report.listed += n;
                for (int64_t s = 0; s < n; ++s) {
                    if (lists.counts(list[s], r)) continue;
                    if (report.out_of_range++ == 0) report.first = {b, head, r, s};
                }
            }
        }
    }
    return report;
}

}  // namespace proteus::core

#include "clients/consul/blocking.h"

namespace rollouts::consul {

bool BlockingIndex::Observe(uint64_t response_index) {
  bool first = !seen_any_;
  seen_any_ = true;
  if (response_index == 0) {
    // A 0 index after a read is a Consul bug; sending 0 again would not block and the
    // loop would spin. 1 blocks until anything at all is written.
    bool changed = first || last_ != 0;
    last_ = 0;
    next_ = 1;
    return changed;
  }
  if (response_index < next_) {
    // The index went backwards (snapshot restore, leader change, ...): start over with
    // a non-blocking read so nothing between the two indexes is missed.
    last_ = response_index;
    next_ = 0;
    return true;
  }
  bool changed = first || response_index != last_;
  last_ = response_index;
  next_ = response_index;
  return changed;
}

}  // namespace rollouts::consul

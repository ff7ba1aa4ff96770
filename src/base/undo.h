// Undo: the steps that take back what a multi-step operation made so far. Each step is added
// right after what it undoes was made; unless keep() is called, the destructor runs them in
// reverse order (so an early return on error leaves nothing half-made). Not thread-safe.
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace base {

class Undo {
 public:
  Undo() = default;
  Undo(const Undo&) = delete;
  Undo& operator=(const Undo&) = delete;
  ~Undo() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
  }

  void add(std::function<void()> step) { steps_.push_back(std::move(step)); }
  // Success: what was made stays.
  void keep() { steps_.clear(); }

 private:
  std::vector<std::function<void()>> steps_;
};

}  // namespace base

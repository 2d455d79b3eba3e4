// Splitting one FFI call's work over XLA:CPU's own intra-op threads (the FFI ThreadPool), for
// jaxgen's kernels: each runs single-threaded parts of its batch, so that a kernel shares the
// cores with the rest of the step instead of competing with it.
#ifndef JAXGEN_KERNELS_PARTS_H_
#define JAXGEN_KERNELS_PARTS_H_

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace jaxgen {

// How many parts a batch of n examples is split into: one per pool thread, at most n.
inline int64_t NumParts(xla::ffi::ThreadPool& pool, int64_t n) {
  return std::max<int64_t>(1, std::min<int64_t>(pool.num_threads(), n));
}

// The examples [begin, end) of part i of `parts` over a batch of n.
inline int64_t PartBegin(int64_t n, int64_t i, int64_t parts) { return n * i / parts; }

// Runs part(i) for every i in [0, parts). The caller runs part 0, then every part no pool thread
// has claimed yet (so it never waits on a queue that cannot drain), then waits for the parts the
// pool claimed. Returns "" or the text of an exception a part threw.
inline std::string RunParts(xla::ffi::ThreadPool& pool, int64_t parts,
                            const std::function<void(int64_t)>& part) {
  struct Shared {
    std::vector<std::atomic<bool>> claimed;
    std::atomic<int64_t> pending;
    std::mutex mu;
    std::condition_variable done;
    std::string error;
    explicit Shared(int64_t k) : claimed(k), pending(k) {}
  };
  auto shared = std::make_shared<Shared>(parts);
  const auto* fn = &part;  // only called by a thread that claimed its part, before we return
  auto run = [fn, shared](int64_t i) {
    if (shared->claimed[i].exchange(true)) return;
    try {
      (*fn)(i);
    } catch (const std::exception& e) {  // a library error, or an allocation failing
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->error = e.what();
    }
    if (--shared->pending == 0) {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->done.notify_all();
    }
  };
  for (int64_t i = 1; i < parts; ++i) pool.Schedule([run, i] { run(i); });
  for (int64_t i = 0; i < parts; ++i) run(i);
  std::unique_lock<std::mutex> lock(shared->mu);
  shared->done.wait(lock, [&] { return shared->pending == 0; });
  return shared->error;
}

}  // namespace jaxgen

#endif  // JAXGEN_KERNELS_PARTS_H_

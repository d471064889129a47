#include "parallel/agreement.hpp"

#include <fmt/format.h>

#include "core/check.hpp"

namespace tessera {

void agree_on_error(const ProcessGroup& group, const std::function<void()>& f) {
  std::string message;
  try {
    f();
  } catch (const AgreedError& e) {
    message = e.report() ? e.what() : "an error reported elsewhere";
  } catch (const Error& e) {
    message = e.what();
  }
  agree_on_error(group, message);
}

void agree_on_error(const ProcessGroup& group, const std::string& message) {
  // the lowest failing rank r as the largest size - r (0: none failed)
  double lowest = message.empty() ? 0.0 : static_cast<double>(group.size() - group.rank());
  group.all_reduce(&lowest, 1, ReduceOp::kMax);
  if (lowest == 0.0) return;
  const int first = group.size() - static_cast<int>(lowest);
  if (group.rank() == first) throw AgreedError(message, true);
  throw AgreedError(fmt::format("rank {} failed", first), false);
}

}  // namespace tessera

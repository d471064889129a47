// Sizes, counts and times written for people: the log lines, the run's summary and the files' timestamps all say
// them the same way.
#pragma once

#include <cstdint>
#include <string>

namespace tessera {

// "1.50 GiB", "320.0 MiB", "12 KiB"
std::string bytes_string(int64_t bytes);
// "1 file", "2 files"
std::string plural(int64_t n, const char* one, const char* many);
// "1:02:03" for seconds (negative: "0:00:00").
std::string clock_string(double seconds);
// UTC now as "2026-11-28T10:15:02Z".
std::string utc_timestamp();

}  // namespace tessera

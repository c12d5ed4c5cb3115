#pragma once
// UTC calendar arithmetic on Unix seconds, without the C library's time zone machinery
// (timegm is not standard, gmtime_r not constexpr). The day algorithms are Howard
// Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar, any year).

#include <cstdint>

namespace mailready::tls {

inline constexpr std::int64_t seconds_per_day = 86400;

/// a / b rounded towards minus infinity (b > 0).
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/// a / b rounded towards plus infinity (b > 0).
constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && a > 0) ? q + 1 : q;
}

/// Days since 1970-01-01 of a calendar date (month 1-12, day 1-31).
constexpr std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;                                    // [0, 399]
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + doe - 719468;
}

/// A calendar date and time of day, UTC.
struct CivilTime {
  std::int64_t year = 1970;
  int month = 1, day = 1, hour = 0, minute = 0, second = 0;
};

/// The UTC calendar date and time of Unix seconds.
constexpr CivilTime civil_from_unix(std::int64_t t) {
  const std::int64_t days = floor_div(t, seconds_per_day);
  const std::int64_t secs = t - days * seconds_per_day;
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  CivilTime c;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = yoe + era * 400 + (c.month <= 2 ? 1 : 0);
  c.hour = static_cast<int>(secs / 3600);
  c.minute = static_cast<int>(secs % 3600 / 60);
  c.second = static_cast<int>(secs % 60);
  return c;
}

/// Unix seconds of a UTC calendar date and time.
constexpr std::int64_t unix_time(std::int64_t y, int m, int d, int hh = 0, int mm = 0, int ss = 0) {
  return days_from_civil(y, m, d) * seconds_per_day + hh * 3600 + mm * 60 + ss;
}

static_assert(unix_time(2019, 7, 1) == 1561939200);
static_assert(unix_time(2020, 9, 1) == 1598918400);
static_assert(unix_time(2026, 3, 15) == 1773532800);
static_assert(civil_from_unix(1598918399).day == 31);

}  // namespace mailready::tls

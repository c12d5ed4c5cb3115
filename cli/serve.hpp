#pragma once
// `mailready serve`: a multi-target exporter in the pattern of Prometheus' blackbox_exporter.
//
//   GET /probe?target=HOST[&module=NAME]  runs the checks against HOST with the module's
//                                         settings; the answer is the report in the
//                                         Prometheus text format (write_prometheus)
//   GET /metrics                          the exporter's own metrics
//   GET /healthz                          200 "ok"
//
// Targets and modules come from the config file (cli/serve_config.hpp); credentials never
// come from the URL. At most max_concurrent probes run at once; up to max_queued more wait
// for a slot (within their own deadline); beyond that a probe is answered 503 at once.

#include <string>

namespace mailready::serve {

/// The flags of `mailready serve`.
struct ServeOptions {
  std::string listen = "127.0.0.1:9731";  ///< ADDRESS:PORT (":PORT" for every address)
  std::string config_path;                ///< --config FILE (required)
  int max_concurrent = 8;                 ///< probes running at once
  int max_queued = 16;                    ///< probes waiting for a slot before 503s
};

/// Loads the config, listens, serves until SIGINT or SIGTERM, then stops: no new
/// connections, running probes finish (up to their deadline), idle connections close.
/// Returns the exit code: 0 after a signal; 3, after one line on stderr, when the config
/// is bad or the address cannot be bound. Must be called before any other thread is
/// started (it blocks SIGINT and SIGTERM for every thread it creates).
int run_serve(const ServeOptions& options);

}  // namespace mailready::serve

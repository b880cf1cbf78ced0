// Installs a rendered routes file into a running nginx without ever leaving it on a
// broken config: write atomically, `nginx -t`, reload only on success, and put the old
// file back (and report nginx's words) when the test fails.
#pragma once

#include <string>
#include <vector>

#include "router/nginx_config.h"
#include "router/router_metrics.h"
#include "router/routes_applier.h"

namespace rollouts::router {

// Runs a command and collects its combined output; tests replace it.
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Returns the exit status (-1 if it could not start).
  virtual int Run(const std::vector<std::string>& argv, std::string* output) = 0;
};

class ProcessRunner final : public CommandRunner {
 public:
  int Run(const std::vector<std::string>& argv, std::string* output) override;
};

struct NginxSetup {
  std::string nginx_bin = "/usr/sbin/nginx";
  std::string main_conf;    // -c
  std::string prefix;       // -p (empty = nginx's default)
  std::string routes_file;  // included by main_conf; rewritten by Apply
};

// Every change is a reload: nginx's old workers keep their connections until the
// requests on them end, but idle client keep-alive connections are closed, and a client
// that sends on one at that moment loses the request (docs/routers.md). HaproxyApplier
// changes routes without a reload.
class NginxApplier final : public RoutesApplier {
 public:
  // metrics (optional) counts every test + reload attempt by result.
  NginxApplier(NginxSetup setup, CommandRunner& runner, RouterMetrics* metrics = nullptr);
  ApplyResult Apply(const std::vector<ServiceRoute>& routes) override;
  // The rendered routes file itself (tests give it text nginx must accept or refuse).
  ApplyResult Apply(const std::string& routes);

 private:
  std::vector<std::string> NginxArgs(std::vector<std::string> extra) const;

  NginxSetup setup_;
  CommandRunner& runner_;
  RouterMetrics* metrics_;
  // False after a failed reload: the file on disk is then not what nginx runs, so the
  // same content must be reloaded again rather than reported as unchanged.
  bool file_is_live_ = true;
};

// Writes content to path via a temporary file in the same folder + fsync + rename, so a
// reader sees the old file or the new one, never half of one.
void WriteFileAtomically(const std::string& path, const std::string& content);
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace rollouts::router

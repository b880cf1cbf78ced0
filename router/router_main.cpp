// rollout-router: keeps a proxy (nginx, reloaded; or HAProxy, through its runtime API
// without reloads) in line with Consul health and the Active version each Rollout
// declares. See router_runner.h for what it watches and router_core.h for the
// selection and reporting rules.
#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <thread>

#include "clients/common/agent_config.h"
#include "clients/consul/consul_client.h"
#include "controller/http_endpoints.h"
#include "router/haproxy_applier.h"
#include "router/nginx_applier.h"
#include "router/router_metrics.h"
#include "router/router_runner.h"

namespace {

using rollouts::router::RoutedService;

// "hello=127.0.0.1:8080,preview=127.0.0.1:8081,rollout=hello,active-tag=active"
RoutedService ParseServiceFlag(const std::string& flag) {
  RoutedService s;
  size_t eq = flag.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw CLI::ValidationError("--service",
                               "want NAME=LISTEN[,preview=LISTEN]..., got '" + flag + "'");
  }
  s.service = flag.substr(0, eq);
  std::string rest = flag.substr(eq + 1);
  size_t start = 0;
  bool first = true;
  while (start <= rest.size()) {
    size_t comma = rest.find(',', start);
    std::string part =
        rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (first) {
      s.listen = part;
      first = false;
    } else {
      size_t e = part.find('=');
      std::string key = part.substr(0, e);
      std::string value = e == std::string::npos ? "" : part.substr(e + 1);
      if (key == "preview") {
        s.preview_listen = value;
      } else if (key == "rollout") {
        s.rollout = value;
      } else if (key == "active-tag") {
        s.active_tag = value;
      } else if (key == "standby-tag") {
        s.standby_tag = value;
      } else {
        throw CLI::ValidationError("--service", "unknown option '" + key + "' in '" + flag + "'");
      }
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (s.listen.empty()) throw CLI::ValidationError("--service", "missing LISTEN in '" + flag + "'");
  return s;
}

// "host:port" of --metrics-addr (an empty host means 127.0.0.1).
std::pair<std::string, uint16_t> ParseMetricsAddr(const std::string& addr) {
  size_t colon = addr.rfind(':');
  std::string port = colon == std::string::npos ? "" : addr.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    throw CLI::ValidationError("--metrics-addr", "want HOST:PORT, got '" + addr + "'");
  }
  std::string host = addr.substr(0, colon);
  return {host.empty() ? "127.0.0.1" : host, static_cast<uint16_t>(std::stoi(port))};
}

std::shared_ptr<rollouts::http::CancelToken> g_stop;

}  // namespace

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  CLI::App app{
      "rollout-router - routes each service's traffic to its Active version (from Consul health "
      "and Rollout status) through nginx or HAProxy"};
  app.set_version_flag("--version", std::string("rollout-router ") + ROLLOUTS_VERSION);
  std::string consul_addr, kv_prefix = "rollouts/", id;
  std::vector<std::string> service_flags;
  rollouts::router::NginxSetup nginx;
  int session_ttl_s = 10;
  std::string metrics_addr;
  app.add_option("--consul-addr", consul_addr,
                 "Consul address (default: CONSUL_HTTP_ADDR or 127.0.0.1:8500)");
  app.add_option("--kv-prefix", kv_prefix, "KV prefix of the Rollout keys")->capture_default_str();
  app.add_option("--id", id, "router id in <prefix>routers/<id> (default: hostname-pid)");
  app.add_option("--service", service_flags,
                 "NAME=LISTEN[,preview=LISTEN][,rollout=NAME][,active-tag=T][,standby-tag=T]")
      ->required();
  std::string backend = "nginx";
  app.add_option("--backend", backend,
                 "nginx (routes file + reload per change) or haproxy (runtime API, no reloads; "
                 "keeps client keep-alive connections whole)")
      ->check(CLI::IsMember({"nginx", "haproxy"}))
      ->capture_default_str();
  app.add_option("--nginx-bin", nginx.nginx_bin, "nginx binary")->capture_default_str();
  app.add_option("--nginx-conf", nginx.main_conf, "nginx main config (-c); nginx backend");
  app.add_option("--nginx-prefix", nginx.prefix, "nginx prefix (-p)");
  app.add_option("--routes-file", nginx.routes_file,
                 "routes file included by the main config; nginx backend");
  std::string haproxy_dir, haproxy_socket;
  bool print_haproxy_config = false;
  app.add_option("--haproxy-dir", haproxy_dir,
                 "haproxy backend: folder of haproxy.cfg and routes.map, written by the router "
                 "(start HAProxy with -f DIR/haproxy.cfg)");
  app.add_option("--haproxy-socket", haproxy_socket,
                 "haproxy backend: runtime API socket (default DIR/admin.sock)");
  app.add_flag("--print-haproxy-config", print_haproxy_config,
               "print the HAProxy config for the --service flags and exit (for packaging)");
  app.add_option("--session-ttl", session_ttl_s, "report session TTL in seconds (>= 10)")
      ->check(CLI::Range(10, 86400))
      ->capture_default_str();
  app.add_option("--metrics-addr", metrics_addr,
                 "HOST:PORT to serve /metrics (rollouts_router_* and process_*), /healthz and "
                 "/readyz (ready once the report is written) on; empty (default) = off");
  CLI11_PARSE(app, argc, argv);
  if (backend == "nginx" && (nginx.main_conf.empty() || nginx.routes_file.empty())) {
    std::cerr << "rollout-router: --backend nginx needs --nginx-conf and --routes-file\n";
    return 2;
  }
  if (backend == "haproxy" && haproxy_dir.empty()) {
    std::cerr << "rollout-router: --backend haproxy needs --haproxy-dir\n";
    return 2;
  }

  std::vector<RoutedService> services;
  std::pair<std::string, uint16_t> metrics_listen;
  try {
    for (const auto& f : service_flags) services.push_back(ParseServiceFlag(f));
    if (!metrics_addr.empty()) metrics_listen = ParseMetricsAddr(metrics_addr);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  }
  if (!kv_prefix.empty() && kv_prefix.back() != '/') kv_prefix += '/';
  if (id.empty()) {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    id = std::string(host) + "-" + std::to_string(::getpid());
  }

  rollouts::clients::AgentConfig config;
  try {
    config = rollouts::clients::ConsulConfigFromEnv(rollouts::clients::ProcessEnv());
    if (!consul_addr.empty())
      config.base_url = rollouts::clients::NormalizeAddress(consul_addr, "http");
  } catch (const std::exception& e) {
    std::cerr << "rollout-router: " << e.what() << "\n";
    return 2;
  }
  rollouts::router::RouterMetrics metrics;
  std::unique_ptr<rollouts::router::RoutesApplier> applier;
  rollouts::router::ProcessRunner runner;
  std::unique_ptr<rollouts::router::UnixSocketRuntime> haproxy_runtime;
  if (backend == "haproxy") {
    rollouts::router::HaproxySetup setup;
    setup.layout.socket_path =
        haproxy_socket.empty() ? haproxy_dir + "/admin.sock" : haproxy_socket;
    setup.layout.map_path = haproxy_dir + "/routes.map";
    setup.config_path = haproxy_dir + "/haproxy.cfg";
    std::vector<rollouts::router::HaproxyServiceRoutes> frontends;
    for (const auto& s : services) {
      rollouts::router::HaproxyServiceRoutes frontend;
      frontend.service = s.service;
      frontend.listen = s.listen;
      frontend.preview_listen = s.preview_listen;
      frontends.push_back(std::move(frontend));
    }
    if (print_haproxy_config) {
      std::cout << rollouts::router::RenderHaproxyConfig(setup.layout, frontends);
      return 0;
    }
    haproxy_runtime =
        std::make_unique<rollouts::router::UnixSocketRuntime>(setup.layout.socket_path);
    auto haproxy = std::make_unique<rollouts::router::HaproxyApplier>(setup, frontends,
                                                                      *haproxy_runtime, &metrics);
    try {
      if (haproxy->WriteInitialFiles()) {
        LOG(WARNING) << setup.config_path
                     << " was written for other --service flags and is replaced: "
                        "restart HAProxy on it to serve the new layout";
      }
    } catch (const std::exception& e) {
      std::cerr << "rollout-router: cannot write the HAProxy files in " << haproxy_dir << ": "
                << e.what() << "\n";
      return 1;
    }
    applier = std::move(haproxy);
  } else {
    applier = std::make_unique<rollouts::router::NginxApplier>(nginx, runner, &metrics);
  }
  rollouts::consul::HttpConsulClient consul(config);
  rollouts::router::RouterCore core(id, services, *applier, &metrics);
  rollouts::router::RouterRunnerOptions options;
  options.kv_prefix = kv_prefix;
  options.router_id = id;
  options.session_ttl = std::chrono::seconds(session_ttl_s);
  rollouts::router::RouterRunner router(consul, core, options, &metrics);

  g_stop = std::make_shared<rollouts::http::CancelToken>();
  // Signals are taken synchronously by a thread (sigwait), not in a handler, so stopping
  // can run ordinary code (cancel blocking queries, destroy the session).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread signals([&set] {
    int sig = 0;
    sigwait(&set, &sig);
    LOG(INFO) << "signal " << sig << ": stopping";
    g_stop->Cancel();
  });
  signals.detach();

  // Started after the signal mask is set, so its threads never take SIGTERM themselves.
  std::unique_ptr<rollouts::controller::HealthEndpoints> endpoints;
  if (!metrics_addr.empty()) {
    rollouts::controller::HealthEndpointsOptions endpoints_options;
    endpoints_options.host = metrics_listen.first;
    endpoints_options.port = metrics_listen.second;
    endpoints_options.registry = metrics.registry();
    endpoints_options.readiness = [&router]() -> rollouts::controller::Readiness {
      if (router.ready()) return {true, ""};
      return {false, router.not_ready_reason()};
    };
    endpoints_options.before_scrape = [&metrics] {
      metrics.UpdateWatchStaleness(std::chrono::system_clock::now());
    };
    try {
      endpoints = std::make_unique<rollouts::controller::HealthEndpoints>(endpoints_options);
    } catch (const std::exception& e) {
      std::cerr << "rollout-router: cannot serve --metrics-addr " << metrics_addr << ": "
                << e.what() << "\n";
      return 1;
    }
  }

  LOG(INFO) << "rollout-router " << id << " (" << backend << ") watching " << services.size()
            << " service(s) via " << config.base_url
            << (endpoints ? ", metrics on " + endpoints->base_url() : std::string());
  router.Run(g_stop);
  if (endpoints) endpoints->Stop();
  return 0;
}

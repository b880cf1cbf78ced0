// rolloutd: the Nomad Rollouts controller. Wires config, metrics, the Consul/Nomad/
// Prometheus clients (instrumented), leader election, the watch/work-queue runtime, the
// Rollout reconciler and the /metrics /healthz /readyz port. SIGTERM/SIGINT: stop taking
// work, let the reconcile in flight finish its step, release the leader lock, exit.
#include <glog/logging.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clients/consul/consul_client.h"
#include "clients/nomad/nomad_client.h"
#include "clients/prometheus/prometheus_client.h"
#include "controller/api_endpoint.h"
#include "controller/config.h"
#include "controller/http_endpoints.h"
#include "controller/leader_election.h"
#include "controller/metrics.h"
#include "controller/runtime.h"
#include "controller/status_metrics.h"
#include "reconcilers/prober.h"
#include "reconcilers/rollout_reconciler.h"

namespace rollouts::controller {
namespace {

// Status writes of the reconciler become Prometheus series; every status it observes
// seeds the gauges (without counting anything), so a Rollout that rests in Degraded or
// Healthy is visible after a restart or a leadership change, when nothing is written.
class MetricsListener : public reconcilers::ReconcileListener {
 public:
  explicit MetricsListener(ControllerMetrics& metrics) : metrics_(metrics) {}
  void OnStatusWritten(const std::string& rollout, const reconcilers::RolloutStatus& before,
                       const reconcilers::RolloutStatus& after) override {
    RecordStatusChange(metrics_, rollout, before, after, std::chrono::system_clock::now());
  }
  void OnStatusObserved(const std::string& rollout,
                        const reconcilers::RolloutStatus& status) override {
    SeedStatusGauges(metrics_, rollout, status, std::chrono::system_clock::now());
  }
  void OnInputsObserved(const std::string& rollout,
                        const std::map<std::string, int>& invalid) override {
    metrics_.SetInvalidInputs(rollout, invalid);
  }

 private:
  ControllerMetrics& metrics_;
};

std::shared_ptr<http::Client> Instrumented(const clients::AgentConfig& agent,
                                           const std::string& backend,
                                           InstrumentedClient::Classifier classifier,
                                           ControllerMetrics& metrics) {
  http::ClientOptions options;
  options.base_url = agent.base_url;
  options.tls = agent.tls;
  return std::make_shared<InstrumentedClient>(
      std::shared_ptr<http::Client>(http::MakeClient(options)), backend, std::move(classifier),
      metrics);
}

std::string Holder() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return std::string(host) + " pid " + std::to_string(getpid());
}

void SetUpLogging(const char* argv0, const std::string& level) {
  google::InitGoogleLogging(argv0);
  FLAGS_logtostderr = true;
  if (level == "debug") {
    FLAGS_v = 1;
    FLAGS_minloglevel = google::GLOG_INFO;
  } else if (level == "warning") {
    FLAGS_minloglevel = google::GLOG_WARNING;
  } else if (level == "error") {
    FLAGS_minloglevel = google::GLOG_ERROR;
  } else {
    FLAGS_minloglevel = google::GLOG_INFO;
  }
}

int Run(const ControllerConfig& config) {
  // Block the stop signals in every thread (threads inherit the mask); main sigwaits.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ControllerMetrics metrics;
  consul::HttpConsulClient consul(
      config.consul, Instrumented(config.consul, "consul", ConsulEndpointTemplate, metrics));

  // One Nomad client per namespace a Rollout names, created on first use.
  std::mutex nomad_mu;
  std::map<std::string, std::unique_ptr<nomad::HttpNomadClient>> nomad_clients;
  reconcilers::NomadClientFor nomad_for = [&](const std::string& ns) -> nomad::NomadClient& {
    std::lock_guard lock(nomad_mu);
    auto& client = nomad_clients[ns];
    if (!client) {
      nomad::NomadClientOptions options;
      options.agent = config.nomad;
      if (!ns.empty()) options.agent.namespace_ = ns;
      client = std::make_unique<nomad::HttpNomadClient>(
          options, Instrumented(config.nomad, "nomad", NomadEndpointTemplate, metrics));
    }
    return *client;
  };

  std::unique_ptr<rollouts::prometheus::HttpPrometheusClient> prometheus_client;
  if (!config.prometheus_url.empty()) {
    rollouts::prometheus::PrometheusClientOptions options;
    options.base_url = config.prometheus_url;
    clients::AgentConfig as_agent;
    as_agent.base_url = config.prometheus_url;
    prometheus_client = std::make_unique<rollouts::prometheus::HttpPrometheusClient>(
        options, Instrumented(as_agent, "prometheus", PrometheusEndpointTemplate, metrics));
  }
  reconcilers::HttpProber prober;

  std::unique_ptr<ControllerRuntime> runtime;
  LeaderElectionOptions election;
  election.key = config.LeaderKey();
  election.holder = Holder();
  election.ttl = config.leader_ttl;
  election.lock_delay = config.lock_delay;
  election.on_started_leading = [&] {
    metrics.SetLeader(true);
    if (runtime) runtime->EnqueueAll();
  };
  election.on_stopped_leading = [&](const std::string&) {
    metrics.SetLeader(false);
    if (runtime) runtime->LeadershipLost();
  };
  LeaderElector elector(consul, election);

  MetricsListener listener(metrics);
  reconcilers::ReconcilerOptions reconciler_options;
  reconciler_options.kv_prefix = config.kv_prefix;
  reconciler_options.allowed_jobs = config.allowed_jobs;
  reconciler_options.router_timeout = config.router_timeout;
  reconcilers::RolloutReconciler reconciler(
      consul, nomad_for, prometheus_client.get(), prober,
      [] {
        return std::chrono::time_point_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now());
      },
      [&elector] { return elector.IsLeader(); }, reconciler_options, &listener);

  RuntimeOptions runtime_options;
  runtime_options.kv_prefix = config.kv_prefix;
  runtime_options.workers = config.workers;
  runtime_options.resync = config.resync;
  runtime = std::make_unique<ControllerRuntime>(
      consul,
      [&reconciler](const std::string& name, const std::shared_ptr<http::CancelToken>& cancel) {
        return ResultOf(reconciler.Reconcile(name, cancel));
      },
      runtime_options, &metrics, [&elector] { return elector.IsLeader(); }, nomad_for);

  HealthEndpointsOptions endpoints_options;
  endpoints_options.host = config.metrics_host;
  endpoints_options.port = config.metrics_port;
  endpoints_options.registry = metrics.registry();
  endpoints_options.readiness = [&]() -> Readiness {
    if (!elector.IsLeader() && elector.SessionId().empty()) {
      return {false, "no Consul session: neither leader nor a ready standby"};
    }
    return runtime->WatchesLive();
  };
  endpoints_options.before_scrape = [&metrics] {
    metrics.UpdateWatchStaleness(std::chrono::system_clock::now());
  };
  std::unique_ptr<HealthEndpoints> endpoints;
  try {
    endpoints = std::make_unique<HealthEndpoints>(endpoints_options);
  } catch (const std::exception& e) {
    LOG(ERROR) << "cannot serve --metrics-addr " << config.metrics_host << ":"
               << config.metrics_port << ": " << e.what();
    return 1;
  }
  LOG(INFO) << "rolloutd " << ROLLOUTS_VERSION << ": consul " << config.consul.base_url
            << ", nomad " << config.nomad.base_url << ", prefix " << config.kv_prefix
            << ", metrics on " << endpoints->base_url();

  runtime->Start();
  auto election_stop = std::make_shared<http::CancelToken>();
  std::thread election_thread([&] { elector.Run(election_stop); });

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  LOG(INFO) << "received signal " << signal_number
            << ": finishing the reconcile in flight, then releasing leadership";
  // Drain while still leader, so the step in flight can complete its guarded writes.
  const auto drain = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max<std::chrono::milliseconds>(config.router_timeout, std::chrono::seconds(30)));
  if (!runtime->Stop(drain)) LOG(WARNING) << "drain timed out; the reconcile was cancelled";
  election_stop->Cancel();
  election_thread.join();
  endpoints->Stop();
  LOG(INFO) << "stopped";
  return 0;
}

}  // namespace
}  // namespace rollouts::controller

int main(int argc, char** argv) {
  // glibc gives each thread that allocates its own arena (up to 8 per core), and most of
  // rolloutd's threads are HTTP pool threads that parse responses: after one resync of
  // 1,000 Rollouts the freed memory stayed in ~15 arenas, RSS 140 MB for ~11 MB in use
  // (bench/controller). Two arenas bound how much freed memory can stay behind; the work
  // is I/O bound, so sharing arenas costs little. MALLOC_ARENA_MAX, when set, wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  // A watch answer (~1 MB of specs at 1,000 Rollouts) passes through a few buffers of that
  // size on every change. glibc raises its mmap threshold to the largest chunk freed so
  // far, after which such buffers come from, and stay in, the arenas; a fixed threshold
  // keeps them mmapped and gives them back when freed. MALLOC_MMAP_THRESHOLD_ wins.
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  std::vector<std::string> args(argv, argv + argc);
  rollouts::controller::ConfigParseResult parsed =
      rollouts::controller::ParseConfig(args, rollouts::clients::ProcessEnv());
  if (!parsed.config) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.output;
    return parsed.exit_code;
  }
  rollouts::controller::SetUpLogging(argv[0], parsed.config->log_level);
  return rollouts::controller::Run(*parsed.config);
}

// rollout-sandbox: one process that stands in for `consul agent -dev` and
// `nomad agent -dev` (raw_exec) on the API subset the project uses. Prints one line per
// agent ("consul http://127.0.0.1:8500") once both listen, runs until SIGINT/SIGTERM,
// then stops every task it started and every health check.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "clients/http/server.h"
#include "sandbox/common/faults.h"
#include "sandbox/common/scheduler.h"
#include "sandbox/consul/consul_agent.h"
#include "sandbox/nomad/nomad_agent.h"

namespace {

using rollouts::sandbox::ConsulAgent;
using rollouts::sandbox::ConsulAgentOptions;
using rollouts::sandbox::FaultInjector;
using rollouts::sandbox::Scheduler;

rollouts::http::ServerOptions ParseAddress(const std::string& text, const std::string& flag) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) throw CLI::ValidationError(flag, "expected HOST:PORT");
  rollouts::http::ServerOptions options;
  options.host = text.substr(0, colon);
  int port = -1;
  try {
    port = std::stoi(text.substr(colon + 1));
  } catch (const std::exception&) {
  }
  if (port < 0 || port > 65535) throw CLI::ValidationError(flag, "bad port in " + text);
  options.port = static_cast<uint16_t>(port);
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Local stand-in for the Consul and Nomad dev agents (see sandbox/README.md)"};
  std::string consul_addr = "127.0.0.1:8500";
  std::string nomad_addr = "127.0.0.1:4646";
  std::string data_dir;
  int stagger_ms = 50;
  std::string faults_file;
  ConsulAgentOptions consul_options;
  int check_registration_delay_ms = 15;
  bool apply_rejected_scale = false;
  app.add_option("--consul-addr", consul_addr, "Consul API HOST:PORT (port 0: pick a free one)");
  app.add_option("--nomad-addr", nomad_addr, "Nomad API HOST:PORT (port 0: pick a free one)");
  app.add_option("--data-dir", data_dir, "Task logs and allocation dirs (default: a temp dir)");
  app.add_option("--stagger", stagger_ms,
                 "Milliseconds between allocations' Consul updates in an in-place update")
      ->check(CLI::Range(0, 60000));
  app.add_option("--faults", faults_file, "JSON file of fault rules (see README)")
      ->check(CLI::ExistingFile);
  app.add_option("--consul-token", consul_options.acl_token,
                 "Turn ACLs on: requests need this token, others get 403");
  app.add_flag("--consul-stale-tag-filter", consul_options.stale_tag_filter,
               "Reproduce Consul 1.10.3's stale ?tag= streaming bug");
  app.add_option("--consul-check-delay", check_registration_delay_ms,
                 "Milliseconds between a service and its checks appearing in Consul")
      ->check(CLI::Range(0, 60000));
  app.add_flag("--nomad-apply-rejected-scale", apply_rejected_scale,
               "Reproduce Nomad 1.0's bug where a rejected scale still changes the count");
  CLI11_PARSE(app, argc, argv);
  consul_options.check_registration_delay = std::chrono::milliseconds(check_registration_delay_ms);
  (void)apply_rejected_scale;

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    if (data_dir.empty()) {
      data_dir = (std::filesystem::temp_directory_path() /
                  ("rollout-sandbox-" + std::to_string(::getpid())))
                     .string();
    }
    std::filesystem::create_directories(data_dir);

    Scheduler fault_scheduler;
    FaultInjector faults(fault_scheduler);
    if (!faults_file.empty()) faults.LoadFile(faults_file);

    ConsulAgent consul(consul_options);
    auto consul_server = rollouts::http::StartServer(
        ParseAddress(consul_addr, "--consul-addr"),
        faults.Wrap("consul", [&consul](rollouts::http::ServerRequest request,
                                        rollouts::http::Responder respond) {
          consul.Handle(std::move(request), std::move(respond));
        }));
    std::cout << "consul " << consul_server->base_url() << std::endl;

    rollouts::sandbox::NomadAgentOptions nomad_options;
    nomad_options.data_dir = data_dir;
    nomad_options.stagger = std::chrono::milliseconds(stagger_ms);
    nomad_options.apply_rejected_scale = apply_rejected_scale;
    rollouts::sandbox::NomadAgent nomad(consul.catalog(), nomad_options);
    auto nomad_server = rollouts::http::StartServer(
        ParseAddress(nomad_addr, "--nomad-addr"),
        faults.Wrap("nomad", [&nomad](rollouts::http::ServerRequest request,
                                      rollouts::http::Responder respond) {
          nomad.Handle(std::move(request), std::move(respond));
        }));
    // A Nomad agent registers itself in Consul, as the recordings' catalog shows.
    {
      rollouts::sandbox::ServiceRegistration server;
      server.id = "_nomad-server-sandbox-http";
      server.name = "nomad";
      server.address = "127.0.0.1";
      server.port = nomad_server->port();
      server.tags = {"http", "serf", "rpc"};
      rollouts::sandbox::CheckDefinition check;
      check.id = "_nomad-check-sandbox-server-http";
      check.name = "Nomad Server HTTP Check";
      check.type = "tcp";
      check.tcp = "127.0.0.1:" + std::to_string(nomad_server->port());
      check.interval = std::chrono::seconds(10);
      check.timeout = std::chrono::seconds(3);
      server.checks = {check};
      consul.catalog().Register(server);
      rollouts::sandbox::ServiceRegistration client = server;
      client.id = "_nomad-client-sandbox-http";
      client.name = "nomad-client";
      client.tags = {"http"};
      client.checks[0].id = "_nomad-check-sandbox-client-http";
      client.checks[0].name = "Nomad Client HTTP Check";
      consul.catalog().Register(client);
    }
    std::cout << "nomad " << nomad_server->base_url() << std::endl;

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::cerr << "rollout-sandbox: signal " << signal_number << ", shutting down" << std::endl;

    nomad_server->Stop();
    nomad.Shutdown();
    consul_server->Stop();
    consul.Shutdown();
    fault_scheduler.Stop();
  } catch (const std::exception& e) {
    std::cerr << "rollout-sandbox: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}

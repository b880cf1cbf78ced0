// The hello service's handler (HelloApp, same routes, metrics and knobs) served by our
// cpprestsdk-based server, clients/http/server.h, for the comparison in REPORT.md.
// Benchmark only: it has no graceful drain and LATENCY_MS would block a pool thread.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include "clients/http/server.h"
#include "examples/hello/app.h"
#include "examples/hello/config.h"

int main(int argc, char** argv) {
  hello::CommandLine flags;
  if (argc > 1) flags.port = argv[1];
  hello::HelloConfig config = hello::LoadConfig(flags, [](const std::string& name) {
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  });
  config.instance = "cpprest-bench";
  hello::HelloApp app(config);
  // cpprestsdk calls handlers from its thread pool; HelloApp is single-threaded.
  std::mutex app_mutex;

  rollouts::http::ServerOptions options;
  options.host = config.host;
  options.port = config.port;
  auto server = rollouts::http::StartServer(
      options, [&](rollouts::http::ServerRequest request, rollouts::http::Responder respond) {
        auto started = std::chrono::steady_clock::now();
        std::lock_guard lock(app_mutex);
        hello::Reply reply = app.Route(request.method, request.path);
        app.Finish(reply, std::chrono::steady_clock::now() - started);
        respond(rollouts::http::Response{
            reply.status, {{"Content-Type", reply.content_type}}, reply.body});
      });
  std::cout << "cpprest hello listening on " << server->base_url() << std::endl;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int received = 0;
  sigwait(&signals, &received);
  server->Stop();
  return 0;
}

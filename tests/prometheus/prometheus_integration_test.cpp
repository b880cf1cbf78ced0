// Runs the real Prometheus (Debian package, /usr/bin/prometheus) on 127.0.0.1 scraping
// itself, and checks that the client decodes what a real server answers: a real vector,
// 0, an empty result, NaN and the infinities, each distinctly, and a real error body.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "clients/http/server.h"
#include "clients/prometheus/prometheus_client.h"

namespace rollouts::prometheus {
namespace {

namespace fs = std::filesystem;

constexpr char kPrometheusBinary[] = "/usr/bin/prometheus";

// A port that was free a moment ago (bind to 0, read it back, release it).
uint16_t FreePort() {
  auto server =
      http::StartServer({}, [](http::ServerRequest, http::Responder r) { r(http::Response{}); });
  uint16_t port = server->port();
  server->Stop();
  return port;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PrometheusProcess {
 public:
  PrometheusProcess() {
    char tmpl[] = "/tmp/rollouts-prometheus-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    port_ = FreePort();
    std::ofstream(dir_ / "prometheus.yml") << "global:\n"
                                           << "  scrape_interval: 1s\n"
                                           << "  evaluation_interval: 1s\n"
                                           << "scrape_configs:\n"
                                           << "  - job_name: prometheus\n"
                                           << "    static_configs:\n"
                                           << "      - targets: ['127.0.0.1:" << port_ << "']\n";
    std::string config = "--config.file=" + (dir_ / "prometheus.yml").string();
    std::string storage = "--storage.tsdb.path=" + (dir_ / "data").string();
    std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
    std::string log = (dir_ / "prometheus.log").string();
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = std::freopen(log.c_str(), "w", stdout);
      if (out != nullptr) dup2(fileno(stdout), STDERR_FILENO);
      execl(kPrometheusBinary, kPrometheusBinary, config.c_str(), storage.c_str(), listen.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }

  ~PrometheusProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      bool exited = false;
      for (int i = 0; i < 100 && !exited; ++i) {  // up to ~10 s for a clean shutdown
        exited = waitpid(pid_, nullptr, WNOHANG) == pid_;
        if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!exited) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  bool running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return ReadFile(dir_ / "prometheus.log"); }

 private:
  fs::path dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

TEST(PrometheusIntegration, RealServerValuesDecodeDistinctly) {
  if (!fs::exists(kPrometheusBinary)) {
    GTEST_SKIP() << kPrometheusBinary << " is missing (apt-get install prometheus)";
  }
  PrometheusProcess prom;
  PrometheusClientOptions options;
  options.base_url = prom.base_url();
  options.request_timeout = std::chrono::seconds(5);
  options.retry.max_attempts = 1;
  HttpPrometheusClient client(options);

  // Wait (bounded) until Prometheus is up and has scraped itself once.
  bool have_up = false;
  std::string last_error;
  for (int attempt = 0; attempt < 240 && !have_up; ++attempt) {
    ASSERT_TRUE(prom.running()) << "prometheus exited:\n" << prom.log();
    auto up = client.Query("up");
    if (up.ok() && !up->empty()) {
      have_up = true;
    } else {
      last_error = up.ok() ? "empty result" : up.error().ToString();
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }
  ASSERT_TRUE(have_up) << "no `up` sample within the wait; last: " << last_error << "\n"
                       << prom.log();

  auto up = client.Query("up");
  ASSERT_TRUE(up.ok()) << up.error().ToString();
  EXPECT_EQ(up->type, ResultType::kVector);
  ASSERT_GE(up->samples.size(), 1u);
  EXPECT_EQ(up->samples[0].labels.at("job"), "prometheus");
  EXPECT_EQ(up->samples[0].labels.at("__name__"), "up");
  EXPECT_EQ(up->samples[0].value.kind, ValueKind::kNumber);
  EXPECT_EQ(up->samples[0].value.number, 1.0);
  EXPECT_GT(up->samples[0].timestamp, 0.0);

  auto zero = client.Query("vector(0)");
  ASSERT_TRUE(zero.ok()) << zero.error().ToString();
  EXPECT_EQ(zero->type, ResultType::kVector);
  ASSERT_EQ(zero->samples.size(), 1u);
  EXPECT_EQ(zero->samples[0].value.kind, ValueKind::kNumber);
  EXPECT_EQ(zero->samples[0].value.number, 0.0);

  auto empty = client.Query("sum(nonexistent_metric)");
  ASSERT_TRUE(empty.ok()) << empty.error().ToString();
  EXPECT_EQ(empty->type, ResultType::kVector);
  EXPECT_TRUE(empty->empty());

  auto nan = client.Query("0/0");
  ASSERT_TRUE(nan.ok()) << nan.error().ToString();
  EXPECT_EQ(nan->type, ResultType::kScalar);
  ASSERT_EQ(nan->samples.size(), 1u);
  EXPECT_EQ(nan->samples[0].value.kind, ValueKind::kNaN);

  auto inf = client.Query("1/0");
  ASSERT_TRUE(inf.ok()) << inf.error().ToString();
  ASSERT_EQ(inf->samples.size(), 1u);
  EXPECT_EQ(inf->samples[0].value.kind, ValueKind::kPositiveInfinity);

  auto neg_inf = client.Query("-1/0");
  ASSERT_TRUE(neg_inf.ok()) << neg_inf.error().ToString();
  EXPECT_EQ(neg_inf->samples[0].value.kind, ValueKind::kNegativeInfinity);

  auto at_time = client.Query("vector(1)", std::chrono::system_clock::now());
  ASSERT_TRUE(at_time.ok()) << at_time.error().ToString();
  EXPECT_EQ(at_time->samples.at(0).value.number, 1.0);

  auto bad = client.Query("sum(");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ApiErrorKind::kBadRequest);
  EXPECT_EQ(bad.error().status, 400);
  EXPECT_EQ(bad.error().message.rfind("bad_data: ", 0), 0u) << bad.error().message;

  auto matrix = client.Query("up[1m]");
  ASSERT_FALSE(matrix.ok());
  EXPECT_EQ(matrix.error().kind, ApiErrorKind::kDecode);
}

}  // namespace
}  // namespace rollouts::prometheus

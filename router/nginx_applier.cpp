#include "router/nginx_applier.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace rollouts::router {

int ProcessRunner::Run(const std::vector<std::string>& argv, std::string* output) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return -1;
  }
  if (pid == 0) {
    ::dup2(pipefd[1], STDOUT_FILENO);
    ::dup2(pipefd[1], STDERR_FILENO);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  std::array<char, 4096> buf{};
  ssize_t n;
  while ((n = ::read(pipefd[0], buf.data(), buf.size())) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0 && output != nullptr) output->append(buf.data(), static_cast<size_t>(n));
  }
  ::close(pipefd[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFileAtomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("open " + tmp + ": " + std::system_category().message(errno));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("write " + tmp + ": " + std::system_category().message(err));
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("rename " + tmp + ": " + std::system_category().message(err));
  }
}

NginxApplier::NginxApplier(NginxSetup setup, CommandRunner& runner, RouterMetrics* metrics)
    : setup_(std::move(setup)), runner_(runner), metrics_(metrics) {}

std::vector<std::string> NginxApplier::NginxArgs(std::vector<std::string> extra) const {
  std::vector<std::string> args{setup_.nginx_bin};
  if (!setup_.prefix.empty()) {
    args.emplace_back("-p");
    args.push_back(setup_.prefix);
  }
  args.emplace_back("-c");
  args.push_back(setup_.main_conf);
  for (auto& e : extra) args.push_back(std::move(e));
  return args;
}

ApplyResult NginxApplier::Apply(const std::vector<ServiceRoute>& routes) {
  return Apply(RenderRoutes(routes));
}

ApplyResult NginxApplier::Apply(const std::string& routes) {
  std::string previous = ReadFileOrEmpty(setup_.routes_file);
  if (previous == routes && file_is_live_) return {ApplyResult::Outcome::kUnchanged, ""};
  WriteFileAtomically(setup_.routes_file, routes);
  std::string test_output;
  if (runner_.Run(NginxArgs({"-t", "-q"}), &test_output) != 0) {
    // nginx only reads the file on reload, so the bad version was never live; putting
    // the previous one back keeps a later reload (or an nginx restart) safe.
    WriteFileAtomically(setup_.routes_file, previous);
    if (metrics_ != nullptr) metrics_->RecordReload(RouterMetrics::Reload::kTestFailed);
    return {ApplyResult::Outcome::kRejected, test_output};
  }
  std::string reload_output;
  if (runner_.Run(NginxArgs({"-s", "reload"}), &reload_output) != 0) {
    file_is_live_ = false;
    if (metrics_ != nullptr) metrics_->RecordReload(RouterMetrics::Reload::kReloadFailed);
    return {ApplyResult::Outcome::kApplyFailed, reload_output};
  }
  file_is_live_ = true;
  if (metrics_ != nullptr) metrics_->RecordReload(RouterMetrics::Reload::kOk);
  return {ApplyResult::Outcome::kChanged, ""};
}

}  // namespace rollouts::router

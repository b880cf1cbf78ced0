// Linked into every executable of a -DROLLOUTS_SANITIZE=ON build (top CMakeLists.txt).
//
// ASan and LSan honour ASAN_OPTIONS=log_path, so scripts/test-sanitizers.sh finds their reports
// in files whatever process made them. UBSan, linked beside ASan (GCC 12), ignores log_path and
// prints to stderr only: a finding in a process a test started (rolloutd, rollout-sandbox, a
// hello task) would end in a log the test deletes when it passes. libubsan calls
// __ubsan_on_report (a weak hook) for every report; this one also writes the report to
// $ROLLOUTS_UBSAN_REPORT_DIR/ubsan.<exe>.<pid>, which the script checks after ctest.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" void __ubsan_get_current_report_data(const char** kind, const char** message,
                                                const char** file, unsigned* line, unsigned* column,
                                                char** address);

extern "C" void __ubsan_on_report() {
  const char* dir = std::getenv("ROLLOUTS_UBSAN_REPORT_DIR");
  if (dir == nullptr || *dir == '\0') return;
  const char* kind = "";
  const char* message = "";
  const char* file = "";
  unsigned line = 0;
  unsigned column = 0;
  char* address = nullptr;
  __ubsan_get_current_report_data(&kind, &message, &file, &line, &column, &address);

  char exe[256] = "unknown";
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) exe[n] = '\0';
  const char* base = std::strrchr(exe, '/');
  base = base ? base + 1 : exe;

  char path[512];
  std::snprintf(path, sizeof path, "%s/ubsan.%s.%d", dir, base, static_cast<int>(getpid()));
  const int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char text[2048];
  const int len = std::snprintf(text, sizeof text,
                                "%s:%u:%u: runtime error (%s): %s\n  in %s (pid %d); the stack "
                                "trace is on that process's stderr\n",
                                file, line, column, kind, message, exe, static_cast<int>(getpid()));
  if (len > 0) {
    if (write(fd, text, std::min(static_cast<size_t>(len), sizeof text - 1)) < 0) {
      // Nothing more to do: the report is on stderr as well.
    }
  }
  close(fd);
}

#include "supervisor.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "dir_storage.h"
#include "fleet_core/version.h"
#include "ota_dir.h"

namespace host {
namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;

void onStop(int) {
  g_stop = 1;
}

constexpr auto kTick = std::chrono::milliseconds(100);
constexpr auto kStopGrace = std::chrono::seconds(5);
constexpr auto kCrashRestartDelay = std::chrono::seconds(1);

void say(const std::string& text) {
  std::cerr << "supervisor: " << text << std::endl;
}

// The factory image: this executable as slot 0.
bool installFactory(const OtaDir& ota) {
  std::error_code error;
  std::filesystem::create_directories(ota.slotDir(0), error);
  std::filesystem::copy_file("/proc/self/exe", ota.app(0),
                             std::filesystem::copy_options::overwrite_existing, error);
  if (error) return false;
  std::filesystem::permissions(ota.app(0), std::filesystem::perms(0755), error);
  return !error && writeFileAtomically(ota.slotDir(0) + "/version", fleet::kFirmwareVersion) &&
         ota.setBoot(0);
}

pid_t launch(const OtaDir& ota, int slot, const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setpgid(0, 0);
  const std::string app = ota.app(slot);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(app.c_str()));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  ::setenv(kOtaSlotEnv, std::to_string(slot).c_str(), 1);
  ::execv(app.c_str(), argv.data());
  std::cerr << "supervisor: cannot start " << app << std::endl;
  ::_exit(127);
}

// SIGTERM to the app's process group, SIGKILL after the grace; its exit status.
int terminate(pid_t pid) {
  ::kill(-pid, SIGTERM);
  const auto until = Clock::now() + kStopGrace;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > until) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(kTick);
  }
  return status;
}

void rollBack(const OtaDir& ota, int from, const std::string& why) {
  const std::optional<int> previous = ota.trialFrom();
  const int back = previous ? *previous : 1 - from;
  say("slot " + std::to_string(from) + " (" + ota.version(from) + ") " + why +
      ": rolling back to slot " + std::to_string(back) + " (" + ota.version(back) + ")");
  ota.setBoot(back);
  ota.endTrial();
}

struct Options {
  std::uint32_t confirm_s = 60;
  std::vector<std::string> app_args;
  std::string state_dir;
};

bool parse(int argc, char** argv, Options& options) {
  int i = 2;
  for (; i < argc && std::string(argv[i]) != "--"; ++i) {
    const std::string flag = argv[i];
    if (flag == "--confirm-s" && i + 1 < argc) {
      options.confirm_s = static_cast<std::uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else {
      return false;
    }
  }
  for (++i; i < argc; ++i) {
    options.app_args.emplace_back(argv[i]);
    if (options.app_args.back() == "--state-dir" && i + 1 < argc) options.state_dir = argv[i + 1];
  }
  return options.confirm_s > 0 && !options.state_dir.empty();
}

}  // namespace

int superviseMain(int argc, char** argv) {
  Options options;
  if (!parse(argc, argv, options)) {
    std::cerr << "usage: fleet-device --supervise [--confirm-s N] -- --id ... --state-dir DIR "
                 "...\n";
    return 2;
  }
  struct sigaction action {};
  action.sa_handler = &onStop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  const OtaDir ota(options.state_dir);
  if (!ota.boot() && !installFactory(ota)) {
    say("cannot install the factory image in " + ota.slotDir(0));
    return 1;
  }
  while (g_stop == 0) {
    const int slot = ota.boot().value_or(0);
    const bool trial = ota.onTrial();
    say("starting slot " + std::to_string(slot) + " (" + ota.version(slot) + ")" +
        (trial ? ", on trial for " + std::to_string(options.confirm_s) + " s" : ""));
    const pid_t pid = launch(ota, slot, options.app_args);
    if (pid < 0) return 1;
    const auto deadline = Clock::now() + std::chrono::seconds(options.confirm_s);
    int status = 0;
    bool exited = false;
    while (!exited && g_stop == 0) {
      std::this_thread::sleep_for(kTick);
      exited = ::waitpid(pid, &status, WNOHANG) == pid;
      if (!exited && trial && ota.onTrial() && Clock::now() > deadline) {
        terminate(pid);
        rollBack(ota, slot, "did not confirm in time");
        break;
      }
    }
    if (g_stop != 0) {
      status = exited ? status : terminate(pid);
      return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    if (!exited) continue;  // rolled back
    if (trial && ota.onTrial()) {
      rollBack(ota, slot, "exited before it confirmed");
      continue;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == kRebootExitCode) continue;
    say("slot " + std::to_string(slot) + " stopped (status " + std::to_string(status) +
        "): restarting");
    std::this_thread::sleep_for(kCrashRestartDelay);
  }
  return 0;
}

}  // namespace host

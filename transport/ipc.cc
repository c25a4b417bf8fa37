// ipc-service addresses, the activation registry, and the transport that starts a provider on
// demand (include/offsync/ipc.h).
#include "offsync/ipc.h"

#include <algorithm>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

namespace offsync {
namespace {

bool valid_service_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') return false;
  }
  return true;
}

// Whether something accepts connections on the Unix socket at `path`.
bool listening(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// Starts argv detached from this process (its own session, reparented to init, stdio on
// /dev/null, no other descriptor of this process), so that the provider outlives the client that
// woke it.
Status spawn_detached(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int report[2];  // the grandchild's exec error, if any, comes back through this pipe
  if (pipe2(report, O_CLOEXEC) != 0) return Status::internal(std::string("pipe: ") + std::strerror(errno));
  pid_t child = fork();
  if (child < 0) return Status::internal(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    setsid();
    if (fork() != 0) _exit(0);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    // Nothing else of the app's goes with it: an inherited pipe or socket would stay open for as
    // long as the provider runs (a caller waiting for EOF on its output would wait for ever).
    if (report[1] > 3) close_range(3, static_cast<unsigned>(report[1]) - 1, 0);
    close_range(static_cast<unsigned>(std::max(report[1], 2)) + 1, ~0U, 0);
    execv(args[0], args.data());
    int e = errno;
    (void)!write(report[1], &e, sizeof e);
    _exit(127);
  }
  close(report[1]);
  int status = 0;
  waitpid(child, &status, 0);
  int exec_errno = 0;
  ssize_t n = read(report[0], &exec_errno, sizeof exec_errno);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    return Status::invalid_argument("cannot start " + argv[0] + ": " + std::strerror(exec_errno));
  }
  return Status::ok();
}

class IpcTransport final : public Transport {
 public:
  IpcTransport(IpcAddress address, std::unique_ptr<Transport> inner, int64_t activation_timeout_ms)
      : address_(std::move(address)), inner_(std::move(inner)), activation_timeout_ms_(activation_timeout_ms) {}

  Result<HttpResponse> send(const HttpRequest& request) override {
    auto answer = inner_->send(request);
    if (answer || listening(address_.socket)) return answer;  // answered, or a failure of its own
    // Nothing listens (never started, or gone after an idle exit): start it and send again. A
    // request the old provider took before going would be answered again from its store (same key).
    if (Status s = ensure_listening(); !s) return s;
    return inner_->send(request);
  }

 private:
  Status ensure_listening() {
    std::lock_guard<std::mutex> lock(mu_);
    if (listening(address_.socket)) return Status::ok();
    if (!address_.service || address_.service->exec.empty()) {
      return Status::transient("nothing listens on " + address_.socket);
    }
    if (Status s = spawn_detached(address_.service->exec); !s) return s;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(activation_timeout_ms_);
    while (std::chrono::steady_clock::now() < deadline) {
      if (listening(address_.socket)) return Status::ok();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return Status::transient("started " + address_.service->name + " but nothing listened on " + address_.socket +
                             " within " + std::to_string(activation_timeout_ms_) + " ms");
  }

  IpcAddress address_;
  std::unique_ptr<Transport> inner_;
  int64_t activation_timeout_ms_;
  std::mutex mu_;
};

}  // namespace

std::string default_services_dir() {
  if (const char* dir = std::getenv("OFFSYNC_SERVICES_DIR"); dir && *dir) return dir;
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime) {
    return std::string(runtime) + "/offsync/services";
  }
  return "/run/user/" + std::to_string(getuid()) + "/offsync/services";
}

Result<std::vector<std::string>> split_exec(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) {
        word += line[++i];
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote) return Status::invalid_argument(std::string("unterminated ") + quote + " quote in Exec");
  if (in_word) words.push_back(std::move(word));
  return words;
}

Result<IpcService> find_ipc_service(const std::string& name, const std::string& services_dir) {
  if (!valid_service_name(name)) {
    return Status::invalid_argument("'" + name + "' is not a service name (a letter, then letters, digits, '.', '-', '_')");
  }
  std::string dir = services_dir.empty() ? default_services_dir() : services_dir;
  std::string path = dir + "/" + name + ".service";
  std::ifstream in(path);
  if (!in) return Status::not_found("no service " + name + " is registered (" + path + " cannot be read)");
  IpcService service;
  std::string line, section;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#' || line[start] == ';') continue;
    if (line[start] == '[') {
      section = line.substr(start);
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) return Status::invalid_argument(path + ":" + std::to_string(number) + ": not KEY=VALUE");
    if (section != "[Service]") continue;
    std::string key = line.substr(start, eq - start);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    std::string value = line.substr(eq + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (key == "Name") service.name = value;
    if (key == "Socket") service.socket = value;
    if (key == "Exec") {
      auto words = split_exec(value);
      if (!words) return Status::invalid_argument(path + ":" + std::to_string(number) + ": " + words.status().message());
      service.exec = std::move(*words);
    }
  }
  if (service.name != name) return Status::invalid_argument(path + ": Name= must be " + name);
  if (service.socket.empty() || service.socket[0] != '/') {
    return Status::invalid_argument(path + ": Socket= must be an absolute path");
  }
  if (!service.exec.empty() && service.exec[0][0] != '/') {
    return Status::invalid_argument(path + ": Exec= must start with an absolute path (no search, no shell)");
  }
  return service;
}

Result<IpcAddress> resolve_ipc_service(std::string_view value, const std::string& services_dir) {
  if (value.empty()) return Status::invalid_argument("the ipc-service address is empty");
  if (value.rfind("unix:", 0) == 0) {
    std::string path(value.substr(5));
    if (path.empty() || path[0] != '/') {
      return Status::invalid_argument("ipc-service '" + std::string(value) + "' must be unix: and an absolute path");
    }
    if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return Status::invalid_argument("ipc-service socket path is longer than a Unix socket path can be");
    }
    return IpcAddress{path, std::nullopt};
  }
  if (value.find(':') != std::string_view::npos || value.find('/') != std::string_view::npos) {
    return Status::invalid_argument("ipc-service '" + std::string(value) +
                                    "' is neither unix:/absolute/path nor a service name");
  }
  auto service = find_ipc_service(std::string(value), services_dir);
  if (!service) return service.status();
  std::string socket = service->socket;
  return IpcAddress{socket, std::move(*service)};
}

Result<std::string> ipc_service_from_uri(std::string_view uri) {
  size_t query = uri.find('?');
  if (query == std::string_view::npos) return Status::invalid_argument("the launch URI has no query (no ipc-service)");
  std::string_view rest = uri.substr(query + 1);
  rest = rest.substr(0, rest.find('#'));
  std::optional<std::string> found;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) != "ipc-service") continue;
    if (found) return Status::invalid_argument("the launch URI names ipc-service twice");
    if (eq == std::string_view::npos) return Status::invalid_argument("the launch URI's ipc-service has no value");
    auto decoded = percent_decode(pair.substr(eq + 1));
    if (!decoded) return Status::invalid_argument("the launch URI's ipc-service is badly percent-encoded");
    found = std::move(*decoded);
  }
  if (!found) return Status::invalid_argument("the launch URI has no ipc-service parameter");
  return *found;
}

Result<std::unique_ptr<Transport>> make_ipc_transport(const IpcTransportOptions& options) {
  auto address = resolve_ipc_service(options.service, options.services_dir);
  if (!address) return address.status();
  CurlTransportOptions curl;
  curl.base_url = "http://localhost";  // the Host header; the bytes go to the socket
  curl.unix_socket = address->socket;
  curl.total_timeout_ms = options.total_timeout_ms;
  auto inner = make_curl_transport(curl);
  if (!inner) return inner.status();
  return std::unique_ptr<Transport>(
      std::make_unique<IpcTransport>(std::move(*address), std::move(*inner), options.activation_timeout_ms));
}

}  // namespace offsync

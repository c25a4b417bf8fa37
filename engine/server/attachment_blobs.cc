#include "engine/server/attachment_blobs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "engine/common/crypto.h"

namespace offsync {
namespace {

class StoreBlobs final : public AttachmentBlobs {
 public:
  explicit StoreBlobs(std::unique_ptr<storage::ServerStore>& store) : store_(store) {}
  void write(const std::string& principal, const std::string& id, int64_t offset, std::string_view bytes) override {
    store_->put_chunk(principal, id, offset, bytes);
  }
  std::string read(const std::string& principal, const std::string& id, int64_t offset, int64_t length) override {
    return store_->read_chunks(principal, id, offset, length);
  }
  void remove(const std::string& principal, const std::string& id) override { store_->delete_chunks(principal, id); }

 private:
  std::unique_ptr<storage::ServerStore>& store_;
};

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  int e = errno;
  std::string message = what + " " + path.string() + ": " + std::strerror(e);
  if (e == ENOSPC || e == EDQUOT) throw StorageFull(message);
  throw std::runtime_error(message);
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void sync_directory(const std::filesystem::path& dir) {
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0 || ::fsync(d.fd) != 0) fail("cannot sync the directory", dir);
}

class DirectoryBlobs final : public AttachmentBlobs {
 public:
  explicit DirectoryBlobs(std::filesystem::path root) : root_(std::move(root)) {}

  void write(const std::string& principal, const std::string& id, int64_t offset, std::string_view bytes) override {
    std::filesystem::path dir = dir_of(principal);
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        errno = ec.value();
        fail("cannot create", dir);
      }
      sync_directory(root_);
    }
    std::filesystem::path path = dir / id;
    bool created = !std::filesystem::exists(path, ec);
    Fd f{::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600)};
    if (f.fd < 0) fail("cannot open", path);
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::pwrite(f.fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot write", path);
      done += static_cast<size_t>(n);
    }
    if (::fdatasync(f.fd) != 0) fail("cannot sync", path);
    if (created) sync_directory(dir);
  }

  std::string read(const std::string& principal, const std::string& id, int64_t offset, int64_t length) override {
    std::filesystem::path path = dir_of(principal) / id;
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) {
      if (errno == ENOENT) return {};
      fail("cannot open", path);
    }
    std::string out(static_cast<size_t>(std::max<int64_t>(length, 0)), '\0');
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(f.fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("cannot read", path);
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    out.resize(done);
    return out;
  }

  void remove(const std::string& principal, const std::string& id) override {
    std::filesystem::path path = dir_of(principal) / id;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail("cannot remove", path);
  }

 private:
  // Principals are user names: hashed, so that none can name a path.
  std::filesystem::path dir_of(const std::string& principal) const {
    return root_ / hex(sha256(principal)).substr(0, 32);
  }
  std::filesystem::path root_;
};

}  // namespace

std::unique_ptr<AttachmentBlobs> store_blobs(std::unique_ptr<storage::ServerStore>& store) {
  return std::make_unique<StoreBlobs>(store);
}

Result<std::unique_ptr<AttachmentBlobs>> directory_blobs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir, ec)) {
    return Status::invalid_argument("--attachments-dir " + dir + " is not a directory that can be created: " +
                                    (ec ? ec.message() : std::string("not a directory")));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return Status::invalid_argument("--attachments-dir " + dir + " is not writable: " + std::strerror(errno));
  }
  return std::unique_ptr<AttachmentBlobs>(std::make_unique<DirectoryBlobs>(std::filesystem::absolute(dir)));
}

}  // namespace offsync

// A minimal HTTP/1.1 server for the metrics and health endpoints: GET only,
// one request per connection, bound to one address (127.0.0.1 by default).
// It is not a general web server; prometheus-cpp, the usual choice, is not
// packaged in Debian 12.
//
// Thread safety: Start/Stop from one thread; the handler runs on the
// server's own thread and must be thread-safe.
#ifndef STORYD_DAEMON_HTTP_SERVER_H_
#define STORYD_DAEMON_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace storyd {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; version=0.0.4; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const std::string& path)>;

  explicit HttpServer(Handler handler);
  ~HttpServer();

  // Binds and starts serving; port 0 picks a free port (see port()).
  absl::Status Start(const std::string& address, int port);
  void Stop();
  int port() const { return port_; }

 private:
  void Serve();

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace storyd

#endif  // STORYD_DAEMON_HTTP_SERVER_H_

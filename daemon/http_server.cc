#include "daemon/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/strings.h"

namespace storyd {
namespace {

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

}  // namespace

HttpServer::HttpServer(Handler handler) : handler_(std::move(handler)) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(const std::string& address, int port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0)
    return absl::InternalError(StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in socket_address{};
  socket_address.sin_family = AF_INET;
  socket_address.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &socket_address.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        StrCat("metrics address '", address, "' is not IPv4"));
  }
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&socket_address),
             sizeof(socket_address)) < 0 ||
      ::listen(listen_fd_, 16) < 0) {
    std::string error = std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return absl::UnavailableError(
        StrCat("metrics endpoint ", address, ":", port, ": ", error));
  }
  socklen_t length = sizeof(socket_address);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&socket_address),
                &length);
  port_ = ntohs(socket_address.sin_port);
  thread_ = std::thread(&HttpServer::Serve, this);
  return absl::OkStatus();
}

void HttpServer::Stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

void HttpServer::Serve() {
  while (!stopping_.load()) {
    pollfd listen_poll{listen_fd_, POLLIN, 0};
    if (::poll(&listen_poll, 1, 200) <= 0) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    // Read the request head (bounded in size and time).
    std::string request;
    char buffer[2048];
    while (request.find("\r\n\r\n") == std::string::npos &&
           request.size() < 8192) {
      pollfd client_poll{client, POLLIN, 0};
      if (::poll(&client_poll, 1, 1000) <= 0) break;
      ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    HttpResponse response;
    size_t first_space = request.find(' ');
    size_t second_space = request.find(' ', first_space + 1);
    if (first_space == std::string::npos || second_space == std::string::npos) {
      response = {400, "text/plain", "bad request\n"};
    } else if (request.compare(0, first_space, "GET") != 0) {
      response = {405, "text/plain", "GET only\n"};
    } else {
      response = handler_(
          request.substr(first_space + 1, second_space - first_space - 1));
    }
    std::string reply =
        StrCat("HTTP/1.1 ", response.status, " ", ReasonPhrase(response.status),
               "\r\nContent-Type: ", response.content_type,
               "\r\nContent-Length: ", response.body.size(),
               "\r\nConnection: close\r\n\r\n", response.body);
    size_t sent = 0;
    while (sent < reply.size()) {
      ssize_t n = ::send(client, reply.data() + sent, reply.size() - sent,
                         MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::close(client);
  }
}

}  // namespace storyd

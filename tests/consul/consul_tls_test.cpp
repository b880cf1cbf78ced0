// HTTPS to a local server whose certificate comes from a throwaway CA made with the
// openssl CLI: the client configured from CONSUL_* variables connects when it trusts
// that CA and refuses otherwise.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "clients/common/agent_config.h"
#include "clients/consul/consul_client.h"
#include "clients/http/server.h"

namespace rollouts::consul {
namespace {

namespace fs = std::filesystem;

constexpr char kDnsName[] = "consul.test.local";

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "consul-tls-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

bool Run(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// A CA, and two server certificates it signs: one for IP 127.0.0.1 + the DNS name, one
// for the DNS name only (to exercise CONSUL_TLS_SERVER_NAME).
class Pki {
 public:
  Pki() {
    ok_ = Run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=rollouts test CA'"
              " -addext 'basicConstraints=critical,CA:TRUE'"
              " -addext 'keyUsage=critical,keyCertSign,cRLSign'"
              " -keyout " +
              dir_ / "ca.key" + " -out " + dir_ / "ca.pem") &&
          Issue("ip", "127.0.0.1", std::string("IP:127.0.0.1,DNS:") + kDnsName) &&
          Issue("dns", kDnsName, std::string("DNS:") + kDnsName) &&
          Run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=client'"
              " -keyout " +
              dir_ / "client.key" + " -out " + dir_ / "client.pem");
  }
  bool ok() const { return ok_; }
  std::string file(const std::string& name) const { return dir_ / name; }

 private:
  bool Issue(const std::string& name, const std::string& cn, const std::string& san) {
    std::ofstream(dir_ / (name + ".ext"))
        << "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        << "extendedKeyUsage=serverAuth\nsubjectAltName=" << san << "\n";
    return Run("openssl req -newkey rsa:2048 -nodes -subj '/CN=" + cn + "' -keyout " +
               dir_ / (name + ".key") + " -out " + dir_ / (name + ".csr")) &&
           Run("openssl x509 -req -days 2 -in " + dir_ / (name + ".csr") + " -CA " +
               dir_ / "ca.pem" + " -CAkey " + dir_ / "ca.key" + " -CAcreateserial -out " +
               dir_ / (name + ".pem") + " -extfile " + dir_ / (name + ".ext"));
  }

  TempDir dir_;
  bool ok_ = false;
};

std::unique_ptr<http::Server> HttpsLeader(const Pki& pki, const std::string& cert) {
  http::ServerOptions options;
  options.tls = true;
  options.tls_files = http::ServerTls{pki.file(cert + ".pem"), pki.file(cert + ".key")};
  return http::StartServer(options, [](http::ServerRequest req, http::Responder respond) {
    if (req.path == "/v1/status/leader") {
      respond(http::Response{200, {{"Content-Type", "application/json"}}, "\"127.0.0.1:8300\""});
    } else {
      respond(http::Response{404, {}, ""});
    }
  });
}

ApiResult<std::string> LeaderVia(std::map<std::string, std::string> env) {
  HttpConsulClientOptions options;
  options.retry.max_attempts = 1;
  options.request_timeout = std::chrono::seconds(10);
  HttpConsulClient client(clients::ConsulConfigFromEnv(clients::FixedEnv(std::move(env))), options);
  return client.StatusLeader();
}

void ExpectTlsFailure(const ApiResult<std::string>& r) {
  ASSERT_FALSE(r.ok()) << "connected although the certificate must not be trusted";
  EXPECT_EQ(r.error().kind, ApiErrorKind::kTransport) << r.error().ToString();
  EXPECT_NE(r.error().message.find("tls"), std::string::npos) << r.error().ToString();
}

class ConsulTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new Pki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override {
    if (!pki_->ok()) GTEST_FAIL() << "openssl could not create the test certificates";
  }
  static Pki* pki_;
};
Pki* ConsulTls::pki_ = nullptr;

TEST_F(ConsulTls, ConnectsWithTheCa) {
  auto server = HttpsLeader(*pki_, "ip");
  auto r = LeaderVia(
      {{"CONSUL_HTTP_ADDR", server->base_url()}, {"CONSUL_CACERT", pki_->file("ca.pem")}});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, "127.0.0.1:8300");
}

TEST_F(ConsulTls, HttpSslTurnsASchemelessAddressIntoHttps) {
  auto server = HttpsLeader(*pki_, "ip");
  auto r = LeaderVia({{"CONSUL_HTTP_ADDR", "127.0.0.1:" + std::to_string(server->port())},
                      {"CONSUL_HTTP_SSL", "true"},
                      {"CONSUL_CACERT", pki_->file("ca.pem")}});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, "127.0.0.1:8300");
}

TEST_F(ConsulTls, FailsWithoutTheCa) {
  auto server = HttpsLeader(*pki_, "ip");
  ExpectTlsFailure(LeaderVia({{"CONSUL_HTTP_ADDR", server->base_url()}}));
}

TEST_F(ConsulTls, FailsWithAnotherCa) {
  auto server = HttpsLeader(*pki_, "ip");
  // A self-signed certificate that did not sign the server's.
  ExpectTlsFailure(LeaderVia(
      {{"CONSUL_HTTP_ADDR", server->base_url()}, {"CONSUL_CACERT", pki_->file("client.pem")}}));
}

TEST_F(ConsulTls, ClientCertificateFromEnvIsLoaded) {
  auto server = HttpsLeader(*pki_, "ip");
  auto r = LeaderVia({{"CONSUL_HTTP_ADDR", server->base_url()},
                      {"CONSUL_CACERT", pki_->file("ca.pem")},
                      {"CONSUL_CLIENT_CERT", pki_->file("client.pem")},
                      {"CONSUL_CLIENT_KEY", pki_->file("client.key")}});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
}

TEST_F(ConsulTls, NameMismatchFailsWithoutServerName) {
  auto server = HttpsLeader(*pki_, "dns");  // certificate for consul.test.local only
  ExpectTlsFailure(LeaderVia(
      {{"CONSUL_HTTP_ADDR", server->base_url()}, {"CONSUL_CACERT", pki_->file("ca.pem")}}));
}

TEST_F(ConsulTls, ServerNameVerifiesTheCertificateName) {
  auto server = HttpsLeader(*pki_, "dns");
  auto r = LeaderVia({{"CONSUL_HTTP_ADDR", server->base_url()},
                      {"CONSUL_CACERT", pki_->file("ca.pem")},
                      {"CONSUL_TLS_SERVER_NAME", kDnsName}});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, "127.0.0.1:8300");
}

TEST_F(ConsulTls, ServerNameStillRequiresATrustedCa) {
  auto server = HttpsLeader(*pki_, "dns");
  ExpectTlsFailure(
      LeaderVia({{"CONSUL_HTTP_ADDR", server->base_url()}, {"CONSUL_TLS_SERVER_NAME", kDnsName}}));
}

TEST_F(ConsulTls, WrongServerNameFails) {
  auto server = HttpsLeader(*pki_, "dns");
  ExpectTlsFailure(LeaderVia({{"CONSUL_HTTP_ADDR", server->base_url()},
                              {"CONSUL_CACERT", pki_->file("ca.pem")},
                              {"CONSUL_TLS_SERVER_NAME", "other.test.local"}}));
}

}  // namespace
}  // namespace rollouts::consul

#include "router/nginx_config.h"

#include <gtest/gtest.h>

namespace rollouts::router {
namespace {

TEST(RenderRoutes, OneUpstreamPerServiceWithKeepaliveAndRetries) {
  ServiceRoute r;
  r.service = "hello.web";
  r.listen = "127.0.0.1:8080";
  r.preview_listen = "127.0.0.1:8081";
  r.active.version = "v2";
  r.active.backends = {{"127.0.0.1", 3001, "v2"}, {"127.0.0.1", 3002, "v2"}};
  r.preview = {{"127.0.0.1", 4001, "v3"}};
  std::string conf = RenderRoutes({r});
  EXPECT_NE(conf.find("upstream svc_hello_web_active {"), std::string::npos) << conf;
  EXPECT_NE(conf.find("server 127.0.0.1:3001 max_fails=0;"), std::string::npos);
  EXPECT_NE(conf.find("server 127.0.0.1:3002 max_fails=0;"), std::string::npos);
  EXPECT_NE(conf.find("upstream svc_hello_web_preview {"), std::string::npos);
  EXPECT_NE(conf.find("server 127.0.0.1:4001 max_fails=0;"), std::string::npos);
  EXPECT_NE(conf.find("listen 127.0.0.1:8080;"), std::string::npos);
  EXPECT_NE(conf.find("listen 127.0.0.1:8081;"), std::string::npos);
  EXPECT_NE(conf.find("keepalive 64;"), std::string::npos);
  EXPECT_NE(conf.find("proxy_next_upstream error timeout"), std::string::npos);
  EXPECT_NE(conf.find("proxy_set_header Connection \"\";"), std::string::npos);
}

TEST(RenderRoutes, NoBackendsAndNoLastGoodAnswers503InsteadOfAnEmptyUpstream) {
  ServiceRoute r;
  r.service = "hello";
  r.listen = "127.0.0.1:8080";
  std::string conf = RenderRoutes({r});
  EXPECT_EQ(conf.find("upstream "), std::string::npos) << conf;
  EXPECT_NE(conf.find("return 503"), std::string::npos) << conf;
}

}  // namespace
}  // namespace rollouts::router

// A route's requests: its middlewares first, then the origin (proxy()).
#include <functional>
#include <utility>

#include "http/http.h"

namespace http {

namespace {

// The origin's answer with the middlewares' response headers set on its head.
class HeaderEditor final : public ResponseWriter {
 public:
  HeaderEditor(ResponseWriter& inner, const MiddlewareResult& r, const RequestHead& req)
      : inner_(inner), r_(r), req_(req) {}
  Task<base::Result<void>> writeHead(ResponseHead head) override {
    applyResponseHeaders(r_, req_, head);
    return inner_.writeHead(std::move(head));
  }
  Task<base::Result<void>> writeBody(const char* data, size_t len) override {
    return inner_.writeBody(data, len);
  }
  Task<base::Result<void>> finish() override { return inner_.finish(); }
  Task<base::Result<void>> flush() override { return inner_.flush(); }
  bool headWritten() const override { return inner_.headWritten(); }
  void onAbandoned(std::function<void()> fn) override { inner_.onAbandoned(std::move(fn)); }

 private:
  ResponseWriter& inner_;
  const MiddlewareResult& r_;
  const RequestHead& req_;
};

}  // namespace

Task<MiddlewareResult> runMiddlewares(OriginPool& pool, const config::IngressRule& rule,
                                      RequestHead& req, ResponseWriter& client) {
  MiddlewareResult r;
  // The synchronous steps up to each forwardAuth, then its exchange, then on.
  for (size_t next = 0; applyMiddlewares(rule, req, &next, &r) && next < rule.run.size(); ++next) {
    if (!co_await forwardAuth(pool, *rule.run[next], req, client, &r)) break;
  }
  co_return r;
}

Task<void> serveRoute(OriginPool& pool, const config::IngressRule& rule, RequestHead& req,
                      BodyReader& body, ResponseWriter& out) {
  if (rule.run.empty()) {
    co_await proxy(pool, rule, req, body, out);
    co_return;
  }
  MiddlewareResult r = co_await runMiddlewares(pool, rule, req, out);
  if (r.answer) {
    applyResponseHeaders(r, req, *r.answer);
    r.answer->content_length = r.body.size();
    if (!co_await out.writeHead(std::move(*r.answer))) co_return;
    if (req.method != "HEAD" && !co_await out.writeBody(r.body.data(), r.body.size())) co_return;
    (void)co_await out.finish();
    co_return;
  }
  if (r.response.empty()) {
    co_await proxy(pool, rule, req, body, out);
    co_return;
  }
  HeaderEditor edited(out, r, req);
  co_await proxy(pool, rule, req, body, edited);
}

}  // namespace http

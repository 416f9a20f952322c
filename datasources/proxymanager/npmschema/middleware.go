package npmschema

import (
	"net/http"

	"github.com/appmanage/appmanage/datasources/contract"
)

// Middleware wraps a (fake) NPM server: each request and response is
// buffered and checked, and violations go to report. Traffic passes through
// unchanged; connections hijacked by fault injection are not checked.
func (s *Spec) Middleware(report func(error)) func(http.Handler) http.Handler {
	return contract.WrapHandler(nil, s.checkExchange, report)
}

// Transport checks a client's traffic instead (for tests against a real
// NPM): wrap the client's transport; base nil means http.DefaultTransport.
func (s *Spec) Transport(report func(error), base http.RoundTripper) http.RoundTripper {
	return contract.WrapTransport(nil, s.checkExchange, report, base)
}

func (s *Spec) checkExchange(x contract.Exchange) error {
	return s.Check(x.Request.Method, x.Request.URL.Path, x.RequestBody, x.Status, x.Body)
}

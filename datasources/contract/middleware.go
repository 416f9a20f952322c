package contract

import "net/http"

// Middleware wraps a fake's handler so that every exchange is checked
// against the OpenAPI spec; violations go to report (see WrapHandler).
func Middleware(v *Validator, report func(err error)) func(http.Handler) http.Handler {
	return WrapHandler(v.Ignored, v.checkExchange, report)
}

// Transport validates the traffic of a client instead of a server: wrap a
// client's HTTPClient.Transport with it to check a real server's answers (and
// our requests) against the spec. base nil means http.DefaultTransport.
func Transport(v *Validator, report func(err error), base http.RoundTripper) http.RoundTripper {
	return WrapTransport(v.Ignored, v.checkExchange, report, base)
}

func (v *Validator) checkExchange(x Exchange) error {
	return v.Check(x.Request, x.RequestBody, x.Status, x.Header, x.Body)
}

package httpapi

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// bodyDeadline bounds how long a client may take to send a request body.
// The server has no ReadTimeout, which would also cut websocket and SSE
// streams, so without this a client trickling a body holds a connection
// and a goroutine for as long as it likes. The deadline is lifted once the
// body has been read, so a long operation is never cut by it.
func bodyDeadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d > 0 && r.Body != nil && r.Body != http.NoBody && !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				rc := http.NewResponseController(w)
				if rc.SetReadDeadline(time.Now().Add(d)) == nil {
					r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// deadlineBody lifts the read deadline when the body has been read whole.
// A body that fails (the deadline passed) keeps it: after the handler
// answers, net/http reads what is left of the body before it sends the
// answer, and without the deadline that read would wait for the stalled
// client forever, so the client would never get its 408.
type deadlineBody struct {
	io.ReadCloser
	once sync.Once
	lift func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.lift)
	}
	return n, err
}

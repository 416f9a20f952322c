package httpapi

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A client that stops sending its body half way is cut off after the
// deadline; one that sent its body is answered however long the handler
// then takes.
func TestBodyDeadline(t *testing.T) {
	const deadline = 200 * time.Millisecond
	readErr := make(chan error, 1)
	srv := httptest.NewServer(bodyDeadline(deadline)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		if err != nil {
			http.Error(w, "body not read", http.StatusRequestTimeout)
			return
		}
		time.Sleep(3 * deadline) // a slow operation after the body arrived
		_, _ = io.WriteString(w, "done")
	})))
	t.Cleanup(srv.Close)

	// Trickle: headers announce 100 bytes, 10 arrive, then nothing.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_, _ = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("a half-sent body was read whole")
		}
		if waited := time.Since(start); waited > 10*deadline {
			t.Fatalf("the stalled body was cut after %v, want about %v", waited, deadline)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stalled body held the handler for 5s")
	}

	// Complete body, slow handler: the deadline no longer applies.
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("whole body"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(bufio.NewReader(resp.Body))
	if err := <-readErr; err != nil || resp.StatusCode != 200 || string(b) != "done" {
		t.Fatalf("slow handler after a whole body: read %v, %d %q", err, resp.StatusCode, b)
	}
}

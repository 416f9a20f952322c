package library

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// compose-go reports warnings (an obsolete `version` attribute, "yes" used
// as a boolean, ...) on logrus' process-wide logger, as plain text on
// stderr whatever --log-format says. The bridge below takes that logger
// over once: logrus writes nothing itself, and every entry goes through
// slog instead.
//
//   - While a library load checks a compose file, entries are collected for
//     that app folder and logged once, with the folder, through the load's
//     logger (loads check compose files one at a time, under composeMu).
//   - Any other time (compose-go used elsewhere in the process), they go to
//     the logger given to RouteComposeLogs.
//
// logrus is global, so this is too: it is the one place that touches it.

var (
	bridgeOnce sync.Once
	bridge     = &logBridge{}
	// composeMu serialises compose checks so that what compose-go logs
	// during one belongs to it.
	composeMu sync.Mutex
)

type logBridge struct {
	mu       sync.Mutex
	capture  *[]string    // set while a library load checks one compose file
	fallback *slog.Logger // RouteComposeLogs; nil until then
	orig     io.Writer    // logrus' output before the bridge took it over
}

func installBridge() {
	bridgeOnce.Do(func() {
		std := logrus.StandardLogger()
		bridge.orig = std.Out
		std.SetOutput(io.Discard)
		std.AddHook(bridge)
	})
}

// RouteComposeLogs sends what compose-go logs outside a library load (when
// other code in the process loads compose files) to log, at the matching
// level, instead of logrus' own plain-text output. Library loads route their
// compose warnings through their own logger whether or not this was called.
func RouteComposeLogs(log *slog.Logger) {
	installBridge()
	bridge.mu.Lock()
	bridge.fallback = log
	bridge.mu.Unlock()
}

// Levels implements logrus.Hook.
func (*logBridge) Levels() []logrus.Level { return logrus.AllLevels }

// Fire implements logrus.Hook.
func (b *logBridge) Fire(e *logrus.Entry) error {
	msg := strings.TrimSpace(e.Message)
	b.mu.Lock()
	if b.capture != nil {
		if msg != "" {
			*b.capture = append(*b.capture, msg)
		}
		b.mu.Unlock()
		return nil
	}
	log := b.fallback
	b.mu.Unlock()
	if log == nil {
		// Nobody asked for routing: keep logrus' own behaviour.
		if line, err := e.String(); err == nil && b.orig != nil {
			_, _ = io.WriteString(b.orig, line)
		}
		return nil
	}
	attrs := make([]slog.Attr, 0, len(e.Data)+1)
	attrs = append(attrs, slog.String("source", "compose-go"))
	for k, v := range e.Data {
		attrs = append(attrs, slog.Any(k, v))
	}
	log.LogAttrs(context.Background(), slogLevel(e.Level), msg, attrs...)
	return nil
}

func slogLevel(l logrus.Level) slog.Level {
	switch l {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel:
		return slog.LevelError
	case logrus.WarnLevel:
		return slog.LevelWarn
	case logrus.InfoLevel:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// captureCompose runs fn with compose-go's log entries collected, and
// returns them.
func captureCompose(fn func() error) ([]string, error) {
	installBridge()
	composeMu.Lock()
	defer composeMu.Unlock()
	var got []string
	bridge.mu.Lock()
	bridge.capture = &got
	bridge.mu.Unlock()
	defer func() {
		bridge.mu.Lock()
		bridge.capture = nil
		bridge.mu.Unlock()
	}()
	err := fn()
	bridge.mu.Lock()
	out := got
	bridge.mu.Unlock()
	return out, err
}

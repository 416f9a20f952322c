package fake

import (
	"testing"
	"time"
)

func TestRestartsByFollowsDockersBackoff(t *testing.T) {
	for _, c := range []struct {
		after time.Duration
		want  int
	}{
		{0, 0}, {99 * time.Millisecond, 0}, {100 * time.Millisecond, 1}, {299 * time.Millisecond, 1},
		{300 * time.Millisecond, 2}, {700 * time.Millisecond, 3}, {1500 * time.Millisecond, 4}, {10 * time.Minute, 18},
	} {
		if got := restartsBy(c.after); got != c.want {
			t.Errorf("restartsBy(%s) = %d, want %d", c.after, got, c.want)
		}
	}
}

package cli

import (
	"testing"

	"github.com/appmanage/appmanage/cli/gql"
)

func TestPullLine(t *testing.T) {
	tests := []struct {
		name string
		p    gql.OperationEventsOperationEventsOperationEventPullPullProgress
		want string
	}{
		{"about the image", gql.OperationEventsOperationEventsOperationEventPullPullProgress{Image: "nginx:1.27", Status: "Pulling from library/nginx"},
			"pull nginx:1.27: Pulling from library/nginx"},
		{"layer without bytes", gql.OperationEventsOperationEventsOperationEventPullPullProgress{Image: "nginx:1.27", Layer: new("1a2b"), Status: "Waiting"},
			"pull nginx:1.27 layer 1a2b: Waiting"},
		{"bytes", gql.OperationEventsOperationEventsOperationEventPullPullProgress{Image: "nginx:1.27", Layer: new("1a2b"), Status: "Downloading", Current: new(1536 * 1024), Total: new(3 * 1024 * 1024)},
			"pull nginx:1.27 layer 1a2b: Downloading 1.5 MiB/3.0 MiB (50%)"},
		{"small", gql.OperationEventsOperationEventsOperationEventPullPullProgress{Image: "x", Layer: new("l"), Status: "Extracting", Current: new(512), Total: new(2048)},
			"pull x layer l: Extracting 512 B/2.0 KiB (25%)"},
		{"zero total", gql.OperationEventsOperationEventsOperationEventPullPullProgress{Image: "x", Status: "Downloading", Current: new(5), Total: new(0)},
			"pull x: Downloading"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pullLine(&tc.p); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

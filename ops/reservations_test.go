package ops

import (
	"context"
	"encoding/json"
	"testing"
)

// Reservations lists what active operations hold, by prefix, and forgets
// it at their terminal state; LatestOfKind finds each app's newest
// operation of one kind, whatever came after it.
func TestReservationsAndLatestOfKind(t *testing.T) {
	w := newWorld()
	release := make(chan struct{})
	steps := fourSteps(w)
	steps[0].Do = func(ctx context.Context, r *Run) error {
		if r.AppID() == "holder" {
			<-release
		}
		return nil
	}
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps}, Workflow{Kind: "restart", Steps: fourSteps(w)})
	ctx := context.Background()
	holder, err := e.Submit(ctx, SubmitRequest{Kind: "install", AppID: "holder", Input: map[string]int{"n": 1},
		Reservations: []string{"port:1:9001", "port:1:53/udp", "port:2:9001", "domain:a.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := e.Reservations(ctx, "port:1:")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Resource != "port:1:53/udp" || rs[1].Resource != "port:1:9001" ||
		rs[0].OperationID != holder.ID || rs[0].AppID != "holder" || rs[0].Kind != "install" {
		t.Fatalf("reservations of port:1: = %+v", rs)
	}
	close(release)
	waitOp(t, e, holder.ID)
	if rs, err := e.Reservations(ctx, "port:"); err != nil || len(rs) != 0 {
		t.Fatalf("after the terminal state: %+v %v", rs, err)
	}

	second, err := e.Submit(ctx, SubmitRequest{Kind: "install", AppID: "holder", Input: map[string]int{"n": 2}})
	if err != nil {
		t.Fatal(err)
	}
	waitOp(t, e, second.ID)
	restart, err := e.Submit(ctx, SubmitRequest{Kind: "restart", AppID: "holder"})
	if err != nil {
		t.Fatal(err)
	}
	waitOp(t, e, restart.ID)
	latest, err := e.LatestOfKind(ctx, "install", []string{"holder", "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	op := latest["holder"]
	var in map[string]int
	if len(latest) != 1 || op == nil || op.ID != second.ID || json.Unmarshal(op.Input, &in) != nil || in["n"] != 2 {
		t.Fatalf("latest install = %+v (input %v)", op, in)
	}
}

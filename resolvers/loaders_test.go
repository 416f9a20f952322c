package resolvers

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/appmanage/appmanage/apps"
)

// Every operation, on any transport, gets loaders of its own, and every
// field of it the same ones.
func TestWithLoadersGivesEachOperationItsOwnLoaders(t *testing.T) {
	r := &Resolver{Domain: &apps.Service{}}
	mw := WithLoaders(r)
	var seen []*Loaders
	run := func() {
		mw(context.Background(), func(ctx context.Context) graphql.ResponseHandler {
			a, b := r.loaders(ctx), r.loaders(ctx)
			if a != b {
				t.Error("two fields of one operation got different loaders")
			}
			seen = append(seen, a)
			return nil
		})
	}
	run()
	run()
	if seen[0] == nil || seen[0] == seen[1] {
		t.Fatalf("two operations shared loaders (%p, %p)", seen[0], seen[1])
	}
}

package resolvers

import (
	"strconv"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/apps"
)

func TestAppPagination(t *testing.T) {
	list := []apps.AppSummary{
		{AppRef: apps.AppRef{ID: "a", EndpointID: 1}},
		{AppRef: apps.AppRef{ID: "b", EndpointID: 1}},
		{AppRef: apps.AppRef{ID: "b", EndpointID: 2}},
		{AppRef: apps.AppRef{ID: "c", EndpointID: 1}},
	}
	ids := func(first *int, after *string) ([]string, bool, int) {
		t.Helper()
		p, err := parsePage(first, after)
		if err != nil {
			t.Fatal(err)
		}
		c := p.connection(list)
		var out []string
		for _, e := range c.Edges {
			out = append(out, e.Node.ID+"@"+strconv.Itoa(*e.Node.EndpointID))
		}
		return out, c.PageInfo.HasNextPage, c.TotalCount
	}
	two, zero := 2, 0
	cases := []struct {
		first *int
		after *string
		want  string
		next  bool
	}{
		{nil, nil, "a@1 b@1 b@2 c@1", false},
		{&two, nil, "a@1 b@1", true},
		{&two, ptr(encodeCursor(apps.AppRef{ID: "b", EndpointID: 1})), "b@2 c@1", false},
		{nil, ptr(encodeCursor(apps.AppRef{ID: "c", EndpointID: 1})), "", false},
		{&zero, nil, "", true},
		// A cursor of an app that is gone still pages from its place.
		{&two, ptr(encodeCursor(apps.AppRef{ID: "bb", EndpointID: 9})), "c@1", false},
	}
	for _, c := range cases {
		got, next, total := ids(c.first, c.after)
		if s := strings.Join(got, " "); s != c.want || next != c.next || total != 4 {
			t.Errorf("first %v after %v: %q next %v total %d; want %q next %v", deref(c.first), deref(c.after), s, next, total, c.want, c.next)
		}
	}
	for _, bad := range []string{"!!", encodeCursor(apps.AppRef{ID: "a"})[:3], "YXBwOng6eQ"} {
		if _, err := parsePage(nil, &bad); apperr.CodeOf(err) != apperr.ValidationFailed {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
	neg, big := -1, maxPage+1
	for _, f := range []*int{&neg, &big} {
		if _, err := parsePage(f, nil); apperr.CodeOf(err) != apperr.ValidationFailed {
			t.Errorf("first %d: %v", *f, err)
		}
	}
}

package encache

import "testing"

func TestCacheDropsValuesOfAnEarlierRevision(t *testing.T) {
	var c Cache[string, []byte]
	if _, ok := c.Get(1, "a"); ok {
		t.Fatal("empty cache has an entry")
	}
	c.Put(1, "a", []byte(`{"a":1}`))
	if b, ok := c.Get(1, "a"); !ok || string(b) != `{"a":1}` {
		t.Fatalf("same revision: %q %v", b, ok)
	}
	if _, ok := c.Get(2, "a"); ok {
		t.Fatal("a value of revision 1 was served at revision 2")
	}
	c.Put(2, "b", []byte(`2`))
	if _, ok := c.Get(2, "a"); ok || len(c.m) != 1 {
		t.Fatalf("revision 1 entries kept: %v", c.m)
	}
}

func TestJoinedReusesOnlyTheSameParts(t *testing.T) {
	a, b := []byte(`{"a":1}`), []byte(`{"b":2}`)
	var j Joined
	first := j.Join([][]byte{a, b})
	if string(first) != `[{"a":1},{"b":2}]` {
		t.Fatalf("joined %s", first)
	}
	if again := j.Join([][]byte{a, b}); &again[0] != &first[0] {
		t.Fatal("the same parts were joined again")
	}
	equal := []byte(`{"b":2}`) // equal bytes, other memory: joined anew
	if got := j.Join([][]byte{a, equal}); &got[0] == &first[0] || string(got) != string(first) {
		t.Fatalf("other parts: %s reused=%v", got, &got[0] == &first[0])
	}
	if got := j.Join([][]byte{b}); string(got) != `[{"b":2}]` {
		t.Fatalf("one part: %s", got)
	}
	if got := j.Join(nil); string(got) != `[]` {
		t.Fatalf("no parts: %s", got)
	}
}

func TestListsJoinPerKeyAndRevision(t *testing.T) {
	a := []byte(`1`)
	var l Lists[string]
	first := l.Join(1, "k", [][]byte{a})
	if again := l.Join(1, "k", [][]byte{a}); &again[0] != &first[0] {
		t.Fatal("same key, revision and parts joined again")
	}
	if other := l.Join(1, "other", [][]byte{a}); &other[0] == &first[0] {
		t.Fatal("another key shared the array")
	}
	if next := l.Join(2, "k", [][]byte{a}); &next[0] == &first[0] || string(next) != "[1]" {
		t.Fatal("an array of an earlier revision was served")
	}
}

package upstream

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
)

type memoItem struct {
	Name   string
	Labels map[string]string
}

// TestDecodeMemoReusesOnlyByteEqualAnswers: an answer equal to the previous
// one for the same request is not decoded again (it is the same list); any
// change in the bytes, or another request, is decoded, reusing the
// elements that did not change.
func TestDecodeMemoReusesOnlyByteEqualAnswers(t *testing.T) {
	var mu sync.Mutex
	body := `[{"Name":"a","Labels":{"k":"1"}},{"Name":"b"}]`
	c := newCaller(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b := body
		mu.Unlock()
		if r.URL.Query().Get("other") != "" {
			b = `[{"Name":"other"}]`
		}
		_, _ = w.Write([]byte(b))
	})
	var memo DecodeMemo
	list := func(query string) []memoItem {
		t.Helper()
		var out []memoItem
		call := Call{Method: "GET", Path: "/list", Result: &out, Memo: &memo}
		if query != "" {
			call.Query = map[string][]string{"other": {query}}
		}
		if _, err := c.Do(context.Background(), call); err != nil {
			t.Fatal(err)
		}
		return out
	}
	names := func(items []memoItem) string {
		var s []string
		for _, it := range items {
			s = append(s, it.Name)
		}
		return strings.Join(s, ",")
	}

	hits := func() MemoHits { return memo.Hits() }

	first := list("")
	if names(first) != "a,b" || hits() != (MemoHits{}) {
		t.Fatalf("first answer: %q, hits %+v", names(first), hits())
	}
	second := list("")
	if names(second) != "a,b" || hits() != (MemoHits{Answers: 1}) {
		t.Fatalf("same bytes again: %q, hits %+v; want a,b from the memo", names(second), hits())
	}
	if &second[0] != &first[0] || second[0].Labels["k"] != "1" {
		t.Fatalf("an unchanged answer is not the same list (labels %v)", second[0].Labels)
	}

	if got := names(list("x")); got != "other" || hits() != (MemoHits{Answers: 1}) {
		t.Fatalf("another query: %q, hits %+v; want its own decode", got, hits())
	}

	// Same length, one byte of the first element differs: that element is
	// decoded, the second is reused.
	mu.Lock()
	body = `[{"Name":"a","Labels":{"k":"2"}},{"Name":"b"}]`
	mu.Unlock()
	third := list("")
	if names(third) != "a,b" || third[0].Labels["k"] != "2" || hits() != (MemoHits{Answers: 1, Elements: 1}) {
		t.Fatalf("one element changed: %q labels %v, hits %+v; want a fresh a and a reused b", names(third), third[0].Labels, hits())
	}
	if &third[0] == &first[0] {
		t.Fatal("a changed answer reused the old list")
	}
	if got := list(""); &got[0] != &third[0] || got[0].Labels["k"] != "2" || hits() != (MemoHits{Answers: 2, Elements: 1}) {
		t.Fatalf("after the change: %q labels %v, hits %+v", names(got), got[0].Labels, hits())
	}

	// Elements reordered and one added: the known ones are reused.
	mu.Lock()
	body = `[{"Name":"b"},{"Name":"c"},{"Name":"a","Labels":{"k":"2"}}]`
	mu.Unlock()
	if got := list(""); names(got) != "b,c,a" || got[2].Labels["k"] != "2" || hits() != (MemoHits{Answers: 2, Elements: 3}) {
		t.Fatalf("reordered: %q, hits %+v", names(got), hits())
	}

	mu.Lock()
	body = `null`
	mu.Unlock()
	if got := list(""); got != nil {
		t.Fatalf("null answer gave %v", got)
	}
	mu.Lock()
	body = `[{"Name":1}]`
	mu.Unlock()
	var out []memoItem
	if _, err := c.Do(context.Background(), Call{Method: "GET", Path: "/list", Result: &out, Memo: &memo}); err == nil {
		t.Fatal("an undecodable element was accepted")
	}
}

// TestDecodeMemoKeepsItsOwnCopyOfAnObject: a struct is copied into the
// caller's variable, so editing it does not change what the memo hands out
// next.
func TestDecodeMemoKeepsItsOwnCopyOfAnObject(t *testing.T) {
	var m DecodeMemo
	var a memoItem
	if err := decodeMemoized(&m, "k", []byte(`{"Name":"x"}`), &a); err != nil {
		t.Fatal(err)
	}
	a.Name = "edited"
	var b memoItem
	if err := decodeMemoized(&m, "k", []byte(`{"Name":"x"}`), &b); err != nil || b.Name != "x" || m.Hits().Answers != 1 {
		t.Fatalf("second decode: %+v %v hits %+v", b, err, m.Hits())
	}
}

func TestDecodeMemoStaysSmall(t *testing.T) {
	var m DecodeMemo
	var v []memoItem
	for i := range 3 * memoMaxKeys {
		if err := decodeMemoized(&m, "key"+strings.Repeat("x", i), []byte(`[]`), &v); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(m.entries); n > memoMaxKeys {
		t.Fatalf("%d keys kept, want at most %d", n, memoMaxKeys)
	}
}

// TestDecodeMemoMatchesPlainDecoding: whatever the answers and however
// they change between polls (elements edited, added, dropped, reordered,
// strings full of brackets, quotes and escapes), what the memo hands back
// equals a plain decode of the same bytes.
func TestDecodeMemoMatchesPlainDecoding(t *testing.T) {
	type item struct {
		ID     int               `json:"id"`
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
		Ports  []int             `json:"ports"`
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tricky := []string{"plain", `br[ack]{ets}`, `quo"te`, `back\slash`, "uni\u00e9\u2603", `,"x":1}`, "tab\tnew\nline", ""}
	randItem := func(id int) item {
		it := item{ID: id, Name: tricky[rng.IntN(len(tricky))], Labels: map[string]string{}}
		for range rng.IntN(3) {
			it.Labels[tricky[rng.IntN(len(tricky))]] = tricky[rng.IntN(len(tricky))]
		}
		for range rng.IntN(3) {
			it.Ports = append(it.Ports, rng.IntN(65536))
		}
		return it
	}
	var m DecodeMemo
	list := []item{}
	for poll := range 300 {
		switch rng.IntN(5) {
		case 0: // add
			list = append(list, randItem(poll))
		case 1: // edit one
			if len(list) > 0 {
				list[rng.IntN(len(list))] = randItem(poll)
			}
		case 2: // drop one
			if len(list) > 0 {
				i := rng.IntN(len(list))
				list = append(list[:i:i], list[i+1:]...)
			}
		case 3: // reorder
			rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
		} // 4: unchanged
		body, err := json.Marshal(list)
		if err != nil {
			t.Fatal(err)
		}
		if rng.IntN(4) == 0 { // whitespace an upstream may add
			body = []byte(strings.ReplaceAll(string(body), `},{`, "},\n  {"))
		}
		var want, got []item
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatal(err)
		}
		if err := decodeMemoized(&m, "k", body, &got); err != nil {
			t.Fatalf("poll %d: %v", poll, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("poll %d: memo gave\n%+v\nplain decoding gave\n%+v", poll, got, want)
		}
	}
	if h := m.Hits(); h.Answers == 0 || h.Elements == 0 {
		t.Fatalf("the run reused nothing (%+v): it tests nothing", h)
	}
}

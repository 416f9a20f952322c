package upstream

import (
	"reflect"
	"sync"

	"github.com/tidwall/gjson"
)

// memoMaxKeys bounds a DecodeMemo: the polled lists are few (one per
// endpoint and kind), while filtered lists (one app's containers) come and
// go and must not pile up.
const memoMaxKeys = 32

// DecodeMemo avoids decoding again what the same request's previous answer
// already decoded. The read side polls lists that grow with the number of
// apps (stacks, containers, proxy hosts); between two polls they mostly
// come back unchanged, or with a few entries changed (a container's "Up 5
// minutes" becomes "Up 6 minutes"), and decoding megabytes of JSON on every
// poll was most of a large install's query time.
//
// An answer byte-equal to the previous one reuses its value whole. Else, for
// a list, each element byte-equal to an element of the previous answer
// reuses that element's value, and only the others are decoded. Reuse is
// decided by comparing the bytes themselves, so it never returns stale data.
//
// What a caller gets is shared with every caller that got the same answer
// (an unchanged list is the very same slice each time, which lets callers
// keep what they derived from it): it must not be modified.
type DecodeMemo struct {
	mu      sync.Mutex
	entries map[string]*memoEntry
	hits    MemoHits
}

// MemoHits counts reuse: Answers reused whole, Elements reused from a
// changed list.
type MemoHits struct{ Answers, Elements uint64 }

type memoEntry struct {
	text  string                   // the answer
	val   reflect.Value            // what it decoded to (not a pointer to it)
	elems map[string]reflect.Value // a list's elements by their text (substrings of text)
}

func (m *DecodeMemo) get(key string) *memoEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.entries[key]
}

func (m *DecodeMemo) put(key string, e *memoEntry, hits MemoHits) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hits.Answers += hits.Answers
	m.hits.Elements += hits.Elements
	if e == nil {
		return
	}
	if m.entries == nil {
		m.entries = map[string]*memoEntry{}
	}
	if _, ok := m.entries[key]; !ok && len(m.entries) >= memoMaxKeys {
		for k := range m.entries { // any one: the map is small and an entry is cheap to refill
			delete(m.entries, k)
			break
		}
	}
	m.entries[key] = e
}

// Hits reports how much was reused without decoding.
func (m *DecodeMemo) Hits() MemoHits {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits
}

// decodeMemoized decodes body into result (a non-nil pointer), reusing what
// earlier answers under the same key decoded to.
func decodeMemoized(m *DecodeMemo, key string, body []byte, result any) error {
	dst := reflect.ValueOf(result).Elem()
	prev := m.get(key)
	if prev != nil && prev.val.Type() != dst.Type() {
		prev = nil
	}
	if prev != nil && prev.text == string(body) {
		dst.Set(prev.val)
		m.put(key, nil, MemoHits{Answers: 1})
		return nil
	}
	text := string(body)
	if dst.Kind() != reflect.Slice || !gjson.Valid(text) {
		if err := decodeJSON(body, result); err != nil {
			return err
		}
		own := reflect.New(dst.Type()).Elem() // not dst: that is the caller's variable
		own.Set(dst)
		m.put(key, &memoEntry{text: text, val: own}, MemoHits{})
		return nil
	}
	list := gjson.Parse(text)
	if !list.IsArray() { // null, or the wrong type: the decoder says which
		return decodeJSON(body, result)
	}
	elemType := dst.Type().Elem()
	var raws []string
	list.ForEach(func(_, v gjson.Result) bool { raws = append(raws, v.Raw); return true })
	out := reflect.MakeSlice(dst.Type(), len(raws), len(raws))
	elems := make(map[string]reflect.Value, len(raws))
	var reused uint64
	for i, raw := range raws {
		v, ok := reflect.Value{}, false
		if prev != nil {
			v, ok = prev.elems[raw]
		}
		if ok {
			reused++
		} else {
			p := reflect.New(elemType)
			if err := decodeJSON([]byte(raw), p.Interface()); err != nil {
				return err
			}
			v = p.Elem()
		}
		out.Index(i).Set(v)
		elems[raw] = v
	}
	dst.Set(out)
	m.put(key, &memoEntry{text: text, val: out, elems: elems}, MemoHits{Elements: reused})
	return nil
}

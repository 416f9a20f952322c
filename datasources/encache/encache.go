// Package encache keeps a fake server's JSON encodings of its state while
// the state does not change. The fakes run in our own process in tests and
// benchmarks, so the CPU they spend encoding large lists (a thousand
// containers or proxy hosts on every poll) would be counted against the
// code under test; a real upstream spends it in its own process. A cache
// answers with the same bytes the encoder would write.
package encache

// Cache maps keys to values made at one revision of a server's state. The
// server bumps its revision on every change; the first use at a new
// revision drops everything made before. A Cache is guarded by the
// server's own lock; the zero value is ready.
type Cache[K comparable, V any] struct {
	rev uint64
	m   map[K]V
}

// Get returns the value stored for k at revision rev.
func (c *Cache[K, V]) Get(rev uint64, k K) (V, bool) {
	c.at(rev)
	v, ok := c.m[k]
	return v, ok
}

// Put stores the value of k at revision rev.
func (c *Cache[K, V]) Put(rev uint64, k K, v V) {
	c.at(rev)
	c.m[k] = v
}

func (c *Cache[K, V]) at(rev uint64) {
	if c.m == nil || c.rev != rev {
		c.m = map[K]V{}
		c.rev = rev
	}
}

// Lists keeps, per key (a route and its query), the JSON array last joined
// for it at one revision.
type Lists[K comparable] struct{ c Cache[K, *Joined] }

// Join returns the array of parts for key at revision rev, reusing the
// last one joined when the parts are the same.
func (l *Lists[K]) Join(rev uint64, key K, parts [][]byte) []byte {
	j, ok := l.c.Get(rev, key)
	if !ok {
		j = &Joined{}
		l.c.Put(rev, key, j)
	}
	return j.Join(parts)
}

// Joined is a JSON array joined from encoded elements, served again while
// it is asked for with the very same elements (the same cached slices, not
// merely equal bytes), so an unchanged list costs no copy.
type Joined struct {
	parts [][]byte
	body  []byte
}

// Join returns the array of parts.
func (j *Joined) Join(parts [][]byte) []byte {
	if j.body != nil && sameSlices(parts, j.parts) {
		return j.body
	}
	j.parts, j.body = parts, JoinArray(parts)
	return j.body
}

// sameSlices reports whether a and b hold the same slices of the same
// memory. The parts of a Joined stay referenced by it, so memory they use
// cannot be reused for other bytes meanwhile.
func sameSlices(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) || (len(a[i]) > 0 && &a[i][0] != &b[i][0]) {
			return false
		}
	}
	return true
}

// JoinArray writes encoded values as one JSON array, in one allocation.
func JoinArray(entries [][]byte) []byte {
	n := 2 + len(entries)
	for _, e := range entries {
		n += len(e)
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, e := range entries {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return append(out, ']')
}

//go:build realservers

package suite

const realTag = true

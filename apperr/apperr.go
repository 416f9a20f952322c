// Package apperr defines the typed errors the domain returns and the stable
// codes the GraphQL layer publishes in extensions.code. It sits at the bottom
// of the dependency graph so every package can return these errors without
// knowing about GraphQL.
package apperr

import (
	"errors"
	"fmt"
)

// Code is a stable, client-visible error class (DESIGN.md §7).
type Code string

const (
	Unauthenticated     Code = "UNAUTHENTICATED"
	Forbidden           Code = "FORBIDDEN"
	NotFound            Code = "NOT_FOUND"
	ValidationFailed    Code = "VALIDATION_FAILED"
	PreconditionFailed  Code = "PRECONDITION_FAILED"
	Conflict            Code = "CONFLICT"
	UpstreamUnavailable Code = "UPSTREAM_UNAVAILABLE"
	UpstreamRejected    Code = "UPSTREAM_REJECTED"
	NotImplemented      Code = "NOT_IMPLEMENTED"
	Internal            Code = "INTERNAL"

	// Codes of the HTTP layer: the request itself, not an operation, is
	// wrong. They are the client's doing and never logged above debug.

	// BadRequest: malformed JSON, a wrong content type or method, a missing
	// query, an unknown operation name, a malformed websocket message.
	BadRequest Code = "BAD_REQUEST"
	// RequestTooLarge: the body (or GET query string, or websocket
	// message) is over the --max-body limit.
	RequestTooLarge Code = "REQUEST_TOO_LARGE"
	// BatchingNotSupported: the body is a JSON array of operations.
	BatchingNotSupported Code = "BATCHING_NOT_SUPPORTED"
	// PersistedQueryNotFound: an automatic persisted query hash the server
	// does not know; the client sends the full query again (Apollo's
	// PersistedQueryLink does this by itself).
	PersistedQueryNotFound Code = "PERSISTED_QUERY_NOT_FOUND"
)

// Error is a domain error with a code. Field names the offending input for
// VALIDATION_FAILED / PRECONDITION_FAILED; Upstream names gitea|portainer|npm
// for UPSTREAM_* codes. Err, when set, is the wrapped cause (never shown to
// clients for INTERNAL).
type Error struct {
	Code     Code
	Message  string
	Field    string
	Upstream string
	// EndpointID names the Portainer endpoint the error is about (0: none),
	// published as extensions.endpointId.
	EndpointID int
	Err        error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil && e.Code != Internal {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, &Error{Code: X}) match by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Field == "" && t.Code == e.Code
}

// New returns an error with the given code and message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports a VALIDATION_FAILED error on an input field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: ValidationFailed, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Precondition reports a PRECONDITION_FAILED error on an input field.
func Precondition(field, format string, args ...any) *Error {
	return &Error{Code: PreconditionFailed, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotImplementedYet names a capability that is not built yet.
func NotImplementedYet(what string) *Error {
	return &Error{Code: NotImplemented, Message: "not implemented yet: " + what}
}

// Wrap attaches a code to a cause.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of err, or Internal when err carries none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

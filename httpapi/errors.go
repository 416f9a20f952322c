package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/upstream"
)

// presentError maps domain errors onto stable extensions.code values
// (DESIGN.md §7). Internal errors are logged with a reference and shown
// without their cause, so nothing private leaks to clients.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		if gerr.Extensions != nil && gerr.Extensions["code"] != nil {
			return gerr // parse/validation/complexity errors carry their own code
		}
		ext := map[string]any{}
		var ae *apperr.Error
		var ue *upstream.APIError
		switch {
		case errors.As(err, &ae):
			ext["code"] = string(ae.Code)
			if ae.Field != "" {
				ext["field"] = ae.Field
			}
			if ae.Upstream != "" {
				ext["upstream"] = ae.Upstream
			}
			if ae.Code == apperr.Internal {
				ref := logInternal(ctx, log, err)
				gerr.Message = "internal error (ref " + ref + ")"
				ext["ref"] = ref
			} else {
				gerr.Message = ae.Error()
			}
		case errors.As(err, &ue):
			// A datasource error that the domain did not translate.
			code := apperr.UpstreamRejected
			if upstream.Transient(ue.Status) {
				code = apperr.UpstreamUnavailable
			}
			ext["code"] = string(code)
			ext["upstream"] = ue.Upstream
			gerr.Message = ue.Error()
		case errors.Is(err, context.DeadlineExceeded):
			ext["code"] = string(apperr.UpstreamUnavailable)
			gerr.Message = "timed out"
		default:
			ref := logInternal(ctx, log, err)
			ext["code"] = string(apperr.Internal)
			ext["ref"] = ref
			gerr.Message = "internal error (ref " + ref + ")"
		}
		gerr.Extensions = ext
		return gerr
	}
}

func logInternal(ctx context.Context, log *slog.Logger, err error) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	ref := hex.EncodeToString(b)
	path := ""
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		path = fc.Path().String()
	}
	args := []any{"ref", ref, "path", path, "error", err}
	// An INTERNAL apperr.Error hides its cause from Error() (so clients never
	// see it); the log is where the cause must show up.
	if ae, ok := apperr.As(err); ok && ae.Code == apperr.Internal && ae.Err != nil {
		args = append(args, "cause", ae.Err)
	}
	log.ErrorContext(ctx, "internal error in resolver", args...)
	return ref
}

// recoverPanic turns a resolver panic into an opaque internal error; the
// stack is logged here, where it is still available.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return apperr.Wrap(apperr.Internal, fmt.Errorf("panic: %v", p), "internal error")
	}
}

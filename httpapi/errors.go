package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
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
		if gerr.Extensions["code"] == errcode.ValidationFailed {
			requestMistake(ctx, gerr)
		}
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
			if ae.EndpointID != 0 {
				ext["endpointId"] = ae.EndpointID
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

// requestMistake turns two of gqlgen's GRAPHQL_VALIDATION_FAILED errors,
// which are about the request rather than the document, into BAD_REQUEST:
// no query at all, and an operationName the document does not define (or
// none for a document of several operations). It tells them by the
// operation context's state, not by gqlgen's messages.
func requestMistake(ctx context.Context, gerr *gqlerror.Error) {
	if !graphql.HasOperationContext(ctx) {
		return
	}
	oc := graphql.GetOperationContext(ctx)
	switch {
	case oc.Doc == nil && strings.TrimSpace(oc.RawQuery) == "":
		gerr.Message = `missing query: the request needs a "query" string`
	case oc.Doc != nil && oc.Operation == nil:
		var names []string
		for _, op := range oc.Doc.Operations {
			names = append(names, strconv.Quote(op.Name))
		}
		if oc.OperationName != "" {
			gerr.Message = fmt.Sprintf("unknown operation name %q: the document defines %s", oc.OperationName, strings.Join(names, ", "))
		} else {
			gerr.Message = fmt.Sprintf("the document defines %d operations (%s): name the one to run in operationName", len(names), strings.Join(names, ", "))
		}
	default:
		return
	}
	gerr.Extensions["code"] = string(apperr.BadRequest)
	gerr.Locations = nil
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

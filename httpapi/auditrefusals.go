package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// RefusedMutations is told the root fields of a mutation the key check
// refused (401: no key or a wrong one), for the audit log.
type RefusedMutations func(ctx context.Context, fields []string)

// auditRefusals sits outside the key check: when that answers 401 (it
// does without reading the body), the body is read (at most limit bytes)
// and parsed, and its mutation's root fields are handed to hook. Larger
// bodies are not audited (the HTTP log still has the 401).
func auditRefusals(hook RefusedMutations, limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		if ww.Status() != http.StatusUnauthorized {
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil || int64(len(body)) > limit {
			return
		}
		if fields := mutationFields(body); len(fields) > 0 {
			hook(r.Context(), fields)
		}
	})
}

// mutationFields returns the root field names of the mutation a GraphQL
// POST body selects, or nil when it selects none (or does not parse).
func mutationFields(body []byte) []string {
	var req struct {
		Query         string `json:"query"`
		OperationName string `json:"operationName"`
	}
	if json.Unmarshal(body, &req) != nil || req.Query == "" {
		return nil
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: req.Query})
	if err != nil {
		return nil
	}
	var op *ast.OperationDefinition
	switch {
	case req.OperationName != "":
		op = doc.Operations.ForName(req.OperationName)
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	}
	if op == nil || op.Operation != ast.Mutation {
		return nil
	}
	var out []string
	for _, sel := range op.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			out = append(out, f.Name)
		}
	}
	return out
}

// ClientAddr is the client's address as the HTTP layer saw it (the TCP
// peer, without the port), for requests to /graphql and /hooks/gitea.
func ClientAddr(ctx context.Context) string { return clientAddr(ctx) }

package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/appmanage/appmanage/auth"
)

// adminFields need the admin scope whatever their operation type.
var adminFields = map[string]bool{
	"apiKeys": true, "createApiKey": true, "revokeApiKey": true, "updateSettings": true, "settings": true,
	"auditLog": true, "testUpstream": true,
	"sweepOrphans": true, // it deletes repositories, proxy hosts and volumes installation-wide
}

// AuthorizeRootField enforces scopes in one place, so no resolver can forget
// it: queries and subscriptions need read, mutations need write, key and
// settings management needs admin.
func AuthorizeRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	fc := graphql.GetRootFieldContext(ctx)
	oc := graphql.GetOperationContext(ctx)
	need := auth.ScopeRead
	if oc != nil && oc.Operation != nil && oc.Operation.Operation == ast.Mutation {
		need = auth.ScopeWrite
	}
	if fc != nil && adminFields[fc.Field.Name] {
		need = auth.ScopeAdmin
	}
	if err := auth.Require(ctx, need); err != nil {
		graphql.AddError(ctx, err)
		return graphql.Null
	}
	return next(ctx)
}

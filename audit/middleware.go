package audit

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/auth"
)

// Redacted replaces a secret value in the stored arguments.
const Redacted = "[redacted]"

// SettingSecrecy tells whether a setting key is known and whether it is
// secret (apps.SettingSecrecy).
type SettingSecrecy func(key string) (known, secret bool)

// Mutations returns the root-field middleware that records every mutation
// field of an operation, whatever its outcome. Install it before the scope
// check so refusals are recorded too.
func (l *Log) Mutations(secrecy SettingSecrecy) graphql.RootFieldMiddleware {
	return func(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
		oc := graphql.GetOperationContext(ctx)
		fc := graphql.GetRootFieldContext(ctx)
		if oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Mutation || fc == nil || fc.Field.Field == nil {
			return next(ctx)
		}
		ctx, n := withNote(ctx)
		start := time.Now()
		// Mutation fields run one after the other: the errors added while
		// this one ran are its own (the scope check adds its refusal
		// without a path, resolvers under the field's alias).
		before := len(graphql.GetErrors(ctx))
		res := next(ctx)

		field := fc.Field
		args := redact(field.Name, field.ArgumentMap(oc.Variables), secrecy)
		e := Entry{At: start, ClientAddr: l.clientAddr(ctx), Source: SourceAPI, Mutation: field.Name,
			AppID: appIDOf(field.Name, args), Arguments: args, OperationID: n.first()}
		if p, ok := auth.FromContext(ctx); ok {
			e.KeyID, e.KeyName = p.KeyID, p.KeyName
		}
		alias := field.Alias
		if alias == "" {
			alias = field.Name
		}
		if errs := graphql.GetErrors(ctx); len(errs) > before {
			e.ErrorCode = errorCodeAt(errs[before:], alias)
		}
		if e.ErrorCode == "" && e.OperationID == "" && field.Name == "cancelOperation" {
			e.OperationID, _ = args["id"].(string)
		}
		l.Record(ctx, e)
		return res
	}
}

// errorCodeAt returns the code of the first error without a path or under
// the root field alias ("" when there is none).
func errorCodeAt(errs gqlerror.List, alias string) string {
	for _, err := range errs {
		if len(err.Path) > 0 {
			if name, ok := err.Path[0].(ast.PathName); !ok || string(name) != alias {
				continue
			}
		}
		if c, ok := err.Extensions["code"].(string); ok && c != "" {
			return c
		}
		if c, ok := err.Extensions["code"].(apperr.Code); ok && c != "" {
			return string(c)
		}
		return string(apperr.Internal)
	}
	return ""
}

// secretName matches argument and input field names that hold secrets,
// and the names of env settings that do (W9_POWER_PASSWORD, *_TOKEN, ...).
var secretName = regexp.MustCompile(`(?i)(pass(word|wd)?|secret|token|api_?key|private_?key|credential)`)

// settingMutations take SettingInput lists whose values are redacted
// unless the key is a known setting that is not secret.
var settingMutations = map[string]bool{"updateSettings": true, "testUpstream": true}

// redact returns a copy of args with secret values replaced: any field
// whose name looks secret; the value of a {name|key, value} pair whose
// name looks secret (or, for settings, is not a known plain setting); and
// file contents (their size is kept).
func redact(mutation string, args map[string]any, secrecy SettingSecrecy) map[string]any {
	out := map[string]any{}
	for k, v := range args {
		out[k] = redactValue(mutation, k, v, secrecy)
	}
	return out
}

func redactValue(mutation, name string, v any, secrecy SettingSecrecy) any {
	if v == nil {
		return nil
	}
	if name != "" && secretName.MatchString(name) {
		return Redacted
	}
	switch x := v.(type) {
	case map[string]any:
		pairName, isPair := pairKey(x)
		out := map[string]any{}
		for k, fv := range x {
			switch {
			case k == "value" && isPair && pairSecret(mutation, pairName, secrecy):
				out[k] = Redacted
			case k == "content":
				if s, ok := fv.(string); ok {
					out[k] = fmt.Sprintf("[%d bytes]", len(s))
				} else {
					out[k] = fv
				}
			default:
				out[k] = redactValue(mutation, k, fv, secrecy)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactValue(mutation, "", e, secrecy)
		}
		return out
	}
	return v
}

// pairKey returns the name of a {name, value} or {key, value} object.
func pairKey(m map[string]any) (string, bool) {
	if _, ok := m["value"]; !ok {
		return "", false
	}
	for _, k := range []string{"key", "name"} {
		if s, ok := m[k].(string); ok {
			return s, true
		}
	}
	return "", true // a value without a name: treat as secret
}

func pairSecret(mutation, name string, secrecy SettingSecrecy) bool {
	if settingMutations[mutation] {
		if secrecy == nil {
			return true
		}
		known, secret := secrecy(strings.TrimSpace(name))
		return !known || secret
	}
	return name == "" || secretName.MatchString(name)
}

// notAppIDs are mutations whose id argument is not an app's.
var notAppIDs = map[string]bool{"cancelOperation": true, "revokeApiKey": true, "createApiKey": true}

// appIDOf finds the app an audited call is about: an "id" argument (the
// app's id for app mutations) or input.appId.
func appIDOf(mutation string, args map[string]any) string {
	if notAppIDs[mutation] {
		return ""
	}
	if in, ok := args["input"].(map[string]any); ok {
		if s, ok := in["appId"].(string); ok {
			return s
		}
	}
	if s, ok := args["id"].(string); ok {
		return s
	}
	return ""
}

// Unauthenticated records mutations refused for want of a valid key. Their
// arguments are not kept: the document was never validated.
func (l *Log) Unauthenticated(ctx context.Context, fields []string) {
	for _, f := range fields {
		l.Record(ctx, Entry{At: time.Now(), ClientAddr: l.clientAddr(ctx), Source: SourceAPI, Mutation: f,
			Arguments: map[string]any{}, ErrorCode: string(apperr.Unauthenticated)})
	}
}

// Webhook records a webhook delivery: the operation it started, or the
// error it was refused with ("" and "" when nothing had to run).
func (l *Log) Webhook(ctx context.Context, source, mutation, appID, operationID string, err error) {
	e := Entry{At: time.Now(), ClientAddr: l.clientAddr(ctx), Source: source, Mutation: mutation, AppID: appID,
		Arguments: map[string]any{}, OperationID: operationID}
	if appID != "" {
		e.Arguments["id"] = appID
	}
	if err != nil {
		e.ErrorCode = string(apperr.CodeOf(err))
	}
	l.Record(ctx, e)
}

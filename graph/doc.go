// Package graph holds the GraphQL schema (schema/*.graphqls) and the code
// gqlgen generates from it. Nothing here is written by hand except this file
// and model/app.go; run `make generate` after changing the schema.
package graph

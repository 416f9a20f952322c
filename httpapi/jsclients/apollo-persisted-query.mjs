// Runs one query twice through Apollo Client with PersistedQueryLink
// (automatic persisted queries) and prints, as one JSON line, the two
// results and which HTTP requests carried the full query text.
// Usage: node apollo-persisted-query.mjs GRAPHQL_URL KEY
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [uri, key] = process.argv.slice(2);
const requests = [];
const countingFetch = async (input, init) => {
  const body = JSON.parse(init.body);
  requests.push({ fullQuery: typeof body.query === "string", hash: body.extensions?.persistedQuery?.sha256Hash ?? null });
  return fetch(input, init);
};

const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: new PersistedQueryLink({ sha256: (q) => createHash("sha256").update(q).digest("hex") }).concat(
    new HttpLink({ uri, headers: { "X-API-Key": key }, fetch: countingFetch }),
  ),
});

const query = gql`query HealthForApq { health { status sandbox } }`;
const results = [];
for (let i = 0; i < 2; i++) {
  const r = await client.query({ query, fetchPolicy: "network-only" });
  results.push({ data: r.data ?? null, error: r.error ? String(r.error) : null });
}
console.log(JSON.stringify({ results, requests }));

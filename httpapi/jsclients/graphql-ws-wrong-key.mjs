// Connects with the stock graphql-ws client and a wrong API key, with
// retryAttempts: 0, subscribes, and prints what the client saw as one JSON
// line: how often it connected, the close events, the error the
// subscription got. Usage: node graphql-ws-wrong-key.mjs WS_URL KEY
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, key] = process.argv.slice(2);
const seen = { connecting: 0, closed: [], error: null };
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  connectionParams: { apiKey: key },
  on: {
    connecting: () => { seen.connecting++; },
    closed: (e) => { seen.closed.push({ code: e.code, reason: e.reason }); },
  },
});

await new Promise((resolve) => {
  client.subscribe(
    { query: 'subscription { operationEvents(id: "none") { seq } }' },
    {
      next: () => {},
      error: (e) => {
        seen.error = e && typeof e.code === "number" ? { code: e.code, reason: e.reason } : String(e);
        resolve();
      },
      complete: resolve,
    },
  );
});
// Give a retry, if the client were to make one, the time to start.
await new Promise((r) => setTimeout(r, 1000));
await client.dispose();
console.log(JSON.stringify(seen));

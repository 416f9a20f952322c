import { Client, fetchExchange, subscriptionExchange, mapExchange } from 'urql';
import { cacheExchange, type Cache } from '@urql/exchange-graphcache';
import { retryExchange } from '@urql/exchange-retry';
import { createClient as createWSClient, type Client as WSClient } from 'graphql-ws';
import { markOffline, markOnline, trackedFetch } from './connection';

// Types without an id of their own are embedded in their parent.
const embedded = [
  'AppConnection', 'AppEdge', 'PageInfo', 'EnvVar', 'Repository', 'Stack', 'StackGit', 'PortMapping',
  'PlannedPort', 'InstallPlan', 'OperationStep', 'Edition', 'Requirements', 'CatalogSetting', 'LibraryProblem',
  'DriftIssue', 'DriftCount', 'DriftSummary', 'Orphan', 'Health', 'UpstreamHealth', 'UpstreamTest',
  'CommitFile', 'CommitConnection', 'CommitEdge', 'AuditConnection', 'AuditEdge', 'AppImage', 'PullProgress',
  'CreatedApiKey', 'Certificate',
];

// invalidateField drops every cached answer of a root field, whatever its
// arguments, so the pages that show it fetch it again.
function invalidateField(cache: Cache, field: string) {
  cache
    .inspectFields('Query')
    .filter((f) => f.fieldName === field)
    .forEach((f) => cache.invalidate('Query', f.fieldName, f.arguments ?? undefined));
}

// Every mutation that starts an operation changes the app list (status,
// lastOperation); so does an operation's terminal event.
const appChanging = [
  'installApp', 'uninstallApp', 'startApp', 'stopApp', 'restartApp', 'redeployApp', 'updateAppGit',
  'updateAppEnv', 'upgradeApp', 'repairApp', 'updateAppFiles', 'rollbackApp', 'addAppDomains',
  'updateAppProxy', 'deleteAppProxy', 'deleteAppProxies', 'enableAppProxies', 'disableAppProxies',
  'setDefaultDomain', 'cancelOperation',
];

// Only the list: a page showing one app or operation refetches it itself
// when its operation ends (invalidating a field an open page reads would
// blank it until the refetch lands).
function refreshApps(_r: unknown, _a: unknown, cache: Cache) {
  invalidateField(cache, 'apps');
}

export type Clients = { client: Client; ws: WSClient };

export function makeClient(apiKey: string, onUnauthorized: () => void): Clients {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = createWSClient({
    url: `${proto}//${location.host}/graphql`,
    connectionParams: () => ({ apiKey }),
    lazy: true,
    keepAlive: 10_000,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: async (retries) => {
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** retries, 10_000)));
    },
    on: {
      connected: () => markOnline(),
      closed: (ev) => {
        const code = (ev as CloseEvent | undefined)?.code;
        if (code === 4403 || code === 4401) onUnauthorized();
        else if (code !== 1000) markOffline();
      },
    },
  });

  const mutationUpdates = Object.fromEntries(appChanging.map((m) => [m, refreshApps]));

  const client = new Client({
    url: '/graphql',
    fetch: trackedFetch,
    requestPolicy: 'cache-and-network',
    fetchOptions: () => ({ headers: { 'X-API-Key': apiKey } }),
    exchanges: [
      mapExchange({
        onResult(result) {
          const res = result.error?.response as Response | undefined;
          if (res?.status === 401) onUnauthorized();
        },
      }),
      cacheExchange({
        keys: {
          ...Object.fromEntries(embedded.map((t) => [t, () => null])),
          CatalogApp: (d) => (d.name as string) ?? null,
          Setting: (d) => (d.key as string) ?? null,
          Commit: (d) => (d.sha as string) ?? null,
          OperationEvent: (d) => (d.operationId && d.seq ? `${d.operationId}:${d.seq}` : null),
        },
        updates: {
          Mutation: {
            ...mutationUpdates,
            createApiKey: (_r, _a, cache) => invalidateField(cache, 'apiKeys'),
            updateSettings: (_r, _a, cache) => invalidateField(cache, 'settings'),
          },
          Subscription: {
            operationEvents: (result, _a, cache) => {
              const ev = result.operationEvents as { terminal?: boolean } | undefined;
              if (ev?.terminal) refreshApps(result, _a, cache);
            },
          },
        },
      }),
      // Queries that fail for want of a server are tried again until it
      // answers; mutations are not (the user decides).
      retryExchange({
        initialDelayMs: 1000,
        maxDelayMs: 10_000,
        randomDelay: true,
        maxNumberAttempts: Infinity,
        retryIf: (err, op) => !!err.networkError && op.kind === 'query',
      }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
  return { client, ws };
}

// Boots GraphiQL 4 from its UMD globals (React, ReactDOM, GraphiQL). It lives
// in a file, not inline in the page, so the CSP can be script-src 'self'.
//
// The server wants the API key on every request: the fetcher sends it as the
// X-API-Key header over HTTP and as {"apiKey": KEY} in the websocket
// connection_init payload (GraphiQL merges wsConnectionParams with the
// header editor's headers there).
(function () {
  'use strict';

  const STORAGE_KEY = 'appmanage:graphiql:apiKey';
  const mount = document.getElementById('graphiql');
  const keyInput = document.getElementById('api-key');
  const forgetButton = document.getElementById('api-key-forget');

  function fail(message) {
    mount.textContent = '';
    const p = document.createElement('p');
    p.className = 'boot-error';
    p.textContent = message;
    mount.appendChild(p);
  }

  if (!window.React || !window.ReactDOM || !window.GraphiQL || !window.GraphiQL.createFetcher) {
    fail('GraphiQL did not load (its scripts are missing or were blocked).');
    return;
  }

  const httpURL = new URL(mount.dataset.endpoint, window.location.href);
  const wsURL = new URL(httpURL.href);
  wsURL.protocol = httpURL.protocol === 'https:' ? 'wss:' : 'ws:';

  function loadKey() {
    try {
      return window.localStorage.getItem(STORAGE_KEY) || '';
    } catch (e) {
      return ''; // storage disabled: the key lives only in the field
    }
  }

  function storeKey(key) {
    try {
      if (key) {
        window.localStorage.setItem(STORAGE_KEY, key);
      } else {
        window.localStorage.removeItem(STORAGE_KEY);
      }
    } catch (e) {
      // storage disabled: nothing to persist
    }
  }

  let apiKey = loadKey();
  keyInput.value = apiKey;

  function createFetcher(key) {
    const headers = {};
    if (key) {
      headers['X-API-Key'] = key;
    }
    return window.GraphiQL.createFetcher({
      url: httpURL.href,
      subscriptionUrl: wsURL.href,
      headers: headers,
      wsConnectionParams: { apiKey: key },
    });
  }

  // The current key is read at call time, so a query run right after typing
  // uses it even before the change event re-renders GraphiQL.
  let fetcherKey = null;
  let keyedFetcher = null;
  function fetchWithKey(params, opts) {
    if (fetcherKey !== apiKey || keyedFetcher === null) {
      fetcherKey = apiKey;
      keyedFetcher = createFetcher(apiKey);
    }
    return keyedFetcher(params, opts);
  }

  const root = window.ReactDOM.createRoot(mount);
  function render() {
    // A new fetcher identity makes GraphiQL introspect again with the new key.
    const fetcher = function (params, opts) {
      return fetchWithKey(params, opts);
    };
    root.render(window.React.createElement(window.GraphiQL, {
      fetcher: fetcher,
      shouldPersistHeaders: false,
    }));
  }

  keyInput.addEventListener('input', function () {
    apiKey = keyInput.value.trim();
  });
  keyInput.addEventListener('change', function () {
    apiKey = keyInput.value.trim();
    storeKey(apiKey);
    render();
  });
  // Enter in the field fires change; the form itself never submits.
  document.getElementById('keybar').addEventListener('submit', function (e) {
    e.preventDefault();
  });
  forgetButton.addEventListener('click', function () {
    keyInput.value = '';
    apiKey = '';
    storeKey('');
    render();
  });

  render();
})();

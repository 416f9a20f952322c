import { useSyncExternalStore } from 'react';

// Whether the server answers: fed by the fetch wrapper and the websocket
// client. Pages refetch when it comes back (useReconnect).
type State = { online: boolean; since: number; generation: number };
let state: State = { online: true, since: Date.now(), generation: 0 };
const listeners = new Set<() => void>();

function set(online: boolean) {
  if (state.online === online) return;
  state = { online, since: Date.now(), generation: online ? state.generation + 1 : state.generation };
  listeners.forEach((l) => l());
}

export const markOnline = () => set(true);
export const markOffline = () => set(false);

export function useConnection(): State {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => state,
  );
}

// A fetch that tells the connection state what it saw.
export const trackedFetch: typeof fetch = async (input, init) => {
  try {
    const res = await fetch(input, init);
    if (res.status >= 502 && res.status <= 504) markOffline();
    else markOnline();
    return res;
  } catch (e) {
    markOffline();
    throw e;
  }
};

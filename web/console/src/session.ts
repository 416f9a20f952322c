// The API key lives in sessionStorage only: it is gone when the browser
// session ends, and never reaches localStorage or a cookie.
const KEY = 'appmanage.apiKey';

export function getKey(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setKey(key: string | null) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

// checkKey asks the server whether key is valid: true, false (401), or an
// Error when the server could not be reached.
export async function checkKey(key: string): Promise<boolean> {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': key },
    body: JSON.stringify({ query: '{ health { status } }' }),
  });
  if (res.status === 401) return false;
  if (!res.ok) throw new Error(`the server answered ${res.status}`);
  return true;
}

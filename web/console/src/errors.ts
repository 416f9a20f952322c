import type { CombinedError } from 'urql';

// fieldErrors maps the input fields the server named (extensions.field,
// e.g. appId, domains[1], settings[0]) to their messages; the rest go to
// general. settingKeys names the settings sent, in order, so settings[i]
// lands at its key's field.
export function splitErrors(err: CombinedError | undefined, settingKeys: string[] = []) {
  const fields: Record<string, string> = {};
  const general: string[] = [];
  if (!err) return { fields, general };
  if (err.networkError && err.graphQLErrors.length === 0) {
    general.push('The server could not be reached: ' + err.networkError.message);
  }
  for (const e of err.graphQLErrors) {
    const raw = e.extensions?.field;
    if (typeof raw === 'string' && raw) {
      let key = raw;
      const m = /^settings\[(\d+)\]/.exec(raw);
      if (m && settingKeys[+m[1]]) key = 'settings.' + settingKeys[+m[1]];
      else key = raw.replace(/[[.].*$/, '');
      // The message names the field ("appId: ..."): at the field it need not.
      const msg = e.message.startsWith(raw + ': ') ? e.message.slice(raw.length + 2) : e.message;
      fields[key] = fields[key] ? fields[key] + ' ' + msg : msg;
    } else {
      general.push(e.message);
    }
  }
  return { fields, general };
}

export function errorText(err: CombinedError | undefined): string | null {
  if (!err) return null;
  if (err.graphQLErrors.length) return err.graphQLErrors.map((e) => e.message).join('; ');
  return err.networkError ? 'The server could not be reached.' : err.message;
}

/**
 * The permissions every device user gets in the users file, in nats-server's
 * own shape (`permissions { publish, subscribe, allow_responses }`), read
 * from CCM_NATS_DEVICE_PERMISSIONS (JSON) or from the simpler
 * CCM_NATS_DEVICE_PUBLISH / CCM_NATS_DEVICE_SUBSCRIBE subject lists, and
 * checked at start so that a typo stops the agent instead of making
 * nats-server refuse the reload.
 */

export interface SubjectPermission {
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
}

export interface ResponsePermission {
  /** How many responses a device may publish per request received. */
  readonly max?: number;
  /** How long after the request, as a Go duration ("1m", "500ms"). */
  readonly expires?: string;
}

export interface DevicePermissions {
  readonly publish?: SubjectPermission;
  readonly subscribe?: SubjectPermission;
  readonly allow_responses?: boolean | ResponsePermission;
}

/**
 * Devices publish and subscribe under `devices.>` and may receive replies
 * on inboxes; they may answer requests sent to them. Nothing else: no
 * `$SYS`, no JetStream API (`$JS.API.>`), no other application's subjects.
 */
export const DEFAULT_DEVICE_PERMISSIONS: DevicePermissions = Object.freeze({
  publish: { allow: ['devices.>'] },
  subscribe: { allow: ['devices.>', '_INBOX.>'] },
  allow_responses: true,
});

const DURATION = /^\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))*$/;

/**
 * A NATS subject (or wildcard pattern): dot-separated non-empty tokens
 * without whitespace; `*` a whole token; `>` only the whole last token.
 * `queue` allows the subscribe form "subject queue-group".
 */
export function subjectProblem(entry: string, queue: boolean): string | null {
  const parts = entry.split(' ');
  if (parts.length > (queue ? 2 : 1) || parts.some((part) => part === '')) return `"${entry}" is not a subject${queue ? ' (or "subject queue")' : ''}`;
  const tokens = parts[0]!.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '' || /\s/.test(token)) return `"${entry}" has an empty or blank token`;
    if (token.length > 1 && (token.includes('*') || token.includes('>'))) return `"${entry}": * and > must be whole tokens`;
    if (token === '>' && i !== tokens.length - 1) return `"${entry}": > must be the last token`;
  }
  if (parts[1] !== undefined && /[*>]/.test(parts[1])) return `"${entry}": a queue group has no wildcards`;
  return null;
}

/** Reads the JSON form; returns the permissions or the problems, worded for CCM_NATS_DEVICE_PERMISSIONS. */
export function parseDevicePermissionsJson(text: string, variable: string): { permissions: DevicePermissions } | { problems: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { problems: [`${variable} must be a JSON object (${(error as Error).message})`] };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { problems: [`${variable} must be a JSON object with publish, subscribe and/or allow_responses`] };
  const problems: string[] = [];
  const permissions: { publish?: SubjectPermission; subscribe?: SubjectPermission; allow_responses?: boolean | ResponsePermission } = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'publish' || key === 'subscribe') {
      const read = subjectPermission(value, `${variable}.${key}`, key === 'subscribe', problems);
      if (read) permissions[key] = read;
    } else if (key === 'allow_responses') {
      const read = responsePermission(value, `${variable}.allow_responses`, problems);
      if (read !== undefined) permissions.allow_responses = read;
    } else {
      problems.push(`${variable} has "${key}"; nats-server user permissions take publish, subscribe, allow_responses`);
    }
  }
  return problems.length > 0 ? { problems } : { permissions };
}

/** Reads a comma-separated subject list (CCM_NATS_DEVICE_PUBLISH / _SUBSCRIBE) into an allow list. */
export function parseSubjectList(text: string, variable: string, queue: boolean): { allow: string[] } | { problems: string[] } {
  const allow = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const problems = allow.map((entry) => subjectProblem(entry, queue)).filter((problem): problem is string => problem !== null).map((problem) => `${variable}: ${problem}`);
  if (allow.length === 0) problems.push(`${variable} must list at least one subject`);
  return problems.length > 0 ? { problems } : { allow };
}

/** nats-server takes "subject", ["subjects"] (both mean allow) or { allow, deny }. */
function subjectPermission(value: unknown, where: string, queue: boolean, problems: string[]): SubjectPermission | null {
  const list = (entries: unknown, at: string): string[] | null => {
    const array = typeof entries === 'string' ? [entries] : entries;
    if (!Array.isArray(array) || array.some((entry) => typeof entry !== 'string')) {
      problems.push(`${at} must be a subject or a list of subjects`);
      return null;
    }
    for (const entry of array as string[]) {
      const problem = subjectProblem(entry, queue);
      if (problem) problems.push(`${at}: ${problem}`);
    }
    return array as string[];
  };
  if (typeof value === 'string' || Array.isArray(value)) {
    const allow = list(value, where);
    return allow ? { allow } : null;
  }
  if (typeof value !== 'object' || value === null) {
    problems.push(`${where} must be a subject, a list of subjects, or { "allow": [...], "deny": [...] }`);
    return null;
  }
  const result: { allow?: string[]; deny?: string[] } = {};
  for (const [key, entries] of Object.entries(value)) {
    if (key !== 'allow' && key !== 'deny') {
      problems.push(`${where} has "${key}"; only allow and deny are known`);
      continue;
    }
    const read = list(entries, `${where}.${key}`);
    if (read) result[key] = read;
  }
  return result;
}

function responsePermission(value: unknown, where: string, problems: string[]): boolean | ResponsePermission | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${where} must be true, false or { "max": n, "expires": "1m" }`);
    return undefined;
  }
  const result: { max?: number; expires?: string } = {};
  for (const [key, entry] of Object.entries(value)) {
    if (key === 'max' && Number.isInteger(entry) && (entry as number) >= 0) result.max = entry as number;
    else if (key === 'expires' && typeof entry === 'string' && DURATION.test(entry)) result.expires = entry;
    else problems.push(`${where}.${key} is not valid (max: a whole number; expires: a duration such as "1m")`);
  }
  return result;
}

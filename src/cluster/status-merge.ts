/**
 * One /status snapshot from the workers' snapshots (`workers: N`), in the
 * same shape a single process reports, so the status page and scripts read
 * either. Counts and rates add up; a destination or group member is healthy
 * only while every worker finds it so; a destination's pressure is the worst
 * any worker reports, its state the distinct states joined (`connected,
 * connecting` while one worker reconnects), its last error the latest.
 */
export function mergeStatus(parts: readonly Record<string, unknown>[]): Record<string, unknown> {
  return parts.reduce<Record<string, unknown>>((acc, p) => mergeObject(acc, p), {});
}

/** Values that are the same thing in every worker, never added up. */
const IDENTITY = new Set(['port', 'version', 'uptimeSeconds', 'name', 'peer', 'type']);
/** The worst first. */
const PRESSURE = ['stalled', 'full', 'high'];

type Json = unknown;

function mergeObject(a: Record<string, Json>, b: Record<string, Json>): Record<string, Json> {
  const out: Record<string, Json> = { ...a };
  for (const [key, value] of Object.entries(b)) out[key] = key in a ? mergeValue(key, a[key], value) : value;
  return out;
}

function mergeValue(key: string, a: Json, b: Json): Json {
  if (key === 'lastError') return latest(a, b);
  if (typeof a === 'number' && typeof b === 'number') return IDENTITY.has(key) ? a : a + b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return a && b;
  if (typeof a === 'string' && typeof b === 'string') {
    if (a === b || IDENTITY.has(key)) return a;
    if (key === 'pressure') return rank(a) <= rank(b) ? a : b;
    return [...new Set([...a.split(','), b])].join(',');
  }
  if (Array.isArray(a) && Array.isArray(b)) return mergeByName(a, b);
  if (isObject(a) && isObject(b)) return mergeObject(a, b);
  return a ?? b;
}

function rank(pressure: string): number {
  const i = PRESSURE.indexOf(pressure);
  return i === -1 ? PRESSURE.length : i;
}

/** Lists of named things (destinations, listeners, groups, members) merge by name, in first-seen order. */
function mergeByName(a: readonly Json[], b: readonly Json[]): Json[] {
  const out = [...a];
  for (const item of b) {
    const name = isObject(item) ? item.name : undefined;
    const at = name === undefined ? -1 : out.findIndex((x) => isObject(x) && x.name === name);
    if (at === -1) out.push(item);
    else out[at] = mergeValue('', out[at], item);
  }
  return out;
}

function latest(a: Json, b: Json): Json {
  if (!isObject(a)) return b;
  if (!isObject(b)) return a;
  return String(b.at) > String(a.at) ? b : a;
}

function isObject(x: Json): x is Record<string, Json> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

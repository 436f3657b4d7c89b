import { isValidMetricName } from './metric-name';

/**
 * A listener's `validation` level (carbon-relay-ng's validation_level_legacy,
 * with our own floor): `none` refuses only what would corrupt the output,
 * `carbon` (the default) is what every receiver checked before levels existed,
 * `strict` also refuses empty path components, characters outside a set and
 * names over a length.
 */
export const NAME_VALIDATION_LEVELS = ['none', 'carbon', 'strict'] as const;
export type NameValidation = (typeof NAME_VALIDATION_LEVELS)[number];

/**
 * The worst thing wrong with a name, ordered so that a level is one
 * threshold: a level refuses every fault at or above its threshold
 * (FAULT_THRESHOLD). Computed once per distinct name and cached with its route.
 */
export const enum NameFault {
  None = 0,
  /** strict: over strict.maxLength (UTF-16 units; a name that passes strict's ASCII set has as many bytes). */
  StrictTooLong = 1,
  /** strict: a character outside strict.allowedCharacters. */
  DisallowedCharacter = 2,
  /** strict: `a..b`, `.lead`, `trail.` (in the path, before any `;tags`). */
  EmptyComponent = 3,
  /** carbon and strict: C1 control characters, U+FEFF (no Graphite stores them sensibly; they do not split a line). */
  Unprintable = 4,
  /** Every level: empty, or a character that splits a plaintext line or field downstream. */
  Unsafe = 5,
}

/** The lowest fault each level refuses. */
const FAULT_THRESHOLD: Readonly<Record<NameValidation, NameFault>> = {
  none: NameFault.Unsafe,
  carbon: NameFault.Unprintable,
  strict: NameFault.StrictTooLong,
};

export function faultThreshold(level: NameValidation): NameFault {
  return FAULT_THRESHOLD[level];
}

/**
 * What `none` still refuses: C0 controls, space and DEL (they end a line or a
 * field), and every character Python's str.split() splits on (a carbon that
 * decodes lines to str would cut the name there): U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
 */
const UNSAFE_RE = /[\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

/** The fault of a name at the `none` and `carbon` levels (no strict rules). */
export function baseNameFault(name: string): NameFault {
  if (isValidMetricName(name)) return NameFault.None;
  return name.length === 0 || UNSAFE_RE.test(name) ? NameFault.Unsafe : NameFault.Unprintable;
}

/** carbon-relay-ng's strict set (validateSensibleChars): letters, digits, `_`, `-` and `.`. */
export const DEFAULT_STRICT_CHARACTERS = 'A-Za-z0-9_.-';
export const DEFAULT_STRICT_MAX_LENGTH = 1024;

/** The printable ASCII a strict set may hold (space excluded: it would split a line). */
const FIRST_PRINTABLE = 0x21;
const LAST_PRINTABLE = 0x7e;

/**
 * Parses a set written like a regex bracket expression's inside: single
 * characters and ranges `a-z`; a `-` first or last is literal. Printable
 * ASCII only. Returns the 128-entry table, or a message saying what is wrong.
 */
export function parseCharacterSet(spec: string): Uint8Array | string {
  const table = new Uint8Array(128);
  if (spec.length === 0) return 'list at least one character';
  for (let i = 0; i < spec.length; i++) {
    const c = spec.charCodeAt(i);
    if (c < FIRST_PRINTABLE || c > LAST_PRINTABLE) return `only printable ASCII characters (! to ~) may be allowed, not ${JSON.stringify(spec[i])}`;
    const isRange = i + 2 < spec.length && spec.charCodeAt(i + 1) === 0x2d;
    if (!isRange) {
      table[c] = 1;
      continue;
    }
    const to = spec.charCodeAt(i + 2);
    if (to < FIRST_PRINTABLE || to > LAST_PRINTABLE) return `only printable ASCII characters (! to ~) may be allowed, not ${JSON.stringify(spec[i + 2])}`;
    if (to < c) return `range ${spec.slice(i, i + 3)} is backwards`;
    for (let x = c; x <= to; x++) table[x] = 1;
    i += 2;
  }
  return table;
}

/** listen.strict as the router applies it. */
export interface StrictNameSettings {
  readonly allowedCharacters: string;
  readonly maxLength: number;
}

/**
 * The strict level's checks, in one pass over the name's UTF-16 units.
 * Components are checked in the path only: after the first `;` come
 * Graphite tags, whose values may hold dots freely.
 */
export class StrictNameRules {
  private readonly allowed: Uint8Array;
  readonly maxLength: number;

  constructor(settings: StrictNameSettings) {
    const table = parseCharacterSet(settings.allowedCharacters);
    if (typeof table === 'string') throw new Error(`strict allowedCharacters: ${table} (the config loader checks this; a bug)`);
    this.allowed = table;
    this.maxLength = settings.maxLength;
  }

  /** The worst strict fault of a name that passed the base checks: an empty component, else a character, else the length. */
  fault(name: string): NameFault {
    const n = name.length;
    const allowed = this.allowed;
    let badChar = false;
    let inPath = true;
    // the previous unit was a dot, or the path start: a dot now means an empty component
    let afterDot = true;
    for (let i = 0; i < n; i++) {
      const c = name.charCodeAt(i);
      if (c >= 128 || allowed[c] === 0) badChar = true;
      if (!inPath) continue;
      if (c === 0x2e) {
        if (afterDot) return NameFault.EmptyComponent;
        afterDot = true;
      } else if (c === 0x3b) {
        if (afterDot) return NameFault.EmptyComponent;
        inPath = false;
      } else {
        afterDot = false;
      }
    }
    if (inPath && afterDot) return NameFault.EmptyComponent;
    if (badChar) return NameFault.DisallowedCharacter;
    return n > this.maxLength ? NameFault.StrictTooLong : NameFault.None;
  }
}

import { z } from 'zod';
import type { StateCheck } from '../state-file';

/** The state file's name in the source's `stateDir`. */
export const POSITION_FILE = 'position.json';

/**
 * Where each data call's next window starts, as kept in `position.json`:
 *
 *   { "version": 1,
 *     "chunks": [ { "type": "web", "tests": [142619, 142620], "nextFrom": "2024-05-01T10:30:00.000Z" }, ... ] }
 *
 * `nextFrom` is the end of the last window whose datapoints were handed to
 * the sink (or, for a call that never succeeded, the start of its first
 * window; or where maxWindow moved it): everything before it is done.
 */
export interface PositionState {
  readonly version: 1;
  readonly chunks: readonly ChunkPosition[];
}

export interface ChunkPosition {
  readonly type: string;
  readonly tests: readonly number[];
  /** ISO-8601 UTC, millisecond precision. */
  readonly nextFrom: string;
}

const isoTime = z.string().refine((s) => Number.isFinite(Date.parse(s)), 'not an ISO-8601 time');

const positionSchema = z.object({
  version: z.literal(1),
  chunks: z.array(
    z.object({
      type: z.string().min(1),
      tests: z.array(z.number().int().positive()).min(1),
      nextFrom: isoTime,
    }),
  ),
});

export function checkPosition(data: unknown): StateCheck<PositionState> {
  const r = positionSchema.safeParse(data);
  if (r.success) return { ok: true, value: { version: 1, chunks: r.data.chunks } };
  return { ok: false, reason: z.prettifyError(r.error).replace(/\s*\n\s*/g, '; ') };
}

/** The state of calls whose next window is known (calls never asked yet are left out). */
export function positionState(chunks: readonly { type: string; ids: readonly number[]; nextFrom: number | undefined }[]): PositionState {
  const out: ChunkPosition[] = [];
  for (const c of chunks) if (c.nextFrom !== undefined) out.push({ type: c.type, tests: [...c.ids], nextFrom: new Date(c.nextFrom).toISOString() });
  return { version: 1, chunks: out };
}

/**
 * Where a call resumes: the earliest `nextFrom` saved for any of its tests,
 * so a test is never skipped even when tests were regrouped into other calls
 * between runs (some windows may then be asked twice); undefined when none of
 * its tests has a saved position.
 */
export function resumeFrom(state: PositionState, type: string, ids: readonly number[]): number | undefined {
  let from: number | undefined;
  for (const c of state.chunks) {
    if (c.type !== type || !c.tests.some((t) => ids.includes(t))) continue;
    const t = Date.parse(c.nextFrom);
    if (from === undefined || t < from) from = t;
  }
  return from;
}

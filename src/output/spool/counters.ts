import type { CounterTable } from '../../telemetry/counters';

/**
 * A spool's counters, all in datapoints unless named otherwise. Per process
 * lifetime: what was on disk at open() is in Spool.pendingDatapoints, not in
 * `written`. Each datapoint offered to append() is `written` or lands in
 * exactly one of droppedFull (refused), droppedReserve, droppedInvalid or
 * blocked; each written one (plus what was pending at open) is later acked,
 * still pending, or lands in exactly one of droppedFull (deleted by
 * drop_oldest), droppedAge or corruptDatapoints.
 */
export class SpoolCounters {
  /** Datapoints appended to disk. */
  written = 0;
  /** Datapoints handed out by readNext, including again after a rewind. */
  replayed = 0;
  /** Datapoints acknowledged as delivered. */
  acked = 0;
  /** maxBytes: refused by drop_newest (or too large for an empty spool), or deleted unacknowledged by drop_oldest. */
  droppedFull = 0;
  /** Deleted unacknowledged because their segment passed maxAgeMs. */
  droppedAge = 0;
  /** Refused because the filesystem had less than minFreeBytes free (or a write failed). */
  droppedReserve = 0;
  /** Refused because the name is longer than a record can hold (65535 UTF-8 bytes). */
  droppedInvalid = 0;
  /** Refused with 'blocked' (the caller still holds them and retries). */
  blocked = 0;
  /** Records skipped by readNext because their bytes are damaged (counted once per open). */
  corruptRecords = 0;
  /** Datapoints lost inside corrupt records; known, and added, once the cursor passes their segment. */
  corruptDatapoints = 0;
  /** Segment files whose header was unreadable, renamed to `.bad`. */
  badSegments = 0;
}

export const SPOOL_COUNTERS = {
  written: 'counter',
  replayed: 'counter',
  acked: 'counter',
  droppedFull: 'counter',
  droppedAge: 'counter',
  droppedReserve: 'counter',
  droppedInvalid: 'counter',
  blocked: 'counter',
  corruptRecords: 'counter',
  corruptDatapoints: 'counter',
  badSegments: 'counter',
} as const satisfies CounterTable<SpoolCounters>;

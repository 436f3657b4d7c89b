/** One rejected item of a request: where it was and why, for the response body. */
export interface Rejection {
  /** "line 3", "item 2", "values[1]" */
  where: string;
  reason: string;
}

/**
 * An answer other than success. The error middleware turns it into the
 * response: the message as text/plain (or the given JSON body), plus any
 * rejections one per line, so a curl user sees exactly what was wrong.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly options: { headers?: Record<string, string>; rejections?: readonly Rejection[]; json?: unknown } = {},
  ) {
    super(message);
  }
}

/** How many rejections a response lists before summarising; keeps a 100k-line body's answer small. */
export const MAX_LISTED_REJECTIONS = 100;

export function rejectionText(message: string, rejections: readonly Rejection[]): string {
  const lines = [message];
  for (const r of rejections.slice(0, MAX_LISTED_REJECTIONS)) lines.push(`${r.where}: ${r.reason}`);
  if (rejections.length > MAX_LISTED_REJECTIONS) lines.push(`... and ${rejections.length - MAX_LISTED_REJECTIONS} more`);
  return lines.join('\n') + '\n';
}

/** A client-supplied value quoted for an answer: bounded, so a client cannot make us echo kilobytes. */
export function quoted(s: string, max = 80): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s);
}

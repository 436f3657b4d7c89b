import type { ServerResponse } from 'node:http';

/** The 43-byte transparent 1x1 GIF89a that ggtd's carbon-http-srv returns for `?output=img`. */
export const BEACON_GIF = Buffer.from('R0lGODlhAQABAIABAP///wAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==', 'base64');

/** The beacon, never cached (a HEAD gets the headers only: node:http drops the body). */
export function sendBeacon(res: ServerResponse): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'image/gif');
  res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate, private');
  res.setHeader('Pragma', 'no-cache');
  res.setHeader('Expires', '0');
  res.end(BEACON_GIF);
}

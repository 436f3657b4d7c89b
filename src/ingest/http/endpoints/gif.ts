import type { Response } from 'express';

/** The 43-byte transparent 1x1 GIF89a that ggtd's carbon-http-srv returns for `?output=img`. */
export const BEACON_GIF = Buffer.from('R0lGODlhAQABAIABAP///wAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==', 'base64');

export function sendBeacon(res: Response): void {
  res
    .status(200)
    .set({
      'Content-Type': 'image/gif',
      'Cache-Control': 'no-cache, no-store, must-revalidate, private',
      Pragma: 'no-cache',
      Expires: '0',
    })
    .end(BEACON_GIF);
}

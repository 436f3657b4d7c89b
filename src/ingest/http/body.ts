import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import zlib from 'node:zlib';
import { HttpError, HttpErrorCode } from './http-error';

export interface BodyLimits {
  /** Bytes on the wire. */
  maxBodySize: number;
  /** Bytes after Content-Encoding is undone. */
  maxDecompressedSize: number;
}

/**
 * Reads the whole request body as bytes, whatever its Content-Type (plaintext
 * senders use form, octet-stream or no type), undoing gzip/deflate, with both
 * limits enforced while reading: an oversized or zip-bomb body costs at most
 * the limit in memory, never the announced or inflated size.
 */
export async function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBodySize) throw tooLarge(`body of ${declared} bytes exceeds the limit of ${limits.maxBodySize}`);
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  let inflater: zlib.Gunzip | zlib.Inflate | undefined;
  if (encoding === 'gzip' || encoding === 'x-gzip') inflater = zlib.createGunzip();
  else if (encoding === 'deflate') inflater = zlib.createInflate();
  else if (encoding !== 'identity') throw new HttpError(415, HttpErrorCode.UNSUPPORTED_MEDIA_TYPE, `unsupported Content-Encoding "${encoding}" (use gzip, deflate or none)`);

  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let wire = 0;
    let out = 0;
    let done = false;
    const fail = (err: HttpError): void => {
      if (done) return;
      done = true;
      inflater?.destroy();
      // stop reading; the response closes the connection (the rest of the body is never read)
      req.unpipe();
      req.pause();
      reject(err);
    };
    const collect = (chunk: Buffer): void => {
      out += chunk.length;
      if (out > limits.maxDecompressedSize) return fail(tooLarge(`decompressed body exceeds the limit of ${limits.maxDecompressedSize} bytes`));
      chunks.push(chunk);
    };
    const finish = (): void => {
      if (done) return;
      done = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, out));
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      wire += chunk.length;
      if (wire > limits.maxBodySize) return fail(tooLarge(`body exceeds the limit of ${limits.maxBodySize} bytes`));
      if (inflater !== undefined) inflater.write(chunk);
      else collect(chunk);
    });
    req.on('error', () => fail(new HttpError(400, HttpErrorCode.MALFORMED_BODY, 'request body was not fully received')));
    if (inflater !== undefined) {
      inflater.on('data', collect);
      inflater.on('error', (e) => fail(new HttpError(400, HttpErrorCode.MALFORMED_BODY, `body is not valid ${encoding}: ${e.message}`)));
      inflater.on('end', finish);
      req.on('end', () => inflater.end());
    } else {
      req.on('end', finish);
    }
  });
}

function tooLarge(message: string): HttpError {
  return new HttpError(413, HttpErrorCode.TOO_LARGE, message, { headers: { Connection: 'close' } });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as UTF-8 text; malformed UTF-8 is the sender's error. */
export function bodyText(body: Buffer): string {
  try {
    return utf8.decode(body);
  } catch {
    throw new HttpError(400, HttpErrorCode.MALFORMED_BODY, 'body is not valid UTF-8');
  }
}

/** The media type of the request, lower-cased, without parameters (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(req: Request): string {
  return (req.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

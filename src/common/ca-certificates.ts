import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Names read from a CA directory: `*.pem`, `*.crt`, `*.cer`, and the `<hash>.<n>`
 * links OpenSSL's c_rehash (stunnel's CApath) makes. Anything else (CRLs as
 * `<hash>.r<n>`, READMEs, keys) is skipped.
 */
const CA_FILE_NAME = /(\.(pem|crt|cer)|^[0-9a-f]{8}\.\d+)$/i;

/** The PEM certificates in `text`, each checked to parse; `origin` names the file in the error. */
export function pemCertificates(text: string, origin: string): string[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  for (const pem of blocks) {
    try {
      new crypto.X509Certificate(pem);
    } catch (err) {
      throw new Error(`${origin}: holds a certificate that does not parse (${(err as Error).message})`);
    }
  }
  return blocks;
}

/**
 * Every certificate in a CA directory (stunnel's CApath, OpenSSL's `-CApath`),
 * each once: c_rehash directories hold the same certificate under its own name
 * and under its hash link. Files without a certificate are skipped; a
 * directory that cannot be read, or holds no certificate at all, is an error,
 * since trusting nobody would refuse every peer with a misleading reason.
 */
export function readCaDirectory(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort();
  } catch (err) {
    throw new Error(`cannot read CA directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (!CA_FILE_NAME.test(name)) continue;
    const file = path.join(dir, name);
    let text: string;
    try {
      if (!fs.statSync(file).isFile()) continue;
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const pem of pemCertificates(text, file)) seen.add(pem.replace(/\r\n/g, '\n'));
  }
  if (seen.size === 0) throw new Error(`no PEM certificate in CA directory ${dir} (read: *.pem, *.crt, *.cer and c_rehash's <hash>.0 names)`);
  return [...seen];
}

/** What a TLS context is told to trust: a CA file, a CA directory, or both (undefined when neither: Node's public roots). */
export function readCaCertificates(file: string | undefined, dir: string | undefined): Buffer[] | undefined {
  if (file === undefined && dir === undefined) return undefined;
  const out: Buffer[] = [];
  if (file !== undefined) out.push(fs.readFileSync(file));
  if (dir !== undefined) for (const pem of readCaDirectory(dir)) out.push(Buffer.from(pem));
  return out;
}

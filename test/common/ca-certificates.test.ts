import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readCaCertificates, readCaDirectory } from '../../src/common/ca-certificates';
import { makeTestCa, type TestCa } from '../helpers/certs';
import { tempDirsRemovedAfterAll } from '../helpers/relay';

const newDir = tempDirsRemovedAfterAll();

/** OpenSSL's subject hash, the name c_rehash (and stunnel's CApath) files a CA under. */
function subjectHash(cert: string): string {
  return execFileSync('openssl', ['x509', '-hash', '-noout', '-in', cert], { encoding: 'utf8' }).trim();
}

describe('readCaDirectory', () => {
  let a: TestCa;
  let b: TestCa;

  beforeAll(() => {
    a = makeTestCa();
    b = makeTestCa();
  });

  it('reads *.pem, *.crt and c_rehash <hash>.0 files, each certificate once, and skips everything else', () => {
    const dir = newDir();
    fs.copyFileSync(a.caCert, path.join(dir, 'a.pem'));
    // c_rehash's layout: the same certificate again under its hash link
    fs.symlinkSync(path.join(dir, 'a.pem'), path.join(dir, `${subjectHash(a.caCert)}.0`));
    fs.copyFileSync(b.caCert, path.join(dir, `${subjectHash(b.caCert)}.1`));
    fs.writeFileSync(path.join(dir, 'README'), 'not a certificate\n');
    fs.copyFileSync(a.caKey, path.join(dir, 'a.key'));
    fs.writeFileSync(path.join(dir, 'notes.crt'), 'a .crt file without a certificate is skipped\n');
    fs.mkdirSync(path.join(dir, 'sub.pem'));
    const pems = readCaDirectory(dir);
    expect(pems.sort()).toEqual([fs.readFileSync(a.caCert, 'utf8').trim(), fs.readFileSync(b.caCert, 'utf8').trim()].sort());
  });

  it('a bundle file gives every certificate in it', () => {
    const dir = newDir();
    fs.writeFileSync(path.join(dir, 'bundle.crt'), fs.readFileSync(a.caCert, 'utf8') + fs.readFileSync(b.caCert, 'utf8'));
    expect(readCaDirectory(dir)).toHaveLength(2);
  });

  it.each([
    ['is missing', () => path.join(newDir(), 'absent'), /^cannot read CA directory .*absent: ENOENT$/],
    ['holds no certificate', () => newDir(), /^no PEM certificate in CA directory /],
    [
      'holds a certificate that does not parse',
      () => {
        const dir = newDir();
        fs.writeFileSync(path.join(dir, 'bad.pem'), '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
        return dir;
      },
      /bad\.pem: holds a certificate that does not parse/,
    ],
  ])('refuses a directory that %s', (_what, dir, message) => {
    expect(() => readCaDirectory(dir())).toThrow(message);
  });

  it('readCaCertificates: the file and the directory together; nothing when neither is set (Node keeps its public roots)', () => {
    const dir = newDir();
    fs.copyFileSync(b.caCert, path.join(dir, 'b.pem'));
    const both = readCaCertificates(a.caCert, dir);
    expect(both?.map((x) => x.toString('utf8').trim())).toEqual([fs.readFileSync(a.caCert, 'utf8').trim(), fs.readFileSync(b.caCert, 'utf8').trim()]);
    expect(readCaCertificates(undefined, undefined)).toBeUndefined();
  });
});

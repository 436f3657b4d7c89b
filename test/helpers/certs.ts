import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './relay';

export interface TestCa {
  dir: string;
  caCert: string;
  caKey: string;
  /** Server cert for localhost/127.0.0.1 signed by the CA. */
  serverCert: string;
  serverKey: string;
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

/** A throwaway CA and a server certificate for 127.0.0.1/localhost, made with Debian's openssl at test time. */
export function makeTestCa(): TestCa {
  const dir = tempDir('cf-certs-');
  const p = (f: string): string => path.join(dir, f);
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=carbon-fanout test CA', '-keyout', p('ca.key'), '-out', p('ca.crt'));
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', p('server.key'), '-out', p('server.csr'));
  fs.writeFileSync(p('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', p('ext.cnf'), '-out', p('server.crt'));
  return { dir, caCert: p('ca.crt'), caKey: p('ca.key'), serverCert: p('server.crt'), serverKey: p('server.key') };
}

export interface ClientCert {
  cert: string;
  key: string;
}

/** A client certificate (extendedKeyUsage clientAuth) with subject CN=`cn`, signed by `ca`. */
export function makeClientCert(ca: TestCa, cn: string): ClientCert {
  const base = path.join(ca.dir, `client-${cn.replace(/[^A-Za-z0-9.-]/g, '_')}`);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${base}.key`, '-out', `${base}.csr`);
  fs.writeFileSync(`${base}.cnf`, 'extendedKeyUsage=clientAuth\n');
  openssl('x509', '-req', '-in', `${base}.csr`, '-CA', ca.caCert, '-CAkey', ca.caKey, '-CAcreateserial', '-days', '2', '-extfile', `${base}.cnf`, '-out', `${base}.crt`);
  return { cert: `${base}.crt`, key: `${base}.key` };
}

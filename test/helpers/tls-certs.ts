import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Files of a throwaway CA and a server certificate it signed for 127.0.0.1 and localhost. */
export interface TestCerts {
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: string;
  /** A second CA that signed nothing of this set: trusting it must fail. */
  otherCa: string;
}

/** Make a CA and a server certificate in `dir` with Debian's `openssl` (EC P-256, one day). */
export async function makeTestCerts(dir: string): Promise<TestCerts> {
  const f = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=PandaKV test CA']);
  await run('openssl', ['req', '-x509', ...ec, '-keyout', f('other-ca.key'), '-out', f('other-ca.pem'), '-days', '1', '-subj', '/CN=Another CA']);
  await run('openssl', ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(f('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '1', '-extfile', f('san.cnf')]);
  return {
    caFile: f('ca.pem'), certFile: f('server.pem'), keyFile: f('server.key'),
    ca: await readFile(f('ca.pem'), 'utf8'), otherCa: await readFile(f('other-ca.pem'), 'utf8'),
  };
}


import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ServerIdentity {
  key: string;
  cert: string;
  /** SHA-256 of the certificate (DER), as terminals pin it: "AB:CD:…". */
  fingerprint: string;
}

/**
 * The server's TLS identity: made once (a self-signed P-256 certificate valid 10 years) and
 * kept in the state directory. Terminals pin its fingerprint, which comes with their boot
 * image, so no CA is involved.
 */
export function loadOrCreateIdentity(stateDir: string): ServerIdentity {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const keyFile = path.join(stateDir, 'server.key');
  const certFile = path.join(stateDir, 'server.crt');
  if (!fs.existsSync(keyFile) || !fs.existsSync(certFile)) {
    // The key is never readable by others, not even for the moment between writing and chmod.
    const umask = process.umask(0o077);
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
          '-subj', `/CN=waydesk ${os.hostname()}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
          '-keyout', keyFile, '-out', certFile],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
    } catch (err) {
      throw new Error(`could not create the server certificate in ${stateDir} with openssl: ${(err as Error).message}`);
    } finally {
      process.umask(umask);
    }
  }
  const st = fs.statSync(keyFile);
  if ((st.mode & 0o077) !== 0) {
    throw new Error(
      `the server's private key ${keyFile} can be read by others (mode ${(st.mode & 0o777).toString(8)}): ` +
        `anyone who has it can pose as this server. Fix it with: chmod 600 ${keyFile}` +
        ' (and make a new one, deleting both files, if you cannot tell who read it)',
    );
  }
  const cert = fs.readFileSync(certFile, 'utf8');
  return { key: fs.readFileSync(keyFile, 'utf8'), cert, fingerprint: new crypto.X509Certificate(cert).fingerprint256 };
}

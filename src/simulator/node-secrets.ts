// The simulated node's identity, generated once and kept in the data directory so that a restart presents the
// same TLS certificate, API token and SSH keys — the fingerprints the console pinned stay valid.
import { randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { generateEd25519KeyPair } from '../lib/ssh-keys.ts';

export interface NodeSecrets {
  tls: { cert: string; key: string; fingerprint: string };
  token: { id: string; secret: string };
  ssh: { hostKey: string; clientPrivateKey: string; clientPublicKey: string };
}

const TOKEN_ID = 'root@pam!launchpad';

/** Loads <dataDir>/secrets/*, creating whatever is missing (files are 0600, the directory 0700). */
export async function loadOrCreateNodeSecrets(dataDir: string, node: string): Promise<NodeSecrets> {
  const dir = join(dataDir, 'secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = (name: string) => join(dir, name);
  const write = (name: string, content: string) => writeFileSync(file(name), content, { mode: 0o600 });

  if (!existsSync(file('api.pem')) || !existsSync(file('api.key'))) {
    const notBefore = new Date(Date.now() - 86_400_000);
    const notAfter = new Date(notBefore.getTime() + 2 * 365 * 86_400_000);
    // Like pveproxy-ssl.pem: RSA 2048, SHA-256, names the node; self-signed here (a real node's is CA-signed).
    const pems = await generate([{ name: 'commonName', value: `${node}.local` }, { name: 'organizationName', value: 'PVE Cluster Node' }], {
      keyType: 'rsa',
      keySize: 2048,
      algorithm: 'sha256',
      notBeforeDate: notBefore,
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: node }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
      ],
    });
    write('api.pem', pems.cert);
    write('api.key', pems.private);
  }
  if (!existsSync(file('api-token.json'))) {
    write('api-token.json', JSON.stringify({ id: TOKEN_ID, secret: randomUUID() }));
  }
  if (!existsSync(file('ssh_host_ed25519_key'))) {
    write('ssh_host_ed25519_key', generateEd25519KeyPair().private);
  }
  if (!existsSync(file('id_ed25519')) || !existsSync(file('id_ed25519.pub'))) {
    const pair = generateEd25519KeyPair({ comment: 'launchpad' });
    write('id_ed25519', pair.private);
    write('id_ed25519.pub', `${pair.public}\n`);
  }

  const cert = readFileSync(file('api.pem'), 'utf8');
  const token = JSON.parse(readFileSync(file('api-token.json'), 'utf8')) as { id: string; secret: string };
  return {
    tls: { cert, key: readFileSync(file('api.key'), 'utf8'), fingerprint: new X509Certificate(cert).fingerprint256 },
    token,
    ssh: {
      hostKey: readFileSync(file('ssh_host_ed25519_key'), 'utf8'),
      clientPrivateKey: readFileSync(file('id_ed25519'), 'utf8'),
      clientPublicKey: readFileSync(file('id_ed25519.pub'), 'utf8').trim(),
    },
  };
}

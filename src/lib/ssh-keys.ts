import ssh2 from 'ssh2';

type KeyPairOptions = Parameters<typeof ssh2.utils.generateKeyPairSync>[1];

/**
 * An Ed25519 key pair in OpenSSH format. ssh2's generator occasionally (about 1 in 250) drops a leading zero byte of
 * the public key, producing a key nothing can parse; such a pair is simply generated again.
 */
export function generateEd25519KeyPair(options: KeyPairOptions = {}): { private: string; public: string } {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', options);
    const pub = ssh2.utils.parseKey(pair.public);
    const key = Array.isArray(pub) ? pub[0] : pub;
    // 4 + "ssh-ed25519" (11) + 4 + 32 bytes of key: the whole wire form of a sound public key.
    if (key && !(key instanceof Error) && key.getPublicSSH().length === 51) return pair;
  }
}

/** Why ssh2 could not use this key exactly as the pipeline will (unencrypted, private, a format it reads), or undefined. */
export function privateKeyProblem(key: string): string | undefined {
  const parsed = ssh2.utils.parseKey(key);
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || first instanceof Error) {
    if (first instanceof Error && /encrypted|passphrase/i.test(first.message)) {
      return 'This key is protected by a passphrase; Launchpad needs a key without one (make one with ssh-keygen -t ed25519 -N "").';
    }
    return 'This is not a private key Launchpad can read; paste an OpenSSH or PEM private key (-----BEGIN OPENSSH PRIVATE KEY----- …).';
  }
  if (!first.isPrivateKey()) return 'This is a public key; paste the private key (the file without .pub).';
  return undefined;
}

/** The OpenSSH public key line of a private key, for the node's authorized_keys (undefined if unreadable). */
export function publicKeyLine(privateKey: string): string | undefined {
  const parsed = ssh2.utils.parseKey(privateKey);
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || first instanceof Error) return undefined;
  return `${first.type} ${first.getPublicSSH().toString('base64')} launchpad`;
}

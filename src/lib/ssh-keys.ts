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

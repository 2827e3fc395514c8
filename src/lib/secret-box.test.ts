import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox, SecretBoxError } from './secret-box.ts';

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));

  it('round-trips unicode and uses the v1:<iv>:<tag>:<ciphertext> format with a fresh IV', () => {
    const a = box.seal('pässwörd $(rm -rf /) 🚀', 'row-1');
    const b = box.seal('pässwörd $(rm -rf /) 🚀', 'row-1');
    expect(a).toMatch(/^v1:[A-Za-z0-9+/=]{16}:[A-Za-z0-9+/=]{24}:[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(box.open(a, 'row-1')).toBe('pässwörd $(rm -rf /) 🚀');
  });

  it('refuses a tampered ciphertext or tag', () => {
    const sealed = box.seal('secret', 'row-1');
    const [v, iv, tag, ct] = sealed.split(':') as [string, string, string, string];
    const flipped = Buffer.from(ct, 'base64');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => box.open([v, iv, tag, flipped.toString('base64')].join(':'), 'row-1')).toThrow(SecretBoxError);
    const badTag = Buffer.from(tag, 'base64');
    badTag[3] = badTag[3]! ^ 0x80;
    expect(() => box.open([v, iv, badTag.toString('base64'), ct].join(':'), 'row-1')).toThrow(SecretBoxError);
  });

  it('refuses another row id (AAD) and another key', () => {
    const sealed = box.seal('secret', 'row-1');
    expect(() => box.open(sealed, 'row-2')).toThrow(/tampered/);
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'row-1')).toThrow(SecretBoxError);
  });

  it('rejects keys that are not 32 bytes and unknown formats', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow(SecretBoxError);
    expect(() => box.open('v2:a:b:c', 'row-1')).toThrow(/format/);
  });
});

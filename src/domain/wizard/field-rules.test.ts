import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { generateEd25519KeyPair } from '../../lib/ssh-keys.ts';
import {
  checkBridge, checkGateway, checkHostname, checkNameserver, checkOsTemplateVolid, checkPassword, checkStorageId, matchOsTemplate,
  parseAmount, parseCidr, parseExtraPackages, parseIpv4, parseSshPublicKeys, parseTags, parseVmid,
} from './field-rules.ts';

const HOSTILE = ['a"b', "a'b", 'a$(id)', 'a`id`', 'a\nb', 'a\0b', 'münchen', 'a b', 'x'.repeat(100_000)];

describe('hostname', () => {
  it('accepts DNS labels', () => {
    for (const ok of ['a', 'web-1', 'A1', 'x'.repeat(63)]) expect(checkHostname(ok)).toBeUndefined();
  });
  it('refuses everything else with a message', () => {
    for (const bad of ['', '-a', 'a-', 'a.b', 'a_b', 'x'.repeat(64), ...HOSTILE]) expect(checkHostname(bad), JSON.stringify(bad.slice(0, 20))).toMatch(/\w/);
  });
});

describe('numbers', () => {
  it('VMIDs follow pve-vmid', () => {
    expect(parseVmid('100')).toBe(100);
    expect(parseVmid('999999999')).toBe(999_999_999);
    for (const bad of ['99', '0100', '1000000000', '1e3', ' 100', '', '100.0', ...HOSTILE]) expect(typeof parseVmid(bad)).toBe('string');
  });
  it('amounts stay in range and name the field', () => {
    expect(parseAmount('16', 'memory', 'Memory (MiB)')).toBe(16);
    expect(parseAmount('15', 'memory', 'Memory (MiB)')).toBe('Memory (MiB) must be a whole number from 16 to 1048576.');
    expect(parseAmount('0', 'swap', 'Swap')).toBe(0);
    expect(parseAmount('8193', 'cores', 'Cores')).toMatch(/1 to 8192/);
    expect(parseAmount('9'.repeat(400), 'disk', 'Disk')).toMatch(/1 to 65536/);
    expect(parseAmount('-1', 'swap', 'Swap')).toMatch(/0 to/);
  });
});

describe('password', () => {
  it('needs 8 characters, no control characters, and a matching confirmation', () => {
    expect(checkPassword('', '')).toEqual({ password: expect.stringMatching(/Set a root password/) });
    expect(checkPassword('1234567', '1234567')).toEqual({ password: 'Use at least 8 characters.' });
    expect(checkPassword('good pass\n2', 'good pass\n2').password).toMatch(/control characters/);
    expect(checkPassword('12345678', '12345679')).toEqual({ password_confirm: 'The two passwords do not match.' });
    expect(checkPassword(`"'$(id)\`ü`, `"'$(id)\`ü`)).toEqual({});
    expect(checkPassword('x'.repeat(257), 'x'.repeat(257)).password).toMatch(/at most 256/);
  });
});

describe('SSH public keys', () => {
  const ed = generateEd25519KeyPair({ comment: 'me@laptop' });
  const ecdsa = ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 });
  it('accepts one or more OpenSSH lines and drops blank ones', () => {
    expect(parseSshPublicKeys(ed.public)).toEqual({ keys: ed.public });
    expect(parseSshPublicKeys(`\n${ed.public}\r\n\n${ecdsa.public}  \n`)).toEqual({ keys: `${ed.public}\n${ecdsa.public}` });
  });
  it('names what is wrong', () => {
    const body = ed.public.split(' ')[1]!;
    expect(parseSshPublicKeys(ed.private)).toEqual({ error: expect.stringMatching(/private key/) });
    expect(parseSshPublicKeys('ssh-dss AAAA')).toEqual({ error: expect.stringMatching(/not an OpenSSH public key/) });
    expect(parseSshPublicKeys(`ssh-rsa ${body}`)).toEqual({ error: expect.stringMatching(/does not match its type ssh-rsa/) });
    expect(parseSshPublicKeys(`${ed.public}\nssh-ed25519 $(id)`)).toEqual({ error: expect.stringMatching(/^Line 2 /) });
    expect(parseSshPublicKeys(`ssh-ed25519 ${body} comment\0with-nul`)).toEqual({ error: expect.any(String) });
    expect(parseSshPublicKeys(`${ed.public}\n`.repeat(300))).toEqual({ error: expect.stringMatching(/16 KiB/) });
  });
});

describe('network', () => {
  it('parses IPv4 strictly', () => {
    expect(parseIpv4('192.168.1.1')).toBe(0xc0a80101);
    for (const bad of ['256.1.1.1', '1.2.3', '01.2.3.4', '1.2.3.4 ', '::1', ...HOSTILE]) expect(parseIpv4(bad)).toBeUndefined();
  });
  it('takes CIDRs from /8 to /32 that are host addresses', () => {
    expect(parseCidr('10.0.0.5/24')).toEqual({ address: 0x0a000005, prefix: 24 });
    expect(parseCidr('10.0.0.5/32')).toEqual({ address: 0x0a000005, prefix: 32 });
    expect(parseCidr('10.0.0.5/7')).toBe('The prefix length must be from /8 to /32.');
    expect(parseCidr('10.0.0.0/24')).toMatch(/network address .* 10\.0\.0\.1\/24/);
    expect(parseCidr('10.0.0.255/24')).toMatch(/broadcast/);
    expect(parseCidr('10.0.0.5')).toMatch(/prefix length/);
  });
  it('wants the gateway inside the subnet and not the address itself', () => {
    const cidr = parseCidr('192.168.1.50/24') as { address: number; prefix: number };
    expect(checkGateway('192.168.1.1', cidr)).toBeUndefined();
    expect(checkGateway('192.168.2.1', cidr)).toBe('The gateway must be in the container’s subnet 192.168.1.0/24.');
    expect(checkGateway('192.168.1.50', cidr)).toMatch(/own address/);
    expect(checkGateway('gw', cidr)).toMatch(/IPv4/);
    const wide = parseCidr('172.16.5.9/12') as { address: number; prefix: number };
    expect(checkGateway('172.31.255.254', wide)).toBeUndefined();
  });
  it('checks nameserver and bridge', () => {
    expect(checkNameserver('1.1.1.1')).toBeUndefined();
    expect(checkNameserver('1.1.1.1 8.8.8.8')).toMatch(/one IPv4/);
    expect(checkBridge('vmbr0')).toBeUndefined();
    expect(checkBridge('vmbr0;reboot')).toMatch(/bridge name/);
    expect(checkBridge('a'.repeat(16))).toMatch(/15/);
  });
});

describe('storage and OS templates', () => {
  const volids = [
    'local:vztmpl/debian-11-standard_11.7-1_amd64.tar.zst',
    'local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst',
    'local:vztmpl/debian-12-standard_12.10-1_amd64.tar.zst',
    'nas:vztmpl/debian-120-custom.tar.gz',
  ];
  it('matches TEMPLATE_OS to the newest file of that OS', () => {
    expect(matchOsTemplate(volids, 'debian-12')).toBe('local:vztmpl/debian-12-standard_12.10-1_amd64.tar.zst');
    expect(matchOsTemplate(volids, 'debian-11')).toBe('local:vztmpl/debian-11-standard_11.7-1_amd64.tar.zst');
    expect(matchOsTemplate(volids, 'ubuntu-24.04')).toBeUndefined();
  });
  it('checks volids and storage ids', () => {
    expect(checkOsTemplateVolid(volids[0]!)).toBeUndefined();
    for (const bad of ['debian-12', 'local:iso/x.iso', 'local:vztmpl/../x.tar.gz', 'local:vztmpl/a b.tar.gz']) expect(checkOsTemplateVolid(bad)).toMatch(/volume id/);
    expect(checkStorageId('local-lvm')).toBeUndefined();
    for (const bad of ['l', '1local', 'local-', 'lo cal', 'a$(b)']) expect(checkStorageId(bad)).toMatch(/storage id/);
  });
});

describe('lists', () => {
  it('tags follow pve-tag after lower-casing', () => {
    expect(parseTags('Web; nginx,prod  web')).toEqual({ tags: ['web', 'nginx', 'prod'] });
    expect(parseTags('ok bad$(x)')).toEqual({ error: expect.stringMatching(/“bad\$\(x\)” is not a valid tag/) });
    expect(parseTags(Array.from({ length: 21 }, (_, i) => `t${i}`).join(' '))).toEqual({ error: 'Use at most 20 tags.' });
  });
  it('extra packages follow Debian’s grammar, with optional versions', () => {
    expect(parseExtraPackages(' curl\nhtop  nginx=1.22.1-9 curl ')).toEqual({ packages: ['curl', 'htop', 'nginx=1.22.1-9'] });
    for (const bad of ['Curl', 'c', 'curl;reboot', '$(id)', '`id`', 'ö']) expect(parseExtraPackages(bad)).toEqual({ error: expect.stringMatching(/not a Debian package name/) });
  });
});

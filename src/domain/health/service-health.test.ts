import { describe, expect, it } from 'vitest';
import { checkableUrl, httpOutcome, listeningPortsFrom, overallHealth, serviceState, unitOutcome, validUnit, type ServiceHealth } from './service-health.ts';

describe('what a check may use', () => {
  it('takes plain systemd unit names and nothing a shell or systemctl would read otherwise', () => {
    expect(validUnit('nginx')).toBe('nginx.service');
    expect(validUnit('postgresql@15-main')).toBe('postgresql@15-main.service');
    expect(validUnit('ssh.socket')).toBe('ssh.socket');
    for (const bad of ['-nginx', 'nginx;reboot', 'a b', '$(id)', 'x`id`', '../etc', 'a\\x2d', '', 'ngin\nx']) expect(validUnit(bad)).toBeNull();
  });

  it('fetches only http(s) URLs to the CT’s own address, without credentials', () => {
    expect(checkableUrl('http://10.0.0.5/', '10.0.0.5')).toEqual({ url: 'http://10.0.0.5/' });
    expect(checkableUrl('https://10.0.0.5:8443/admin?x=1', '10.0.0.5')).toEqual({ url: 'https://10.0.0.5:8443/admin?x=1' });
    expect(checkableUrl('http://10.0.0.6/', '10.0.0.5')).toEqual({ refused: "not checked over HTTP: 10.0.0.6 is not this container's address (10.0.0.5)" });
    expect(checkableUrl('http://u:p@10.0.0.5/', '10.0.0.5')).toEqual({ refused: 'not checked over HTTP: the URL carries credentials' });
    expect(checkableUrl('javascript:alert(1)', '10.0.0.5')).toEqual({ refused: 'not checked over HTTP: javascript: is not http: or https:' });
    expect(checkableUrl('ssh://dev@10.0.0.5', '10.0.0.5')).toMatchObject({ refused: expect.stringContaining('ssh:') });
  });
});

describe('reading the answers', () => {
  it('reads ports from ss -Htln, IPv4 and IPv6', () => {
    expect([...listeningPortsFrom(['LISTEN 0      511          0.0.0.0:80        0.0.0.0:*', 'LISTEN 0 244 [::1]:5432 [::]:*', ''])]).toEqual([80, 5432]);
  });

  it('says what systemctl and curl answered', () => {
    expect(unitOutcome('nginx.service', 'failed')).toEqual({ kind: 'unit', ok: false, words: 'nginx.service is inactive (failed)' });
    expect(unitOutcome('nginx.service', 'active').ok).toBe(true);
    expect(httpOutcome('http://10.0.0.5/', '502 0.123456', 0)).toEqual({ kind: 'http', ok: false, words: 'http://10.0.0.5/ answered 502 in 0.12 s' });
    expect(httpOutcome('http://10.0.0.5/', '301 0.004', 0).ok).toBe(true);
    expect(httpOutcome('http://10.0.0.5/', '000 5.001', 28).words).toBe('http://10.0.0.5/ did not answer: no answer within 5 s');
  });

  it('is healthy when all pass, down when none, degraded between', () => {
    const ok = { kind: 'port' as const, ok: true, words: 'something listens on 80' };
    const bad = { kind: 'unit' as const, ok: false, words: 'nginx.service is inactive (failed)' };
    expect([serviceState([ok]), serviceState([bad]), serviceState([ok, bad])]).toEqual(['healthy', 'down', 'degraded']);
    const svc = (state: ServiceHealth['state'], checks: ServiceHealth['checks'] = [ok]): ServiceHealth => ({ name: 'x', port: 80, unit: null, url: null, state, checks });
    expect(overallHealth([svc('healthy'), svc('healthy'), svc('healthy')])).toEqual({ state: 'healthy', summary: 'all 3 services healthy' });
    expect(overallHealth([svc('healthy'), svc('down', [bad])])).toEqual({ state: 'degraded', summary: 'nginx.service is inactive (failed)' });
    expect(overallHealth([svc('down', [bad])]).state).toBe('down');
  });
});

// A running CT's IPv4 address on eth0. Proxmox lists a CT's addresses at GET …/lxc/{vmid}/interfaces only since
// pve-container 5.0.6 (PVE 8.1); PVE 8.0 answers 501 `Method 'GET …/interfaces' not implemented` there. Then the
// address is read inside the CT — `pct exec <vmid> -- ip -4 -o addr show dev eth0` on its node, what community-scripts'
// build.func does for every CT (reference/proxmox-api.md §3.11, §6.2) — so builds and power actions work on 8.0 too.
import { findIpv4, type ProxmoxClient } from '../../proxmox/api-client.ts';
import type { LxcAddress } from '../../proxmox/api-types.ts';
import { ProxmoxNotImplementedError } from '../../proxmox/errors.ts';
import { CAPTURED_OUTPUT_CHARS, type NodeShell } from '../../proxmox/node-shell.ts';

export interface Ipv4Lookup {
  api: ProxmoxClient;
  nodeName: string;
  vmid: number;
  /** The SSH session to the CT's node, opened only when the API cannot answer. */
  shell: () => Promise<NodeShell>;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** The address (undefined while eth0 has none); `fromCt`: read inside the CT, the node lacking …/interfaces. */
export async function readIpv4(lookup: Ipv4Lookup): Promise<{ ip: string | undefined; fromCt: boolean }> {
  try {
    return { ip: findIpv4(await lookup.api.getLxcInterfaces(lookup.nodeName, lookup.vmid)), fromCt: false };
  } catch (err) {
    if (!(err instanceof ProxmoxNotImplementedError)) throw err;
  }
  const shell = await lookup.shell();
  const stdout: string[] = [];
  const { exitCode } = await shell.pctExec(lookup.vmid, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], {
    timeoutMs: lookup.timeoutMs,
    signal: lookup.signal,
    maxOutputChars: CAPTURED_OUTPUT_CHARS,
    onLine: (stream, text) => stream === 'stdout' && stdout.push(text),
  });
  // A CT that is not up yet, or has no eth0 (yet): no address, as /interfaces would say.
  if (exitCode !== 0) return { ip: undefined, fromCt: true };
  return { ip: findIpv4([{ name: 'eth0', hwaddr: '', addresses: stdout.flatMap(inetOf) }]), fromCt: true };
}

/** `2: eth0    inet 10.10.0.100/24 brd 10.10.0.255 scope global dynamic eth0\       valid_lft …` → its address. */
function inetOf(line: string): LxcAddress[] {
  const m = /\binet (\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})\b/.exec(line);
  return m ? [{ family: 'inet', address: m[1]!, prefix: Number(m[2]) }] : [];
}

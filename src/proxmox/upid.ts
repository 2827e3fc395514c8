// Proxmox task ids (UPIDs): `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:` with uppercase hex
// numbers and a trailing colon (pve-common UPID.pm; reference/proxmox-api.md §4).

export interface Upid {
  node: string;
  pid: number;
  /** Process start in clock ticks since boot. */
  pstart: number;
  /** Epoch seconds. */
  starttime: number;
  /** Task type, e.g. `vzcreate`, `vzstart`, `vzdestroy`. */
  type: string;
  /** For CT tasks the vmid (as text); may be empty. */
  id: string;
  /** `user@realm` or, for API tokens, `user@realm!tokenid`. */
  user: string;
}

const UPID_RE =
  /^UPID:([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$/;

/** Parses a UPID, or returns undefined when it is not one. */
export function parseUpid(upid: string): Upid | undefined {
  const m = UPID_RE.exec(upid);
  if (!m) return undefined;
  const [, node, pid, pstart, starttime, type, id, user] = m as unknown as [string, string, string, string, string, string, string, string];
  return {
    node,
    pid: parseInt(pid, 16),
    pstart: parseInt(pstart, 16),
    starttime: parseInt(starttime, 16),
    type,
    id,
    user,
  };
}

export function formatUpid(u: Upid): string {
  const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');
  return `UPID:${u.node}:${hex(u.pid, 8)}:${hex(u.pstart, 8)}:${hex(u.starttime, 8)}:${u.type}:${u.id}:${u.user}:`;
}

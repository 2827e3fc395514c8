import type { CtRuntime } from './ct-runtime.ts';
import type { SimulatorFaults } from './faults.ts';
// The seam between the simulator's two halves: the HTTPS API side owns the cluster state (src/simulator/state.ts)
// and the SSH side (src/simulator/ssh-host.ts) only looks containers up through this view.

export interface SimContainerView {
  vmid: number;
  status: 'running' | 'stopped';
  hostname: string;
  /** Host directory that is this CT's root filesystem (its writable /etc /root /home /opt /srv /var /tmp live here). */
  rootDir: string;
  /** Its IPv4 address on eth0 while running (static, or its DHCP lease), without the prefix. */
  ipv4?: string;
}

export interface SimulatorStateView {
  /** The simulated node's name, e.g. "sim". */
  readonly node: string;
  container(vmid: number): SimContainerView | undefined;
  /** The running CT that has this IPv4 address (what the node reaches on its bridge). */
  containerWithAddress(ipv4: string): SimContainerView | undefined;
}

export interface SshHostOptions {
  /** Debian mode: `pct exec` enters the CT's namespaces through this runtime instead of a bubblewrap sandbox. */
  runtime?: CtRuntime;
  state: SimulatorStateView;
  /** The node's fault switches (serviceErrors: host-mode CT services answer HTTP 502). */
  faults?: SimulatorFaults;
  /** The host's private key (OpenSSH or PEM); its fingerprint is what clients pin. */
  hostKey: string;
  /** The one client public key accepted (OpenSSH `ssh-ed25519 AAAA…` line). */
  authorizedPublicKey: string;
  user: string;
  host?: string;
  port?: number;
  /** Divides simulated delays. */
  speed: number;
}

export interface SshHostHandle {
  host: string;
  port: number;
  /** OpenSSH-style `SHA256:<base64 without padding>` of the host key. */
  hostKeyFingerprint: string;
  /** true when commands run for real in a bubblewrap sandbox; false when bwrap is missing and output is simulated. */
  sandboxed: boolean;
  /** Every command line run on the node so far (newest last; like the node's shell history), for tests. */
  commands: readonly string[];
  /**
   * Accepts the client key for another login too, with this user id (as a node where that user has the key in its
   * authorized_keys). pct refuses a login whose user id is not 0, as real pct does.
   */
  addLogin(name: string, uid: number): void;
  close(): Promise<void>;
}

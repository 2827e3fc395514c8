import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Deps } from '../../src/deps.ts';
import type { ContainerConfig } from '../../src/domain/containers/container-config.ts';
import { registerSimulatorNode } from '../../src/domain/nodes/simulator-node.ts';
import type { Template } from '../../src/domain/templates/template.ts';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.ts';
import type { PveUser } from '../../src/simulator/pve-users.ts';
import { rootPasswordAad } from '../../src/domain/sealed-secrets.ts';

/** sandbox: false starts it as on a machine without bubblewrap (commands in CTs only simulated). */
export async function startTestSimulator(deps: Deps, options: { speed?: number; nodeName?: string; sandbox?: false; pveUsers?: PveUser[] } = {}) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'launchpad-sim-'));
  // Host mode on purpose: fast, no downloads (the Debian mode has its own suite, test/template-conformance.test.ts).
  const sim: SimulatorHandle = await startSimulator({ dataDir, speed: options.speed ?? 50, authDelayMs: 0, nodeName: options.nodeName, rootfs: { mode: 'host' }, sandbox: options.sandbox, pveUsers: options.pveUsers });
  const node = await registerSimulatorNode(deps, sim);
  return {
    sim,
    node,
    async close() {
      await sim.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A container row as the wizard would store it, built from a template (or from scratch). */
export async function insertDeployment(
  deps: Deps,
  input: { ownerId: number; nodeId: number; template?: Template; hostname?: string; vmid?: number; config?: Partial<ContainerConfig>; password?: string },
) {
  const t = input.template;
  const hostname = input.hostname ?? `ct-${randomUUID().slice(0, 8)}`;
  const config: ContainerConfig = {
    templateName: t?.name ?? null,
    ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst',
    hostname,
    cores: t?.cores ?? 1,
    memory: t?.memory ?? 512,
    swap: t?.swap ?? 512,
    disk: t?.disk ?? 4,
    storage: 'local-lvm',
    bridge: 'vmbr0',
    ip: 'dhcp',
    gateway: null,
    nameserver: null,
    unprivileged: t?.unprivileged ?? true,
    nesting: t?.nesting ?? false,
    tags: t?.tags ?? [],
    sshPublicKey: null,
    packageGroups: ['apt', 'npm', 'pip'],
    extraPackages: [],
    scripts: (t?.scripts ?? []).filter((s) => s.enabled).sort((a, b) => a.position - b.position).map((s) => s.name),
    destroyOnFailure: false,
    // As Deploy records it: a VMID given here was typed; without one the build takes the next free one.
    vmidEntered: input.vmid !== undefined,
    template: {
      scripts: (t?.scripts ?? []).map((s) => ({ name: s.name, content: s.content })),
      files: (t?.files ?? []).map((f) => ({ name: f.name, targetPath: f.targetPath, content: f.content, mode: f.mode, owner: f.owner, policy: f.policy })),
      packages: (t?.packages ?? []).map((p) => ({ manager: p.manager, name: p.name, version: p.version })),
    },
    ...input.config,
  };
  const id = randomUUID();
  return deps.repos.containers.create(
    { id, ownerId: input.ownerId, nodeId: input.nodeId, templateId: t?.id ?? null, vmid: input.vmid ?? null, hostname, config: config as unknown as Record<string, unknown> },
    deps.secrets.seal(input.password ?? 'root-password-1', rootPasswordAad(id)),
  );
}

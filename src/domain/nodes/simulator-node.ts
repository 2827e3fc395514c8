// The embedded simulator becomes an ordinary node row — API token, pinned certificate and pinned SSH host key —
// so nothing downstream knows it is simulated. Re-registering (each `npm start`) refreshes ports and keys: the
// simulator's ports change between runs and its identity may have been regenerated.
import type { NodeInput, NodeRecord, NodesRepository } from '../../db/nodes-repository.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import type { SimulatorHandle } from '../../simulator/index.ts';
import { sshKeyAad, tokenSecretAad } from '../sealed-secrets.ts';

export class SimulatorNodeNameTakenError extends Error {}

export async function registerSimulatorNode(
  deps: { repos: { nodes: NodesRepository }; secrets: SecretBox },
  handle: Pick<SimulatorHandle, 'nodeName' | 'apiUrl' | 'tokenId' | 'tokenSecret' | 'tlsFingerprint' | 'ssh'>,
): Promise<NodeRecord> {
  const input: NodeInput = {
    name: handle.nodeName,
    apiUrl: handle.apiUrl,
    tokenId: handle.tokenId,
    tlsFingerprint: handle.tlsFingerprint,
    sshHost: handle.ssh.host,
    sshPort: handle.ssh.port,
    sshUser: handle.ssh.user,
    sshHostKeyFingerprint: handle.ssh.hostKeyFingerprint,
    isSimulator: true,
  };
  const seal = (id: number) => ({
    tokenSecretEnc: deps.secrets.seal(handle.tokenSecret, tokenSecretAad(id)),
    sshPrivateKeyEnc: deps.secrets.seal(handle.ssh.privateKey, sshKeyAad(id)),
  });
  const existing = await deps.repos.nodes.findByName(handle.nodeName);
  if (!existing) return deps.repos.nodes.create(input, seal);
  if (!existing.isSimulator) {
    // Never point a real node's row (and its pinned identity) at the simulator.
    throw new SimulatorNodeNameTakenError(
      `A Proxmox node named “${handle.nodeName}” is configured and is not the simulator; rename it, or set PVE_SIMULATOR=off.`,
    );
  }
  const updated = await deps.repos.nodes.update(existing.id, input, seal);
  if (!updated) throw new Error(`node ${existing.id} was deleted while the simulator was being registered`);
  return updated;
}

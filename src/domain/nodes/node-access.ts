// Opening a stored node: unseal its secrets and hand back a Proxmox API client and an SSH target. The same path
// serves a real cluster and the embedded simulator.
import type { NodeRecord } from '../../db/nodes-repository.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import { ProxmoxClient, type ProxmoxClientOptions } from '../../proxmox/api-client.ts';
import type { NodeShellTarget } from '../../proxmox/node-shell.ts';
import { tokenSecretAad, sshKeyAad } from '../sealed-secrets.ts';

export class NodeNotReadyError extends Error {}

export function proxmoxClientFor(node: NodeRecord, secrets: SecretBox, options: Partial<ProxmoxClientOptions> = {}): ProxmoxClient {
  if (!node.tlsFingerprint) {
    throw new NodeNotReadyError(`Node “${node.name}” has no pinned certificate fingerprint yet. Open Nodes → ${node.name} → Edit and confirm it.`);
  }
  return new ProxmoxClient({
    apiUrl: node.apiUrl,
    tokenId: node.tokenId,
    tokenSecret: secrets.open(node.tokenSecretEnc, tokenSecretAad(node.id)),
    tlsFingerprint: node.tlsFingerprint,
    ...options,
  });
}

export function shellTargetFor(node: NodeRecord, secrets: SecretBox): NodeShellTarget {
  if (!node.sshHost || !node.sshPrivateKeyEnc) {
    throw new NodeNotReadyError(`Node “${node.name}” has no SSH access configured; Launchpad needs it to push files and run scripts. Open Nodes → ${node.name} → Edit.`);
  }
  if (!node.sshHostKeyFingerprint) {
    throw new NodeNotReadyError(`Node “${node.name}” has no pinned SSH host key yet. Open Nodes → ${node.name} → Edit and confirm it.`);
  }
  return {
    host: node.sshHost,
    port: node.sshPort,
    username: node.sshUser,
    privateKey: secrets.open(node.sshPrivateKeyEnc, sshKeyAad(node.id)),
    hostKeyFingerprint: node.sshHostKeyFingerprint,
  };
}

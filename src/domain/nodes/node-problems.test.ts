// The 403 advice against the texts Proxmox really sends: pve-access-control RPCEnvironment.pm `check` raises
// `Permission check failed (<path>, <priv>)`; pve-container API2/LXC.pm create_vm checks Sys.Modify on / for a
// privileged CT; pve-guest-common GuestHelpers.pm assert_tag_permissions raises
// `Permission check failed (/, Sys.Modify for modifying tag '<tag>')` (pve-common Exception.pm raise_perm_exc).
import { describe, expect, it } from 'vitest';
import { ProxmoxPermissionError } from '../../proxmox/errors.ts';
import { describeFailure } from '../pipeline/pipeline-errors.ts';
import { problemFor } from './node-problems.ts';

const node = { apiUrl: 'https://pve:8006', tokenId: 'launchpad@pve!deploy', sshUser: 'root' };
const problem = (detail: string) => problemFor(new ProxmoxPermissionError(detail), { node })!;
const GRANT_SYS_MODIFY = "pveum role add LaunchpadSysModify --privs Sys.Modify && pveum acl modify / --tokens 'launchpad@pve!deploy' --roles LaunchpadSysModify";

describe('the advice for a 403', () => {
  it('a missing VM or datastore privilege: the roles Launchpad needs', () => {
    const p = problem('Permission check failed (/vms/101, VM.Allocate)');
    expect(p.code).toBe('missing-privilege');
    expect(p.message).toBe('Proxmox refused the request: Permission check failed (/vms/101, VM.Allocate)');
    expect(p.snippet).toBe("pveum acl modify / --tokens 'launchpad@pve!deploy' --roles PVEVMAdmin,PVEDatastoreUser,PVEAuditor,PVESDNUser");
  });

  it('Sys.Modify on / for a privileged CT: names both causes and both remedies, and a role that has the privilege', () => {
    const p = problem('Permission check failed (/, Sys.Modify)');
    expect(p.title).toBe('The token lacks Sys.Modify on / (403)');
    expect(p.remedy).toContain('(1) A privileged container (Unprivileged off): deploy it unprivileged instead.');
    expect(p.remedy).toContain('Datacenter → Options → User Tag Access');
    expect(p.remedy).toContain('Registered Tags');
    expect(p.remedy).toContain('Proxmox named no tag, so here it is a privileged container.');
    expect(p.snippet).toBe(GRANT_SYS_MODIFY);
    expect(p.snippet).not.toContain('PVEVMAdmin');
  });

  it("Sys.Modify for the tag 'launchpad' (User Tag Access or Registered Tags): says how to allow the tag", () => {
    const p = problem("Permission check failed (/, Sys.Modify for modifying tag 'launchpad')");
    expect(p.title).toBe('The token lacks Sys.Modify on / (403)');
    expect(p.remedy).toContain('Here it is the tag “launchpad”.');
    expect(p.remedy).toContain('allow launchpad there (mode “free”, or add launchpad to the list) and keep it off Registered Tags');
    expect(p.remedy).toContain('deploy it unprivileged instead');
    expect(p.snippet).toBe(GRANT_SYS_MODIFY);
  });

  it('a tag from the template names that tag beside launchpad', () => {
    const p = problem("Permission check failed (/, Sys.Modify for modifying tag 'web')");
    expect(p.remedy).toContain('Here it is the tag “web”.');
    expect(p.remedy).toContain('allow launchpad and web there (mode “free”, or add launchpad and web to the list) and keep them off Registered Tags');
  });

  it('a build that fails on it says the same in its failure panel', () => {
    const text = describeFailure(new ProxmoxPermissionError("Permission check failed (/, Sys.Modify for modifying tag 'launchpad')"));
    expect(text).toMatch(/^Proxmox refused the request: Permission check failed \(\/, Sys\.Modify for modifying tag 'launchpad'\) — Proxmox asks for Sys\.Modify on \/ in two cases/);
    expect(text).toContain('pveum role add LaunchpadSysModify --privs Sys.Modify');
    expect(text).toMatch(/ Then Retry\.$/);
  });
});

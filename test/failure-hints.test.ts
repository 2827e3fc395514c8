// The hint a failed task's exit status gets. Texts as the node writes them: a ZFS pool without room fails the
// create's `zfs create` (pve-storage ZFSPoolPlugin zfs_request: run_command(errmsg => "zfs error"), which dies with
// the command's last stderr line, pve-common Cmd.pm) with libzfs's EZFS_NOSPC description, "out of space".
import { describe, expect, it } from 'vitest';
import { TaskFailedError } from '../src/proxmox/errors.ts';
import { describeFailure } from '../src/domain/pipeline/pipeline-errors.ts';

const upid = 'UPID:pve:0000A1B2:0001C3D4:6560F000:vzcreate:101:root@pam!launchpad:';

describe('the storage-full hint', () => {
  it.each([
    [`unable to create CT 101 - zfs error: cannot create 'rpool/data/subvol-101-disk-0': out of space`],
    [`unable to create CT 101 - zfs error: cannot create 'tank/vm-101-disk-0': out of space`],
    [`unable to create CT 101 - lvcreate 'pve/vm-101-disk-0' error:   Volume group "pve" has insufficient free space (952 extents): 1024 required.`],
  ])('%s', (exitstatus) => {
    expect(describeFailure(new TaskFailedError(upid, exitstatus, []))).toContain('The storage is full');
  });
});

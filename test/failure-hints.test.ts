// The hint a failed task's exit status gets. Texts as the node writes them: a ZFS pool without room fails the
// create's `zfs create` (pve-storage ZFSPoolPlugin zfs_request: run_command(errmsg => "zfs error"), which dies with
// the command's last stderr line, pve-common Cmd.pm) with libzfs's EZFS_NOSPC description, "out of space".
import { describe, expect, it } from 'vitest';
import { TaskFailedError } from '../src/proxmox/errors.ts';
import { describeFailure, failureKindOf } from '../src/domain/pipeline/pipeline-errors.ts';

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

describe('a failed task whose exit status names only the command', () => {
  // pve-container's restore_archive: tar's own errors are in the task log, the TASK ERROR line has its exit code.
  const tarFailed = `unable to create CT 101 - command 'lxc-usernsexec -m u:0:100000:65536 -m g:0:100000:65536 -- tar xpf - --zstd --totals --one-file-system -p --sparse --numeric-owner --acls --xattrs '--xattrs-include=user.*' '--xattrs-include=security.capability' '--warning=no-file-ignored' '--warning=no-xattr-write' -C /var/lib/lxc/101/rootfs --skip-old-files --anchored --exclude './dev/*'' failed: exit code 2`;

  it('gets the hint its last log lines call for: a root disk too small for the template (a quota)', () => {
    const lines = [
      "extracting archive '/var/lib/vz/template/cache/debian-12-standard_12.7-1_amd64.tar.zst'",
      'tar: ./usr/lib/x86_64-linux-gnu/libicudata.so.72.1: Cannot write: Disk quota exceeded',
      'tar: ./usr/share/zoneinfo/right/Europe/Paris: Cannot write: Disk quota exceeded',
      'Total bytes read: 524288000 (500MiB, 95MiB/s)',
      'tar: Exiting with failure status due to previous errors',
    ];
    const said = describeFailure(new TaskFailedError(upid, tarFailed, lines));
    expect(said).toContain('The root disk filled up while the OS template was extracted');
    expect(said).toContain('Deploy again with a larger root disk');
    // Retry would make the same disk again: the page offers new settings instead.
    expect(failureKindOf(new TaskFailedError(upid, tarFailed, lines))).toBe('settings');
  });

  it('gets the same hint when the root disk is a file system of that size (No space left on device)', () => {
    const lines = ['tar: ./var/cache/apt/pkgcache.bin: Cannot write: No space left on device', 'tar: Exiting with failure status due to previous errors'];
    expect(describeFailure(new TaskFailedError(upid, tarFailed, lines))).toContain('The root disk filled up while the OS template was extracted');
    // It may be the storage that is full (a raw disk on a directory storage): freeing space and Retry can mend that.
    expect(failureKindOf(new TaskFailedError(upid, tarFailed, lines))).toBeNull();
  });

  it('gets the generic advice when its lines say nothing known', () => {
    expect(describeFailure(new TaskFailedError(upid, tarFailed, ['tar: Unexpected EOF in archive']))).toContain('Retry, or look at the log above for the cause.');
  });
});

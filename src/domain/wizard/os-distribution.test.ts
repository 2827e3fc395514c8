import { describe, expect, it } from 'vitest';
import { osDistributionOf, osPackageConflict } from './os-distribution.ts';

describe('osDistributionOf', () => {
  // File names as `pveam available` lists them (section system), plus a TurnKey appliance built on Debian.
  it.each([
    ['local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', 'debian-12', 'apt'],
    ['local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst', 'debian-13', 'apt'],
    ['local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst', 'ubuntu-24.04', 'apt'],
    ['nfs:vztmpl/devuan-5.0-standard_5.0_amd64.tar.gz', 'devuan-5.0', 'apt'],
    ['local:vztmpl/debian-12-turnkey-wordpress_18.0-1_amd64.tar.gz', 'debian-12', 'apt'],
    ['local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz', 'alpine-3.20', 'apk'],
    ['local:vztmpl/fedora-41-default_20241118_amd64.tar.xz', 'fedora-41', 'dnf'],
    ['local:vztmpl/centos-9-stream-default_20240828_amd64.tar.xz', 'centos-9', 'dnf'],
    ['local:vztmpl/rockylinux-9-default_20240912_amd64.tar.xz', 'rockylinux-9', 'dnf'],
    ['local:vztmpl/almalinux-9-default_20240911_amd64.tar.xz', 'almalinux-9', 'dnf'],
    ['local:vztmpl/archlinux-base_20240911-1_amd64.tar.zst', 'archlinux', 'pacman'],
    ['local:vztmpl/opensuse-15.6-default_20240910_amd64.tar.xz', 'opensuse-15.6', 'zypper'],
    ['local:vztmpl/gentoo-current-openrc_20250508_amd64.tar.xz', 'gentoo', 'emerge'],
    // A template's TEMPLATE_OS names the distribution the same way.
    ['debian-12', 'debian-12', 'apt'],
    ['alpine-3.20', 'alpine-3.20', 'apk'],
  ])('%s is %s, installing with %s', (volid, name, packageManager) => {
    expect(osDistributionOf(volid)).toMatchObject({ name, packageManager });
  });

  it('does not judge a name it does not know', () => {
    for (const volid of ['local:vztmpl/my-golden-image.tar.zst', 'local:vztmpl/nixos-24.05.tar.xz', 'local:vztmpl/constructor-1.tar', 'local:vztmpl/12-debian.tar', '']) {
      expect(osDistributionOf(volid), volid).toBeUndefined();
    }
  });
});

describe('osPackageConflict', () => {
  const ALPINE = 'local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz';
  const UBUNTU = 'local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst';
  const web = { packages: [{ manager: 'apt' as const }, { manager: 'npm' as const }] };

  it('names the manager needed, what the OS has, and the distributions that have it', () => {
    expect(osPackageConflict(ALPINE, web, ['apt', 'npm'])).toEqual({
      needed: 'apt',
      os: { name: 'alpine-3.20', distribution: 'alpine', packageManager: 'apk' },
      alternatives: 'Debian or Ubuntu',
    });
  });

  it('has none for an OS that installs with apt, an unknown OS, apt switched off, only npm and pip, or no packages', () => {
    expect(osPackageConflict(UBUNTU, web, ['apt', 'npm'])).toBeUndefined();
    expect(osPackageConflict('local:vztmpl/custom-base.tar.zst', web, ['apt'])).toBeUndefined();
    expect(osPackageConflict(ALPINE, web, ['npm'])).toBeUndefined();
    expect(osPackageConflict(ALPINE, { packages: [{ manager: 'npm' }, { manager: 'pip' }] }, ['apt', 'npm', 'pip'])).toBeUndefined();
    expect(osPackageConflict(ALPINE, { packages: [] }, ['apt', 'npm', 'pip'])).toBeUndefined();
  });
});

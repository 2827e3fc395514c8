// Which distribution an OS template is, read from its file name as `pveam available` names the standard ones
// (`debian-12-standard_12.7-1_amd64.tar.zst`, `alpine-3.20-default_20240908_amd64.tar.xz`,
// `archlinux-base_20240911-1_amd64.tar.zst`, TurnKey's `debian-12-turnkey-wordpress_18.0-1_amd64.tar.gz`), and the
// package manager it installs with. A build installs a template's apt packages with apt-get inside the CT, so an
// Alpine or Fedora OS template would fail only at the package step, minutes in: the wizard refuses it up front. A
// name not in the table is not judged (a custom template may be anything).
import type { PackageManager } from '../templates/template.ts';
import { volidFile } from './field-rules.ts';

export type OsPackageManager = 'apt' | 'apk' | 'dnf' | 'pacman' | 'zypper' | 'emerge';

/** The distributions `pveam available` offers (section system), by the name their files start with. */
const PACKAGE_MANAGER_OF: Readonly<Record<string, OsPackageManager>> = {
  debian: 'apt',
  ubuntu: 'apt',
  devuan: 'apt',
  alpine: 'apk',
  fedora: 'dnf',
  centos: 'dnf',
  rockylinux: 'dnf',
  almalinux: 'dnf',
  archlinux: 'pacman',
  opensuse: 'zypper',
  gentoo: 'emerge',
};

/** What to suggest to someone who needs a package manager: the distributions that use it, as people call them. */
const DISTRIBUTIONS_USING: Readonly<Record<OsPackageManager, string>> = {
  apt: 'Debian or Ubuntu',
  apk: 'Alpine',
  dnf: 'Fedora, CentOS Stream, Rocky Linux or AlmaLinux',
  pacman: 'Arch Linux',
  zypper: 'openSUSE',
  emerge: 'Gentoo',
};

/** The Launchpad package groups the distribution's own package manager installs; npm and pip work on any. */
const NEEDS_OS_MANAGER: Readonly<Partial<Record<PackageManager, OsPackageManager>>> = { apt: 'apt' };

export interface OsDistribution {
  /** The name and version the file starts with: `alpine-3.20`, `debian-12`, `archlinux`. */
  name: string;
  /** `alpine`, `debian`, … */
  distribution: string;
  packageManager: OsPackageManager;
}

/** The distribution of an OS template volid (or a bare file name or `TEMPLATE_OS` such as `debian-12`), if known. */
export function osDistributionOf(volid: string): OsDistribution | undefined {
  // The distribution, then its version when one follows (`archlinux-base_…` and `gentoo-current-…` have none).
  const match = /^([a-z]+)(?:-(\d[^-_]*))?/.exec(volidFile(volid));
  const distribution = match?.[1];
  if (!distribution || !Object.hasOwn(PACKAGE_MANAGER_OF, distribution)) return undefined;
  const version = match[2];
  return { name: version ? `${distribution}-${version}` : distribution, distribution, packageManager: PACKAGE_MANAGER_OF[distribution]! };
}

/** A template's packages whose manager the OS template lacks: which one is needed, and what the OS has. */
export interface OsPackageConflict {
  needed: OsPackageManager;
  os: OsDistribution;
  /** The distributions that have the needed one, for the message: “Debian or Ubuntu”. */
  alternatives: string;
}

/**
 * Whether `ostemplate` can install the packages of `template` in the groups switched on: undefined when it can, when
 * none of those packages needs the distribution's package manager, or when the distribution is not known.
 */
export function osPackageConflict(
  ostemplate: string,
  template: { packages: ReadonlyArray<{ manager: PackageManager }> },
  groups: readonly string[],
): OsPackageConflict | undefined {
  const os = osDistributionOf(ostemplate);
  if (!os) return undefined;
  const needed = template.packages
    .filter((p) => groups.includes(p.manager))
    .map((p) => NEEDS_OS_MANAGER[p.manager])
    .find((manager) => manager !== undefined && manager !== os.packageManager);
  if (!needed) return undefined;
  return { needed, os, alternatives: DISTRIBUTIONS_USING[needed] };
}

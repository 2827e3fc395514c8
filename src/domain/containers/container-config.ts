// What the wizard decided, stored as containers.config (jsonb) and read by the pipeline. No secrets: the root
// password is sealed into containers.root_password_enc. The template's scripts, files and packages are copied
// in at Deploy time, so a retry runs exactly what was reviewed even if the template changed or left the disk.

export type PackageManager = 'apt' | 'npm' | 'pip';

export interface TemplateSnapshot {
  scripts: Array<{ name: string; content: string }>;
  /** targetPath is the file's full path inside the CT. */
  files: Array<{ name: string; targetPath: string; content: string; mode: string; owner: string; policy: 'replace' | 'default' | 'backup' }>;
  packages: Array<{ manager: PackageManager; name: string; version: string | null }>;
}

export interface ContainerConfig {
  templateName: string | null;
  /** Volid, e.g. `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`. */
  ostemplate: string;
  hostname: string;
  cores: number;
  /** MiB */
  memory: number;
  /** MiB */
  swap: number;
  /** GiB */
  disk: number;
  /** Root-disk storage (rootdir content). */
  storage: string;
  bridge: string;
  /** `dhcp` or an IPv4 CIDR. */
  ip: string;
  gateway: string | null;
  nameserver: string | null;
  unprivileged: boolean;
  nesting: boolean;
  /**
   * Proxmox starts the CT when its node boots (`onboot`). Absent in containers recorded before it existed: they were
   * created without it (off).
   */
  onboot?: boolean;
  tags: string[];
  sshPublicKey: string | null;
  /** Package groups to install, by manager (extra apt packages always install when given). */
  packageGroups: PackageManager[];
  extraPackages: string[];
  /** The package sets chosen, by name, as they were at Deploy. */
  packageSets?: string[];
  /**
   * What gets installed: the chosen groups, sets and extra packages resolved into one list (each package once) at
   * Deploy. Editing a set later does not change it. Absent in containers recorded before package sets existed:
   * the build then installs the chosen groups and extra packages.
   */
  resolvedPackages?: Array<{ manager: PackageManager; name: string; version: string | null }>;
  /** Script names in run order: the worker runs exactly these, in this order. */
  scripts: string[];
  destroyOnFailure: boolean;
  /**
   * The user typed the VMID. false: Deploy took it from /cluster/nextid, which reserves nothing, so while no create
   * task has run for it the build may move to another free one (creating-step.ts). Absent in containers recorded
   * before it existed: treated as typed.
   */
  vmidEntered?: boolean;
  template: TemplateSnapshot;
}


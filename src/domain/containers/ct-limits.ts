// What Proxmox accepts for a CT's resources (POST /nodes/{node}/lxc in the API schema; disk in GiB is ours, memory
// and swap in MiB): the one source for templates and the creation form alike.

export const CT_LIMITS = {
  vmid: { min: 100, max: 999_999_999 },
  cores: { min: 1, max: 8192 },
  memory: { min: 16, max: 1_048_576 },
  swap: { min: 0, max: 1_048_576 },
  disk: { min: 1, max: 65_536 },
} as const;

// Phase 1, Create Container: settle the VMID, then POST /nodes/{node}/lxc and follow the vzcreate task's log.
// Re-run safe: a CT that already exists with our hostname is ours from an earlier attempt and is kept.
import { waitForTask } from '../../../proxmox/task-waiter.ts';
import type { LxcCreateOptions } from '../../../proxmox/api-types.ts';
import { StepError } from '../pipeline-errors.ts';
import { sleep, type PipelineContext } from '../pipeline-context.ts';

export async function creatingStep(ctx: PipelineContext): Promise<void> {
  const { api, node, recorder, config } = ctx;
  await recorder.enterPhase('creating', 'Creating the container…');

  if (!ctx.vmid) {
    ctx.vmid = await claimNextVmid(ctx);
    recorder.log('system', `Using VMID ${ctx.vmid} (the next free one).`);
  }

  const existing = (await api.listLxc(node.name)).find((ct) => ct.vmid === ctx.vmid);
  if (existing) {
    if (existing.lock === 'create') {
      // An earlier attempt's vzcreate is still running (the worker died while waiting): let it finish.
      recorder.log('system', `CT ${ctx.vmid} is still being created by an earlier attempt; waiting for it to finish…`);
      await waitForLockToClear(ctx);
    }
    const current = await api.getLxcConfig(node.name, ctx.vmid);
    if (current.hostname && current.hostname !== config.hostname) {
      throw new StepError(
        `VMID ${ctx.vmid} on ${node.name} belongs to another guest (“${current.hostname}”). Destroy this entry and deploy again with another VMID.`,
      );
    }
    recorder.log('system', `CT ${ctx.vmid} already exists on ${node.name} — keeping it (created by an earlier attempt).`);
    await recorder.advance(1, `CT ${ctx.vmid} exists`);
    return;
  }

  const options: LxcCreateOptions = {
    vmid: ctx.vmid,
    ostemplate: config.ostemplate,
    hostname: config.hostname,
    password: ctx.rootPassword(),
    sshPublicKeys: config.sshPublicKey ?? undefined,
    rootfs: { storage: config.storage, sizeGiB: config.disk },
    cores: config.cores,
    memory: config.memory,
    swap: config.swap,
    net: [{ name: 'eth0', bridge: config.bridge, ip: config.ip, ...(config.gateway && config.ip !== 'dhcp' ? { gw: config.gateway } : {}) }],
    nameserver: config.nameserver ?? undefined,
    unprivileged: config.unprivileged,
    features: config.nesting ? { nesting: true } : undefined,
    tags: config.tags.length ? config.tags : undefined,
  };
  recorder.log('system', `Creating CT ${ctx.vmid} (${config.hostname}) on ${node.name} from ${config.ostemplate}…`);
  // Never retried blindly: a second POST could race the first. A re-run finds the CT instead (above).
  const upid = await api.createLxc(node.name, options);
  const result = await waitForTask(api, upid, {
    signal: ctx.signal,
    pollIntervalMs: ctx.timings.pollMs,
    onLine: (line) => recorder.log('task', line),
  });
  if (result.warnings.length) recorder.log('system', `Proxmox finished with ${result.warnings.length} warning(s); they are not fatal.`);
  await recorder.advance(1, `CT ${ctx.vmid} created`);
}

/**
 * /cluster/nextid is not a reservation, and a failed build may hold a number Proxmox thinks is free. Claim the first
 * number both agree on; it is stored before the create call, so a re-run after a crash looks for that same CT.
 */
async function claimNextVmid(ctx: PipelineContext): Promise<number> {
  let candidate = await ctx.api.nextId();
  for (let tries = 0; tries < 200; tries++, candidate++) {
    if (tries > 0 && !(await ctx.api.isVmidFree(candidate))) continue;
    if (await ctx.repos.containers.claimVmid(ctx.container.id, ctx.node.id, candidate)) return candidate;
  }
  throw new StepError(`Could not find a free VMID on ${ctx.node.name} near ${candidate}. Enter a VMID explicitly and deploy again.`);
}

/** Waits until the CT's config carries no lock (Proxmox refuses to start a locked CT). */
export async function waitForLockToClear(ctx: PipelineContext): Promise<void> {
  const deadline = Date.now() + ctx.timings.lockWaitMs;
  let announced = false;
  for (;;) {
    const config = await ctx.api.getLxcConfig(ctx.node.name, ctx.vmid);
    if (!config.lock) return;
    if (Date.now() > deadline) {
      throw new StepError(`CT ${ctx.vmid} is still locked (${config.lock}) after ${Math.round(ctx.timings.lockWaitMs / 1000)} s — another operation holds it. Wait for it to finish on the node, then Retry.`);
    }
    if (!announced) ctx.recorder.log('system', `CT ${ctx.vmid} is locked (${config.lock}); waiting for the lock to clear…`);
    announced = true;
    await sleep(ctx.timings.pollMs, ctx.signal);
  }
}

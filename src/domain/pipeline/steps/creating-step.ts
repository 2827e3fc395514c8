// Phase 1, Create Container: settle the VMID, then POST /nodes/{node}/lxc and follow the vzcreate task's log.
// The CT is created with Launchpad's mark (ct-mark.ts). Re-run safe: a CT at our VMID is adopted only when its mark
// is this container's (or, for a container recorded before marks, when hostname and VMID both match); any other
// guest there is left alone. A run that died while following the create task re-reads that task's log.
import type { LxcCreateOptions } from '../../../proxmox/api-types.ts';
import { StepError } from '../pipeline-errors.ts';
import { sleep, type PipelineContext } from '../pipeline-context.ts';
import { confirmOwnCt, markedDescription, markedTags } from '../ct-mark.ts';
import { followTask, resumePendingTask } from '../task-following.ts';

export async function creatingStep(ctx: PipelineContext): Promise<void> {
  const { api, node, recorder, config } = ctx;
  await recorder.enterPhase('creating', 'Creating the container…');

  if (!ctx.vmid) {
    ctx.vmid = await claimNextVmid(ctx);
    recorder.log('system', `Using VMID ${ctx.vmid} (the next free one).`);
  }

  // An earlier run died while following the create task: record the output it had not stored, follow it to its end.
  const resumed = await resumePendingTask(ctx, 'vzcreate');
  const existing = (await api.listLxc(node.name)).find((ct) => ct.vmid === ctx.vmid);
  if (existing) {
    if (!resumed && existing.lock === 'create') {
      // A create is still running that this container did not record (the worker died as the node answered).
      recorder.log('system', `CT ${ctx.vmid} is still being created; waiting for it to finish…`);
      await waitForLockToClear(ctx);
    }
    await confirmOwnCt(api, node.name, ctx.container, ctx.vmid);
    recorder.log('system', `CT ${ctx.vmid} already exists on ${node.name} — keeping it (created by an earlier attempt; it carries this container's mark).`);
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
    tags: markedTags(config.tags),
    description: markedDescription(ctx.container.id),
  };
  // Stored before the request goes out: a build that fails before this line never created anything on the node.
  await ctx.repos.containers.update(ctx.container.id, { createRequestedAt: new Date() });
  // Never retried blindly: a second POST could race the first. A re-run finds the CT instead (above).
  const result = await followTask(ctx, `Creating CT ${ctx.vmid} (${config.hostname}) on ${node.name} from ${config.ostemplate}…`, async () => {
    const upid = await api.createLxc(node.name, options);
    await ctx.repos.containers.update(ctx.container.id, { createUpid: upid });
    return upid;
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

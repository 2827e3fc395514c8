// Phase 1, Create Container: settle the VMID, then POST /nodes/{node}/lxc and follow the vzcreate task's log.
// The CT is created with Launchpad's mark (ct-mark.ts). Re-run safe: a CT at our VMID is adopted only when its mark
// is this container's (or, for a container recorded before marks, when hostname and VMID both match); any other
// guest there is left alone. A run that died while following the create task re-reads that task's log.
// /cluster/nextid reserves nothing: when the VMID Deploy took from it (VMID left empty) is taken before any create task
// ran for this container — a guest on this node, a QEMU VM, a guest on another cluster node — the step claims the next
// free one and tries again (a few times), saying so in the log. A VMID the user chose is never replaced.
import type { LxcCreateOptions, LxcStatus } from '../../../proxmox/api-types.ts';
import { ProxmoxApiError, TaskFailedError } from '../../../proxmox/errors.ts';
import { StepError, VmidTakenError } from '../pipeline-errors.ts';
import { sleep, type PipelineContext } from '../pipeline-context.ts';
import { confirmOwnCt, markOf, markedDescription, markedTags, refuseIfMoved, staleCreateLock } from '../ct-mark.ts';
import { followTask, resumePendingTask } from '../task-following.ts';

/** How many times one run moves to another free VMID when the one it holds turns out to be taken. */
const VMID_MOVES = 5;

export async function creatingStep(ctx: PipelineContext): Promise<void> {
  const { api, node, recorder } = ctx;
  await recorder.enterPhase('creating', 'Creating the container…');

  let movable = ctx.config.vmidEntered === false;
  if (!ctx.vmid) {
    ctx.vmid = await claimNextVmid(ctx);
    movable = true;
    recorder.log('system', `Using VMID ${ctx.vmid} (the next free one).`);
  }

  // An earlier run died while following the create task: record the output it had not stored, follow it to its end.
  const resumed = await resumePendingTask(ctx, 'vzcreate').catch((err: unknown) => rethrowCutShort(ctx, err));
  // Only while no create task ever ran for this container can the guest at its VMID not be its own.
  const neverCreated = !resumed && !ctx.container.createUpid && ctx.container.marksCt;
  for (let moves = 0; ; moves++) {
    const existing = (await api.listLxc(node.name)).find((ct) => ct.vmid === ctx.vmid);
    // Not on this node after a create task of this container ran: before a create is sent for the VMID, the cluster
    // is asked — someone may have migrated the CT to another node (it would answer `CT N already exists on node …`).
    if (!existing && !neverCreated) await refuseIfMoved(api, node.name, ctx.container, ctx.vmid);
    let held: string | undefined;
    if (existing) {
      // A create still running that this container did not record (the worker died as the node answered) — which
      // cannot be the case when it never sent one.
      if (!resumed && existing.lock === 'create' && (!neverCreated || ctx.container.createRequestedAt)) {
        recorder.log('system', `CT ${ctx.vmid} is still being created; waiting for it to finish…`);
        await waitForLockToClear(ctx);
      }
      held = neverCreated ? await heldByAnother(ctx, existing) : undefined;
      if (!held) {
        await confirmOwnCt(api, node.name, ctx.container, ctx.vmid);
        recorder.log('system', `CT ${ctx.vmid} already exists on ${node.name} — keeping it (created by an earlier attempt; it carries this container's mark).`);
        await recorder.advance(1, `CT ${ctx.vmid} exists`);
        return;
      }
    }
    const taken = held ?? (await createUnlessTaken(ctx));
    if (taken === undefined) return;
    if (!movable) {
      throw new VmidTakenError(`VMID ${ctx.vmid} was chosen for this container and is taken: ${taken}. Launchpad never replaces a chosen VMID — deploy again with another VMID (or leave it empty for the next free one), or free VMID ${ctx.vmid} on the cluster and Retry.`);
    }
    if (!neverCreated) {
      throw new VmidTakenError(`VMID ${ctx.vmid} is taken: ${taken}. A create task of this container already ran at VMID ${ctx.vmid}, so Launchpad does not move it — free VMID ${ctx.vmid} on the cluster and Retry, or deploy again (an empty VMID takes the next free one).`);
    }
    if (moves === VMID_MOVES) {
      throw new VmidTakenError(`VMID ${ctx.vmid} is taken as well: ${taken}. That is ${VMID_MOVES + 1} VMIDs in a row taken while this build looked: guests are being created on the cluster right now. Retry in a moment — it takes the next free VMID again.`);
    }
    const gone = ctx.vmid;
    ctx.vmid = await claimNextVmid(ctx, gone);
    recorder.log('system', `VMID ${gone} was taken after Deploy: ${taken}. VMID was left empty and nothing was created at ${gone}, so Launchpad moves on to the next free one: VMID ${ctx.vmid}.`);
  }
}

async function create(ctx: PipelineContext): Promise<void> {
  const { api, node, recorder, config } = ctx;
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
    onboot: config.onboot || undefined,
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
  }).catch((err: unknown) => rethrowCutShort(ctx, err));
  if (result.warnings.length) recorder.log('system', `Proxmox finished with ${result.warnings.length} warning(s); they are not fatal.`);
  await recorder.advance(1, `CT ${ctx.vmid} created`);
}

/**
 * The create task failed: when it ended without finishing (the node restarted, the worker was killed: `unexpected
 * status`) and left the CT locked (create), says so and what to run on the node at once — not only on the Retry after
 * it (staleCreateLock). Otherwise rethrows the task's own error.
 */
async function rethrowCutShort(ctx: PipelineContext, err: unknown): Promise<never> {
  if (err instanceof TaskFailedError && ctx.vmid) {
    const stale = await staleCreateLock(ctx.api, ctx.node.name, { createUpid: err.upid }, ctx.vmid).catch(() => undefined);
    if (stale) throw new StepError(stale);
  }
  throw err;
}

/**
 * Creates the CT and follows its task; or, when Proxmox refuses because the cluster already has a guest at the VMID
 * (PVE::Cluster::check_vmid_unused: `CT 101 already exists on node 'pve'`, `VM 101 …` for a QEMU guest, also as
 * `unable to create CT 101 - …` when two creates race), says so instead of throwing. No task was started then.
 */
async function createUnlessTaken(ctx: PipelineContext): Promise<string | undefined> {
  try {
    await create(ctx);
    return undefined;
  } catch (err) {
    const refusal = err instanceof ProxmoxApiError ? new RegExp(`\\b(?:CT|VM) ${ctx.vmid} already exists on node '[^']*'`).exec(err.message)?.[0] : undefined;
    if (refusal === undefined) throw err;
    return `Proxmox answered “${refusal}”`;
  }
}

/** A CT at this container's VMID before it ever created one: undefined when it carries this container's mark, else why the VMID is taken. */
async function heldByAnother(ctx: PipelineContext, ct: LxcStatus): Promise<string | undefined> {
  const config = await ctx.api.getLxcConfig(ctx.node.name, ctx.vmid);
  if (config.lock !== 'create' && markOf(config) === ctx.container.id) return undefined;
  return `${ctx.node.name} has CT ${ctx.vmid} “${config.hostname ?? ct.name}”, which is not this container's`;
}

/**
 * /cluster/nextid is not a reservation, and a failed build may hold a number Proxmox thinks is free. Claim the first
 * number both agree on (never `taken`, the one just refused); it is stored before the create call, so a re-run after
 * a crash looks for that same CT.
 */
async function claimNextVmid(ctx: PipelineContext, taken?: number): Promise<number> {
  let candidate = await ctx.api.nextId();
  for (let tries = 0; tries < 200; tries++, candidate++) {
    if (candidate === taken || (tries > 0 && !(await ctx.api.isVmidFree(candidate)))) continue;
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
    if (config.lock === 'create') {
      const stale = await staleCreateLock(ctx.api, ctx.node.name, ctx.container, ctx.vmid);
      if (stale) throw new StepError(stale);
    }
    if (Date.now() > deadline) {
      throw new StepError(`CT ${ctx.vmid} is still locked (${config.lock}) after ${Math.round(ctx.timings.lockWaitMs / 1000)} s — another operation holds it. Wait for it to finish on the node, then Retry.`);
    }
    if (!announced) ctx.recorder.log('system', `CT ${ctx.vmid} is locked (${config.lock}); waiting for the lock to clear…`);
    announced = true;
    await sleep(ctx.timings.pollMs, ctx.signal);
  }
}

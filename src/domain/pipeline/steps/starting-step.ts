// Phase 2, Start Container: wait for the create lock to clear, start the CT (unless it runs), then wait for its
// IPv4 address — DHCP can take a while, so say so while waiting.
import { readIpv4 } from '../ct-address.ts';
import { followTask, resumePendingTask } from '../task-following.ts';
import { StepError } from '../pipeline-errors.ts';
import { sleep, type PipelineContext } from '../pipeline-context.ts';
import { waitForLockToClear } from './creating-step.ts';

export async function startingStep(ctx: PipelineContext): Promise<void> {
  const { api, node, recorder } = ctx;
  await recorder.enterPhase('starting', `Starting CT ${ctx.vmid}…`);
  // An earlier run died while following the start task: record the output it had not stored.
  const resumed = await resumePendingTask(ctx, 'vzstart');
  await waitForLockToClear(ctx);

  const status = await api.getLxcStatus(node.name, ctx.vmid);
  if (status.status === 'running') {
    recorder.log('system', resumed ? `CT ${ctx.vmid} started.` : `CT ${ctx.vmid} is already running.`);
  } else {
    await followTask(ctx, `Starting CT ${ctx.vmid}…`, () => api.startLxc(node.name, ctx.vmid));
    recorder.log('system', `CT ${ctx.vmid} started.`);
  }
  await recorder.advance(0.4, 'Waiting for an IPv4 address…');
  ctx.ip = await waitForIpv4(ctx);
  await ctx.repos.containers.update(ctx.container.id, { ip: ctx.ip });
  recorder.log('system', `eth0 has ${ctx.ip}.`);
  await recorder.advance(1, `Running at ${ctx.ip}`);
}

async function waitForIpv4(ctx: PipelineContext): Promise<string> {
  const staticIp = ctx.config.ip === 'dhcp' ? undefined : ctx.config.ip.split('/')[0];
  const started = Date.now();
  let lastNotice = 0;
  let toldFromCt = false;
  const lookup = { api: ctx.api, nodeName: ctx.node.name, vmid: ctx.vmid, shell: ctx.shell, timeoutMs: ctx.timings.commandTimeoutMs, signal: ctx.signal };
  for (;;) {
    const { ip: found, fromCt } = await readIpv4(lookup);
    if (fromCt && !toldFromCt) {
      toldFromCt = true;
      ctx.recorder.log('system', `${ctx.node.name} has no API endpoint for a CT's addresses (…/interfaces came with Proxmox VE 8.1): reading eth0's address inside CT ${ctx.vmid} with \`ip\` instead.`);
    }
    if (found && (!staticIp || found === staticIp)) return found;
    const waited = Date.now() - started;
    if (waited > ctx.timings.ipWaitMs) {
      throw new StepError(
        staticIp
          ? `CT ${ctx.vmid} did not show its static address ${staticIp} on eth0 within ${Math.round(waited / 1000)} s — check the address, gateway and bridge “${ctx.config.bridge}”, then Retry.`
          : `CT ${ctx.vmid} got no IPv4 address from DHCP within ${Math.round(waited / 1000)} s — check that bridge “${ctx.config.bridge}” reaches a DHCP server (VLAN, firewall), or deploy with a static IP, then Retry.`,
      );
    }
    await ctx.confirmStillOurs();
    if (waited - lastNotice >= 10_000 || lastNotice === 0) {
      lastNotice = waited || 1;
      const what = staticIp ? `the static address ${staticIp}` : 'an IPv4 address from DHCP';
      await ctx.recorder.advance(0.4 + 0.5 * Math.min(1, waited / ctx.timings.ipWaitMs), `Waiting for ${what}… ${Math.round(waited / 1000)} s`);
    }
    await sleep(ctx.timings.pollMs, ctx.signal);
  }
}

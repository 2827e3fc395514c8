// Phase 5, Finalize: collect what the scripts registered — credentials (sealed at once, never logged) and
// services (checked against the ports actually listening) — and mark the container ready.
import { CREDENTIALS_FILE, SERVICES_FILE, parseCredentialsFile, parseServicesFile, serviceLink } from '../../templates/helper-library.ts';
import { ctCapture } from '../ct-commands.ts';
import type { PipelineContext } from '../pipeline-context.ts';
import { credentialAad } from '../../sealed-secrets.ts';
import { HEALTH_STATE_LABELS, listeningPortsFrom } from '../../health/service-health.ts';

export async function finalizingStep(ctx: PipelineContext): Promise<void> {
  const { recorder } = ctx;
  await recorder.enterPhase('finalizing', 'Collecting services and credentials…');

  const credentialsFile = await ctCapture(ctx, ['cat', CREDENTIALS_FILE]);
  const credentials = credentialsFile.exitCode === 0 ? parseCredentialsFile(credentialsFile.stdout.join('\n')) : new Map<string, string>();
  const servicesFile = await ctCapture(ctx, ['cat', SERVICES_FILE]);
  const services = servicesFile.exitCode === 0 ? parseServicesFile(servicesFile.stdout.join('\n')) : [];
  const listening = await listeningPorts(ctx);

  await ctx.repos.containerExtras.replace(
    ctx.container.id,
    services.map((s) => ({
      name: s.name,
      kind: 'tcp',
      port: s.port,
      url: s.url ?? null,
      unit: s.unit,
      status: listening === undefined ? 'unknown' : listening.has(s.port) ? 'listening' : 'not listening',
    })),
    [...credentials].map(([key, value]) => ({ key, valueEnc: ctx.secrets.seal(value, credentialAad(ctx.container.id, key)) })),
  );
  for (const s of services) {
    const address = !s.url ? '' : serviceLink(s.url) ? ` (${s.url})` : ` (${s.url} — not an http:// or https:// address, shown as text, not as a link)`;
    recorder.log('system', `Service ${s.name} on port ${s.port}${address}${listening?.has(s.port) ? ' is listening.' : '.'}`);
  }
  if (credentials.size) recorder.log('system', `Stored ${credentials.size} credential(s), encrypted: ${[...credentials.keys()].join(', ')}.`);
  if (services.length && !ctx.commandsSimulated) await firstHealthCheck(ctx);

  const simulated = ctx.commandsSimulated ? ' (simulated: no file, package or script reached the CT)' : '';
  await recorder.complete({ status: `Ready — ${ctx.config.hostname} at ${ctx.ip ?? 'unknown address'}${simulated}`, ip: ctx.ip });
}

/** TCP ports listening in the CT (`ss -Htln`), or undefined when ss is not available. */
async function listeningPorts(ctx: PipelineContext): Promise<Set<number> | undefined> {
  const result = await ctCapture(ctx, ['ss', '-Htln']);
  return result.exitCode === 0 ? listeningPortsFrom(result.stdout) : undefined;
}

/** The services' first health check, before the build is marked ready (so the page's last message shows it). */
async function firstHealthCheck(ctx: PipelineContext): Promise<void> {
  try {
    const health = await ctx.checkHealth();
    if (typeof health === 'object') ctx.recorder.log('system', `Health check: ${HEALTH_STATE_LABELS[health.state].toLowerCase()} — ${health.summary}.`);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    ctx.logger.warn({ err }, 'first health check failed');
    ctx.recorder.log('system', `The first health check could not run (${(err as Error).message}); the worker checks the services again within minutes.`);
  }
}

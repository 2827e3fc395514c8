import { randomUUID } from 'node:crypto';
import type { Deps } from '../../src/deps.ts';
import { EventRecorder, type RecorderOptions } from '../../src/domain/progress/event-recorder.ts';
import { initialSnapshot } from '../../src/domain/progress/phases.ts';
import { tokenSecretAad } from '../../src/domain/sealed-secrets.ts';

/** A node row (not reachable): enough for containers to reference. */
export async function insertNode(deps: Deps, name = `node-${randomUUID().slice(0, 6)}`) {
  return deps.repos.nodes.create(
    {
      name,
      apiUrl: 'https://127.0.0.1:8006/api2/json',
      tokenId: 'root@pam!launchpad',
      tlsFingerprint: null,
      sshHost: '127.0.0.1',
      sshPort: 22,
      sshUser: 'root',
      sshHostKeyFingerprint: null,
      isSimulator: false,
    },
    (id) => ({ tokenSecretEnc: deps.secrets.seal('secret', tokenSecretAad(id)) }),
  );
}

export async function insertContainer(deps: Deps, ownerId: number, nodeId: number, hostname = `ct-${randomUUID().slice(0, 6)}`) {
  return deps.repos.containers.create(
    { id: randomUUID(), ownerId, nodeId, templateId: null, vmid: null, hostname, config: { templateName: 'test' } },
    null,
  );
}

export function recorderFor(deps: Deps, containerId: string, options: RecorderOptions = {}) {
  return new EventRecorder(
    { events: deps.repos.events, publish: (channel, message) => deps.redis.publish(channel, message), logger: deps.logger },
    containerId,
    initialSnapshot(),
    options,
  );
}

/** The log line numbers present in a page's HTML, in order (its lines carry their ids). */
export const lineIdsIn = (html: string) => [...html.matchAll(/id="L(\d+)"/g)].map((m) => Number(m[1]));

/** The HTML of each log line in a fragment, in order (a page's, with ids, or a stream's, without). */
export const lineHtmlIn = (html: string) => [...html.matchAll(/<li(?: id="L\d+")? data-t="[^"]*"[^>]*>(.*?)<\/li>/g)].map((m) => m[1]!);

/**
 * The lines a stream carries, by the number their text holds (`line 7 …` → 7, or what `pattern` captures): a
 * stream's lines have no ids — the page's log viewer numbers them by place — so the tests write the number into
 * the text, and a line sent twice or skipped still shows.
 */
/** The text of each log line in a fragment, as log.txt has it (the ANSI colours' markup and the escaping undone). */
export const lineTextsIn = (html: string) =>
  lineHtmlIn(html).map((h) => h.replace(/<[^>]*>/g, '').replace(/&(lt|gt|quot|#39|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e]!));

export const streamedLinesIn = (html: string, pattern = /(\d+)/) => lineHtmlIn(html).map((text) => Number(pattern.exec(text)?.[1] ?? NaN));

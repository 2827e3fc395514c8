// The live stream of a template test run: what Postgres has after the client's cursor, then each batch as the
// worker rings (a per-stream Redis subscription; a check every few seconds catches a missed ring), and the report
// (in the `done` event) once the run has ended. Event ids are line numbers, so a reconnect resumes where it stopped.
import type { Request, Response } from 'express';
import type { TemplateTestsRepository } from '../db/template-tests-repository.ts';
import type { Redis } from '../lib/redis.ts';
import { openEventStream } from './sse.ts';
import type { TemplateTestFragments } from './template-test-fragments.ts';
import { isLive, templateTestChannel, type TemplateTestRun } from '../domain/templates/test-run.ts';

const BATCH_LINES = 1000;
const CHECK_EVERY_MS = 3000;

export async function streamTemplateTest(
  req: Request,
  res: Response,
  deps: { templateTests: TemplateTestsRepository; redis: Redis; fragments: TemplateTestFragments },
  run: TemplateTestRun,
  options: { after: number; heartbeatMs?: number },
): Promise<void> {
  const sse = openEventStream(req, res, { maxPendingBytes: 4 * 1024 * 1024, lastEventId: options.after, heartbeatMs: options.heartbeatMs });
  const subscriber = deps.redis.duplicate();
  let sent = options.after;
  let running = false;
  let again = false;
  const stop = () => {
    clearInterval(check);
    subscriber.disconnect();
  };
  // One pass at a time; a ring during a pass makes it go round once more.
  const pump = async () => {
    if (running) return void (again = true);
    running = true;
    try {
      do {
        again = false;
        const now = await deps.templateTests.findById(run.id);
        for (;;) {
          const lines = await deps.templateTests.linesAfter(run.id, sent, BATCH_LINES);
          if (!lines.length) break;
          sent = lines[lines.length - 1]!.lineNo;
          if (!sse.send(sent, 'lines', deps.fragments.lines(lines)) || !(await sse.writable())) return stop();
        }
        if (!now || !isLive(now)) {
          // The report rides on `done` (the page's sse-close event still reaches its sse-swap): a separate event with
          // the last line's id would be dropped as already seen by the page's duplicate filter (live-progress.js).
          sse.send(sent, 'done', now ? deps.fragments.report(now) : 'done');
          sse.end();
          return stop();
        }
      } while (again && !sse.closed);
    } finally {
      running = false;
    }
  };
  const check = setInterval(() => void pump().catch(() => sse.end()), CHECK_EVERY_MS);
  res.on('close', stop);
  subscriber.on('message', () => void pump().catch(() => sse.end()));
  await subscriber.subscribe(templateTestChannel(run.id));
  await pump();
}

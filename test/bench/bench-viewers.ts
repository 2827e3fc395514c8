// A reading process for the latency scenario: holds its share of the viewers and says, after the run, when each of
// their messages arrived. One Node thread reads at most ~90,000 small socket chunks a second (about 10 µs each:
// the read, the HTTP parser, the stream machinery), and 1,000 viewers × 100 lines/s is 100,000: read by one process
// the viewers queued behind each other, and the bench measured its own backlog. Split over processes, each reads its
// share as it arrives; the bytes are kept with their arrival times and parsed after the run (test/support/sse-client.ts).
import http from 'node:http';
import { announce, processProbe, serveRpc } from './bench-rpc.ts';
import { closeViewers, openViewers, type SseViewer } from './sse-viewer.ts';

/** What one viewer got: each message's id (its last seq) and arrival time, and each line's produce → receive ms. */
export interface ViewerReport {
  failure: string | undefined;
  ids: number[];
  times: number[];
  /** The native reader's (test/bench/native-readers.ts): when the kernel received each message's last bytes. */
  socketTimes?: number[];
  /** The native reader's: how many log lines each message carried (the replay storm counts them). */
  eventLines?: number[];
  produceToReceive: number[];
  /** The native reader's: each line's produce → the kernel's receipt of it in the viewer's socket. */
  produceToSocket?: number[];
  lines: number;
}

const STAMP = / t=(\d+(?:\.\d+)?)/g;
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const probe = processProbe();
let viewers: SseViewer[] = [];
let reports: ViewerReport[] = [];

serveRpc({
  async open(args: { urls: string[]; cookie: string | undefined; encodings: Array<string | null> }) {
    // This run's reports, kept by the viewers' callbacks: a viewer closed after the run may still parse its last bytes.
    const mine: ViewerReport[] = (reports = args.urls.map(() => ({ failure: undefined, ids: [], times: [], produceToReceive: [], lines: 0 })));
    viewers = await openViewers(args.urls.length, (i) => args.urls[i]!, {
      cookie: args.cookie,
      agent,
      record: true,
      encodingFor: (i) => args.encodings[i] ?? undefined,
      onEventFor: (i) => (e, at) => {
        if (e.event !== 'log' && e.event !== 'progress') return;
        const report = mine[i]!;
        report.ids.push(Number(e.id));
        report.times.push(at);
        for (const m of e.data.matchAll(STAMP)) {
          report.produceToReceive.push(at - Number(m[1]));
          report.lines++;
        }
      },
    });
    return viewers.filter((v) => !v.failure).length;
  },
  /** Chunks received and not parsed yet (the run is over when this stops growing). */
  unparsed: () => viewers.reduce((n, v) => n + v.unparsed, 0),
  /** Parses what arrived; true when every viewer has the message with seq `lastSeq` (or gave up). */
  parse(args: { lastSeq: number }) {
    for (const v of viewers) v.parseRecorded();
    return viewers.every((v) => v.failure || Number(v.lastId ?? 0) >= args.lastSeq);
  },
  report(): ViewerReport[] {
    for (const v of viewers) v.parseRecorded();
    return reports.map((r, i) => ({ ...r, failure: viewers[i]!.failure }));
  },
  close() {
    closeViewers(viewers);
    viewers = [];
    reports = [];
  },
  reconnects: () => viewers.reduce((n, v) => n + v.reconnects, 0),
  stats: probe.stats,
});
announce();

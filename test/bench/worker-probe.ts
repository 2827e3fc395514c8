// Preloaded into the real worker.ts (`node --import tsx --import ./test/bench/worker-probe.ts worker.ts`) so the
// bench can read the worker's event-loop delay and memory without a line of bench code in the product.
import { processProbe, serveRpc } from './bench-rpc.ts';

serveRpc(processProbe(), () => process.kill(process.pid, 'SIGTERM'));

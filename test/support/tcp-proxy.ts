// A TCP proxy a test controls: cut() drops every connection and refuses new ones until restore(); blackhole()
// keeps every connection open but forwards nothing (a link that died without either side noticing), and holds new
// connections the same way, until restore() resets them all.
import net from 'node:net';

export async function startTcpProxy(targetHost: string, targetPort: number) {
  const sockets = new Set<net.Socket>();
  let mode: 'open' | 'cut' | 'blackhole' = 'open';
  const swallowed = new Set<net.Socket>();
  const swallow = (s: net.Socket) => {
    swallowed.add(s);
    s.unpipe();
    s.pause();
  };
  const server = net.createServer((client) => {
    if (mode === 'cut') return client.destroy();
    client.on('error', () => undefined);
    if (mode === 'blackhole') return swallow(client);
    const upstream = net.connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    // In a black hole, nothing (not even a close) reaches the other side.
    client.on('close', () => swallowed.has(client) || upstream.destroy());
    upstream.on('close', () => swallowed.has(upstream) || client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    cut() {
      mode = 'cut';
      for (const s of sockets) s.destroy();
    },
    blackhole() {
      mode = 'blackhole';
      for (const s of sockets) swallow(s);
    },
    restore() {
      mode = 'open';
      for (const s of swallowed) s.destroy();
      swallowed.clear();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of [...sockets, ...swallowed]) s.destroy();
        server.close(() => r());
      }),
  };
}

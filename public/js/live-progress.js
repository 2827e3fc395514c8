// Exactly-once live progress on top of htmx-ext-sse (reference/htmx-sse.md §1.6): the extension's own reconnect
// opens a fresh EventSource without Last-Event-ID, so we keep the highest seq shown, put it in the URL of every
// EventSource the extension creates, and drop any message we have already applied.
(() => {
  let highest = 0;
  const cursorOf = (url) => Number(new URL(url, location.href).searchParams.get('after') || 0);
  const withCursor = (url) => {
    const u = new URL(url, location.href);
    u.searchParams.set('after', String(highest));
    return u.pathname + u.search;
  };
  const sources = new Set();

  // Scripts run in order after htmx and the extension, and before htmx processes the page.
  htmx.createEventSource = (url) => {
    highest = Math.max(highest, cursorOf(url));
    const source = new EventSource(withCursor(url), { withCredentials: true });
    sources.add(source);
    return source;
  };
  document.addEventListener('htmx:sseBeforeMessage', (evt) => {
    const seq = Number(evt.detail.lastEventId);
    if (evt.detail.type === 'done') return;
    if (!(seq > highest)) evt.preventDefault();
    else highest = seq;
  });
  // Chrome keeps streams alive across navigations; close ours so the connection pool never runs dry.
  window.addEventListener('pagehide', () => sources.forEach((s) => s.close()));
  window.addEventListener('pageshow', (evt) => evt.persisted && location.reload());
})();

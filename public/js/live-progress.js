// Exactly-once live progress on top of htmx-ext-sse (reference/htmx-sse.md §1.6): the extension's own reconnect
// opens a fresh EventSource without Last-Event-ID, so we keep the highest seq shown, put it in the URL of every
// progress EventSource the extension creates, and drop any progress message we have already applied.
//
// A container page has one stream at a time in its #stream-slot: the build's progress (`log` and `progress` events
// carry a seq, `done` ends it), once built, its usage (`usage` events, no seq; `done` when an action starts), or, while
// a build stays failed or cancelled, its quiet watch (only `done`, when a Retry, Destroy or Forget moves it on; its
// `seen=` is not a cursor of ours). A template test's page has its run's stream (`lines` carry the last line number).
// Each stream's `done` swaps the slot for the next stream's element; the extension then asks for a new EventSource.
//
// Connection health (issue 22): the server sends a message at least every 1.5 × data-heartbeat-ms — `event: heartbeat`
// when it has had nothing else to say for half of that — so hearing nothing for twice that long means the connection
// died without either side noticing; we close it and reconnect from the
// cursor. Reconnects are ours, not the extension's (it would retry every 0.5 s doubling, and leave a dead but open
// connection alone): after 1 s, 2 s, 5 s, 10 s, then every 30 s, and at once when the browser comes back online or
// the tab becomes visible. We reconnect by letting htmx swap the connect element for a copy of itself, which closes
// the old source and makes the extension create a new one through createEventSource below. The state is worded in
// the indicator (#stream-health, below) and sent as `stream:health` events; `live` ends the replay and says how many
// lines it caught up. The same one-second tick runs the elapsed time of a running phase ([data-since]).
//
// A stream the server refuses may be refused for good: the session ended (password changed elsewhere, account
// disabled) or the account may no longer see what the page shows. The browser does not tell an EventSource why, so
// the page asks the stream's URL once as an htmx request — the answer the container list's poll gets — and follows
// it: signed out, HX-Redirect to the sign-in page, which comes back here; not allowed to see it (403/404), the
// server's explanation swapped in where htmx swaps an error. Anything else (busy, a restart): keep reconnecting.
(() => {
  let highest = 0;
  const cursorOf = (url) => Number(new URL(url, location.href).searchParams.get('after') || 0);
  const withCursor = (url) => {
    const u = new URL(url, location.href);
    if (u.searchParams.has('after')) u.searchParams.set('after', String(highest));
    return u.pathname + u.search;
  };

  const BACKOFF_MS = [1000, 2000, 5000, 10000, 30000];
  // `opened` counts the streams this page has opened (a build's progress, then its usage, …), for tests to wait on.
  const health = { state: 'connecting', attempt: 0, since: 0, heardAt: 0, caughtUp: 0, opened: 0 };
  window.launchpadStream = health;
  const report = (changes) => {
    Object.assign(health, changes);
    showHealth();
    document.dispatchEvent(new CustomEvent('stream:health', { detail: { ...health } }));
  };

  // The indicator (views/partials/progress/stream-health.eta): the state in words, data-state for the dot's colour.
  const healthLabel = (h) => {
    if (h.state === 'live') return h.caughtUp ? `Live — caught up ${h.caughtUp.toLocaleString()} line${h.caughtUp === 1 ? '' : 's'}` : 'Live';
    // In UTC, as every time on the pages is (HH:MM:SS UTC).
    if (h.state === 'reconnecting') return `Reconnecting… (attempt ${h.attempt}, disconnected since ${new Date(h.since).toISOString().slice(11, 19)} UTC)`;
    if (h.state === 'offline') return 'Offline — the browser reports no network; reconnecting when it is back';
    if (h.state === 'signed-out') return 'You were signed out — opening the sign-in page…';
    if (h.state === 'gone') return 'Live updates stopped: you may no longer see this page';
    return h.state === 'ended' ? '' : 'Connecting…';
  };
  const healthAge = (h) => {
    if (h.state !== 'live') return '';
    const s = Math.max(0, Math.round((Date.now() - h.heardAt) / 1000));
    return s < 1 ? 'updated just now' : s < 60 ? `updated ${s} s ago` : `updated ${Math.floor(s / 60)} min ago`;
  };
  const setText = (el, text) => { if (el && el.textContent !== text) el.textContent = text; };
  function showHealth() {
    const box = document.getElementById('stream-health');
    if (!box) return;
    box.dataset.state = health.state;
    box.hidden = health.state === 'ended';
    setText(box.querySelector('[data-health-label]'), healthLabel(health));
    setText(box.querySelector('[data-health-age]'), healthAge(health));
  }
  const tick = () => {
    if (health.state === 'live') setText(document.querySelector('#stream-health [data-health-age]'), healthAge(health));
    for (const el of document.querySelectorAll('[data-since]')) {
      const s = Math.max(0, Math.round((Date.now() - Date.parse(el.dataset.since)) / 1000));
      setText(el, s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`);
    }
  };
  setInterval(tick, 1000);
  document.addEventListener('DOMContentLoaded', () => {
    showHealth();
    tick();
  });
  let source;
  let watchdog;
  let retry;
  // No more reconnecting: the stream ended as planned, the session ended, or the page is no longer the user's to see.
  const over = () => health.state === 'ended' || health.state === 'signed-out' || health.state === 'gone';
  const connectElement = () => document.querySelector('[sse-connect]');
  const silenceMs = () => 2 * Number(connectElement()?.dataset.heartbeatMs || 15000);
  const heard = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(lost, silenceMs());
    if (health.state === 'live') report({ heardAt: Date.now() });
  };
  const stop = () => {
    clearTimeout(watchdog);
    clearTimeout(retry);
    source?.close();
    source = undefined;
  };
  const reconnect = () => {
    clearTimeout(retry);
    const elt = connectElement();
    if (!elt || over()) return;
    if (!navigator.onLine) return report({ state: 'offline' });
    report({ state: 'reconnecting', attempt: Math.max(health.attempt, 1), since: health.since || Date.now() });
    htmx.swap(elt, elt.outerHTML, { swapStyle: 'outerHTML', swapDelay: 0, settleDelay: 0 });
  };
  // The connection failed or fell silent: wait out the backoff (or the network), then reconnect.
  function lost() {
    if (!source || over()) return;
    // CLOSED after an error: the server answered, but not with a stream (a network failure leaves it CONNECTING).
    const refusedUrl = source.readyState === EventSource.CLOSED ? source.url : undefined;
    stop();
    const attempt = health.attempt + 1;
    report({ state: navigator.onLine ? 'reconnecting' : 'offline', attempt, since: health.since || Date.now() });
    if (navigator.onLine) retry = setTimeout(reconnect, BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length) - 1]);
    if (refusedUrl) void askWhyRefused(refusedUrl);
  }

  // The refused stream's URL asked as htmx asks (see the top): only the answer's headers and status are wanted, so a
  // stream that opens after all is closed at once and the backoff above reconnects it.
  async function askWhyRefused(url) {
    const asking = new AbortController();
    let res;
    try {
      res = await fetch(url, { headers: { 'HX-Request': 'true', 'HX-Current-URL': location.href }, cache: 'no-store', signal: asking.signal });
    } catch {
      return;
    }
    const signIn = res.headers.get('HX-Redirect');
    if (signIn) {
      stop();
      report({ state: 'signed-out' });
      location.assign(signIn);
    } else if ((res.status === 403 || res.status === 404) && !over()) {
      const explanation = await res.text().catch(() => '');
      stop();
      report({ state: 'gone' });
      htmx.swap(res.headers.get('HX-Retarget') || '#main', explanation, { swapStyle: res.headers.get('HX-Reswap') || 'innerHTML', swapDelay: 0, settleDelay: 0 });
    } else {
      asking.abort();
    }
  }

  // The extension retries from `onerror`; this source ignores that handler so only `lost` reconnects.
  class ResumableEventSource extends EventSource {
    set onerror(_extensionRetry) {}
  }

  // Scripts run in order after htmx and the extension, and before htmx processes the page.
  htmx.createEventSource = (url) => {
    highest = Math.max(highest, cursorOf(url));
    stop();
    // The previous stream ended and handed over to this one (progress → usage, or back).
    if (health.state === 'ended') report({ state: 'connecting', attempt: 0, since: 0, caughtUp: 0 });
    health.opened++;
    source = new ResumableEventSource(withCursor(url), { withCredentials: true });
    heard();
    source.addEventListener('error', lost);
    // What the page swaps in counts as heard below (htmx:sseBeforeMessage); these two it does not swap.
    for (const name of ['open', 'heartbeat']) source.addEventListener(name, heard);
    source.addEventListener('live', (evt) => {
      report({ state: 'live', attempt: 0, since: 0, caughtUp: Number(evt.data) || 0 });
      heard();
    });
    source.addEventListener('done', () => {
      stop();
      report({ state: 'ended' });
    });
    return source;
  };
  document.addEventListener('htmx:sseBeforeMessage', (evt) => {
    // Any message swapped into the page (a template test's `lines` too) is the server talking.
    if (source && evt.detail.target === source) heard();
    const seq = Number(evt.detail.lastEventId);
    // The events that carry a cursor: a build's seq, a template test's line number.
    if (evt.detail.type !== 'log' && evt.detail.type !== 'progress' && evt.detail.type !== 'lines') return;
    if (!(seq > highest)) evt.preventDefault();
    else highest = seq;
  });
  window.addEventListener('offline', () => {
    if (over() || !connectElement()) return;
    stop();
    report({ state: 'offline', since: health.since || Date.now() });
  });
  window.addEventListener('online', () => health.state === 'offline' && reconnect());
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) return;
    if (health.state === 'reconnecting' && !source) reconnect();
    else if (health.state === 'live' && Date.now() - health.heardAt > silenceMs()) lost();
  });
  // Chrome keeps streams alive across navigations; close ours so the connection pool never runs dry.
  window.addEventListener('pagehide', stop);
  window.addEventListener('pageshow', (evt) => evt.persisted && location.reload());
})();

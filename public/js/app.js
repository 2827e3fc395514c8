// Launchpad's own browser script. Everything works without it; it only enhances.
// Alpine components are registered here (the CSP build evaluates no inline expressions).
document.addEventListener('alpine:init', () => {
  const Alpine = window.Alpine;

  // A button that fills a password field (and its confirmation) with a strong random password and shows it.
  Alpine.data('passwordGenerator', () => ({
    generate() {
      const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
      const bytes = crypto.getRandomValues(new Uint8Array(20));
      const value = Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
      for (const input of this.$root.querySelectorAll('input[type=password]')) {
        input.value = value;
        input.type = 'text';
      }
    },
  }));

  // Ticks the elapsed time of the running phase from its data-since timestamp.
  Alpine.data('elapsed', () => ({
    text: '',
    init() {
      const since = Date.parse(this.$el.dataset.since);
      const tick = () => {
        const s = Math.max(0, Math.round((Date.now() - since) / 1000));
        this.text = s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
      };
      tick();
      this.timer = setInterval(tick, 1000);
    },
    destroy() {
      clearInterval(this.timer);
    },
  }));

  // Words the live stream's health that live-progress.js reports (views/partials/progress/stream-health.eta).
  Alpine.data('streamHealth', () => ({
    health: { ...window.launchpadStream },
    now: Date.now(),
    get state() { return this.health.state; },
    get shown() { return this.state !== 'ended'; },
    get label() {
      const h = this.health;
      if (h.state === 'live') return h.caughtUp ? `Live — caught up ${h.caughtUp.toLocaleString()} line${h.caughtUp === 1 ? '' : 's'}` : 'Live';
      if (h.state === 'reconnecting') return `Reconnecting… (attempt ${h.attempt}, disconnected since ${new Date(h.since).toLocaleTimeString()})`;
      if (h.state === 'offline') return 'Offline — the browser reports no network; reconnecting when it is back';
      return h.state === 'ended' ? '' : 'Connecting…';
    },
    get age() {
      if (this.state !== 'live') return '';
      const s = Math.max(0, Math.round((this.now - this.health.heardAt) / 1000));
      return s < 1 ? 'updated just now' : s < 60 ? `updated ${s} s ago` : `updated ${Math.floor(s / 60)} min ago`;
    },
    init() {
      this.onHealth = (evt) => { this.health = evt.detail; this.now = Date.now(); };
      document.addEventListener('stream:health', this.onHealth);
      this.timer = setInterval(() => { this.now = Date.now(); }, 1000);
    },
    destroy() {
      document.removeEventListener('stream:health', this.onHealth);
      clearInterval(this.timer);
    },
  }));

  // The log viewer: follows new lines until the user scrolls up, then offers "Jump to latest (N new)";
  // keeps at most MAX_LINES lines in the DOM; remembers the timestamps toggle.
  const MAX_LINES = 5000;
  Alpine.data('logViewer', () => ({
    follow: true,
    unseen: 0,
    pinned: true,
    programmatic: false,
    times: localStorage.getItem('launchpad.logTimes') === '1',
    get paused() { return !this.follow; },
    get jumpLabel() { return this.unseen ? `Jump to latest (${this.unseen} new)` : 'Jump to latest'; },
    get timesLabel() { return this.times ? 'Hide timestamps' : 'Show timestamps'; },
    get timesClass() { return this.times ? 'show-times' : ''; },
    init() {
      const box = this.$refs.box;
      if (!location.hash) box.scrollTop = box.scrollHeight;
      this.lines = document.getElementById('log-lines');
      this.onBefore = () => { this.pinned = this.follow && this.atBottom(); };
      this.onMessage = (evt) => {
        const added = (evt.detail.data.match(/<li id="L/g) || []).length;
        this.trim();
        if (!this.pinned) { this.unseen += added; return; }
        requestAnimationFrame(() => this.scrollToEnd());
      };
      document.addEventListener('htmx:sseBeforeMessage', this.onBefore);
      document.addEventListener('htmx:sseMessage', this.onMessage);
      // A line's number is drawn by CSS in its left gutter: a click there makes the line's permalink.
      this.lines.addEventListener('click', (evt) => {
        const line = evt.target;
        if (line.parentElement === this.lines && line.id && evt.offsetX < parseFloat(getComputedStyle(line).paddingLeft)) location.hash = line.id;
      });
    },
    destroy() {
      document.removeEventListener('htmx:sseBeforeMessage', this.onBefore);
      document.removeEventListener('htmx:sseMessage', this.onMessage);
    },
    atBottom() { const b = this.$refs.box; return b.scrollHeight - b.scrollTop - b.clientHeight < 24; },
    onScroll() {
      if (this.programmatic) return;
      this.follow = this.atBottom();
      if (this.follow) this.unseen = 0;
    },
    scrollToEnd() {
      this.programmatic = true;
      this.$refs.box.scrollTop = this.$refs.box.scrollHeight;
      requestAnimationFrame(() => { this.programmatic = false; });
    },
    jump() { this.follow = true; this.unseen = 0; this.scrollToEnd(); },
    trim() {
      const box = this.$refs.box;
      let excess = this.lines.children.length - MAX_LINES;
      if (excess <= 0) return;
      const before = box.scrollHeight;
      while (excess-- > 0) this.lines.firstElementChild.remove();
      // The numbers are the list's counter: start it at the first line still shown.
      const first = this.lines.querySelector('li[id]');
      if (first) this.lines.start = Number(first.id.slice(1));
      if (!this.follow) box.scrollTop -= before - box.scrollHeight;
    },
    toggleTimes() {
      this.times = !this.times;
      localStorage.setItem('launchpad.logTimes', this.times ? '1' : '0');
    },
  }));
});

// Polls (hx-trigger="every …") skip their turn while the tab is hidden; the first one after it returns catches up.
document.addEventListener('htmx:beforeRequest', (evt) => {
  const trigger = evt.detail.elt.getAttribute('hx-trigger') || '';
  if (document.hidden && trigger.startsWith('every ')) evt.preventDefault();
});

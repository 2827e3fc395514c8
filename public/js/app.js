// Launchpad's own browser script. Everything works without it; it only enhances.
// Alpine components are registered here (the CSP build evaluates no inline expressions). The container page loads
// neither this nor Alpine: its log viewer (log-viewer.js) and stream indicator (live-progress.js) are plain scripts.
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
});

// Polls (hx-trigger="every …") skip their turn while the tab is hidden; the first one after it returns catches up.
document.addEventListener('htmx:beforeRequest', (evt) => {
  const trigger = evt.detail.elt.getAttribute('hx-trigger') || '';
  if (document.hidden && trigger.startsWith('every ')) evt.preventDefault();
});

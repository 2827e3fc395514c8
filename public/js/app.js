// Launchpad's own browser script. Everything works without it; it only enhances.
// Alpine components are registered here (the CSP build evaluates no inline expressions).
document.addEventListener('alpine:init', () => {
  // A button that fills a password field (and its confirmation) with a strong random password and shows it.
  window.Alpine.data('passwordGenerator', () => ({
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

// The container page's log viewer, without a framework (the page loads no Alpine: every byte counts on a slow link).
// It follows new lines until the reader scrolls up, then offers "Jump to latest (N new)"; keeps at most MAX_LINES
// lines in the DOM; remembers the timestamps toggle; a click on a line's number (drawn by CSS in its gutter) makes
// the line's permalink. Lines that come over the live stream carry no id and no line count (it is the one part of a
// line a compressor cannot predict): they are numbered here from their place in the list, and the header's count
// follows. Without scripts the log is a plain list (the page's lines have their ids) and the buttons stay hidden.
(() => {
  const MAX_LINES = 5000;
  const init = () => {
    const root = document.querySelector('[data-log-viewer]');
    if (!root) return;
    const box = root.querySelector('[data-log-box]');
    const lines = document.getElementById('log-lines');
    const jumpButton = root.querySelector('[data-log-jump]');
    const timesButton = root.querySelector('[data-log-times]');
    let follow = true;
    let unseen = 0;
    let pinned = true;
    let programmatic = false;
    let times = localStorage.getItem('launchpad.logTimes') === '1';

    const render = () => {
      jumpButton.hidden = follow;
      jumpButton.textContent = unseen ? `Jump to latest (${unseen} new)` : 'Jump to latest';
      timesButton.hidden = false;
      timesButton.textContent = times ? 'Hide timestamps' : 'Show timestamps';
      box.classList.toggle('show-times', times);
    };
    const atBottom = () => box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    const scrollToEnd = () => {
      programmatic = true;
      box.scrollTop = box.scrollHeight;
      requestAnimationFrame(() => { programmatic = false; });
    };
    // Gives the lines appended since the last call (those without an id, after the last line that has one) the ids
    // their place implies — the first line of the list is the list's start — and the header its count.
    const number = () => {
      const fresh = [];
      let last = lines.lastElementChild;
      for (; last && !last.id; last = last.previousElementSibling) if (!last.classList.contains('log-marker')) fresh.push(last);
      if (!fresh.length) return 0;
      let n = last ? Number(last.id.slice(1)) : lines.start - 1;
      for (let i = fresh.length - 1; i >= 0; i--) fresh[i].id = `L${++n}`;
      const count = document.getElementById('log-count'); // the stream's last message replaces it: look it up each time
      if (count) count.textContent = `${n} lines`;
      return fresh.length;
    };
    const trim = () => {
      let excess = lines.children.length - MAX_LINES;
      if (excess <= 0) return;
      const before = box.scrollHeight;
      while (excess-- > 0) lines.firstElementChild.remove();
      // The numbers are the list's counter: start it at the first line still shown.
      const first = lines.querySelector('li[id]');
      if (first) lines.start = Number(first.id.slice(1));
      if (!follow) box.scrollTop -= before - box.scrollHeight;
    };

    box.addEventListener('scroll', () => {
      if (programmatic) return;
      follow = atBottom();
      if (follow) unseen = 0;
      render();
    });
    jumpButton.addEventListener('click', () => {
      follow = true;
      unseen = 0;
      scrollToEnd();
      render();
    });
    timesButton.addEventListener('click', () => {
      times = !times;
      localStorage.setItem('launchpad.logTimes', times ? '1' : '0');
      render();
    });
    document.addEventListener('htmx:sseBeforeMessage', () => { pinned = follow && atBottom(); });
    document.addEventListener('htmx:sseMessage', () => {
      const added = number();
      if (!added) return;
      trim();
      if (!pinned) {
        unseen += added;
        return render();
      }
      requestAnimationFrame(scrollToEnd);
    });
    lines.addEventListener('click', (evt) => {
      const line = evt.target;
      if (line.parentElement === lines && line.id && evt.offsetX < parseFloat(getComputedStyle(line).paddingLeft)) location.hash = line.id;
    });
    number();
    if (!location.hash) box.scrollTop = box.scrollHeight;
    render();
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();

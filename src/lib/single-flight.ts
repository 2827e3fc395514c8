// Concurrent asks for the same key share one answer while it is being fetched. By default nothing is kept once it
// has arrived, so an answer is never older than the moment the first of them asked; `keepMs` also serves it to those
// who ask within that long after it arrived. A hundred viewers finishing the same replay, or opening the same stream
// at once, make one read instead of a hundred.
export type SingleFlight<K, V> = (key: K, load: () => Promise<V>) => Promise<V>;

export function singleFlight<K, V>(options: { keepMs?: number } = {}): SingleFlight<K, V> {
  const keepMs = options.keepMs ?? 0;
  const answers = new Map<K, { answer: Promise<V>; until: number }>();
  return (key, load) => {
    const now = Date.now();
    const known = answers.get(key);
    if (known && known.until >= now) return known.answer;
    for (const [k, entry] of answers) if (entry.until < now) answers.delete(k);
    const entry = { answer: load(), until: Number.POSITIVE_INFINITY };
    answers.set(key, entry);
    const settle = (keep: boolean) => {
      if (keep && keepMs > 0) entry.until = Date.now() + keepMs;
      else if (answers.get(key) === entry) answers.delete(key);
    };
    entry.answer.then(() => settle(true), () => settle(false));
    return entry.answer;
  };
}

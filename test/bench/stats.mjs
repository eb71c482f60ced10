// Latency sampling and summary for the benchmark: time N sequential async calls, nearest-rank
// percentiles, and a fixed-width table for stdout.

/**
 * Time `fn` `count` times in a row, after `warmup` untimed calls.
 * @param {() => Promise<void>} fn
 * @param {{ count: number, warmup: number }} options
 * @returns {Promise<number[]>} milliseconds per call
 */
export async function sample(fn, { count, warmup }) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return times;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(samples, p) {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** @param {number[]} samples */
export function summarize(samples) {
  const mean = samples.reduce((sum, x) => sum + x, 0) / samples.length;
  return { n: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), mean };
}

/**
 * Render rows as an aligned text table (first row is the header).
 * @param {string[][]} rows
 */
export function table(rows) {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => String(row[col]).length)));
  const line = (row) =>
    row
      .map((cell, col) => String(cell).padEnd(widths[col]))
      .join("  ")
      .trimEnd();
  return [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

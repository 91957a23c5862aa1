/**
 * A tiny benchmark harness: warm up, then time rounds of a fixed number of operations and report
 * the median rate of several rounds with min and max. One core, no worker threads: the figures are
 * per core.
 */

export interface Rate {
  readonly name: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function measure(name: string, op: () => unknown, opts: { rounds?: number; roundMs?: number } = {}): Rate {
  const rounds = opts.rounds ?? 3;
  const roundMs = opts.roundMs ?? 700;
  // Calibrate a batch size that takes about 10 ms, warming the JIT while doing so.
  let batch = 1;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) op();
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (ms > 10) break;
    batch *= 2;
  }
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < roundMs) {
      for (let i = 0; i < batch; i++) op();
      n += batch;
      elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    }
    rates.push((n / elapsed) * 1000);
  }
  rates.sort((a, b) => a - b);
  return { name, median: rates[Math.floor(rates.length / 2)]!, min: rates[0]!, max: rates[rates.length - 1]! };
}

export const fmtRate = (r: number) => (r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : `${(r / 1e3).toFixed(0)}k`);

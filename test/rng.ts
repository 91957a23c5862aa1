/**
 * The seeded PRNG the fuzz tests share (mulberry32: small, fast, good enough for mutation), and
 * the environment knobs every fuzz test honours: FUZZ_SEED replays a run (the seed is printed),
 * FUZZ_SCALE scales the number of inputs.
 */

export const FUZZ_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
export const FUZZ_SCALE = Number(process.env.FUZZ_SCALE ?? 1);

export class Rng {
  private s: number;

  /** `interesting`: byte values the code under test branches on, drawn more often by byte(). */
  constructor(seed: number, private readonly interesting: readonly number[] = [0x80, 0x7f, 0x40]) {
    this.s = seed >>> 0;
  }

  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** In [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** 0..n-1 */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** lo..hi inclusive */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** A byte biased to the values parsers care about: 0, 0xff, small numbers, the interesting ones. */
  byte(): number {
    switch (this.int(6)) {
      case 0: return 0;
      case 1: return 0xff;
      case 2: return this.int(16);
      case 3: return this.pick(this.interesting);
      default: return this.int(256);
    }
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.byte();
    return b;
  }

  /** A length biased to small values. */
  size(max: number): number {
    const r = this.next();
    return Math.floor(r * r * r * (max + 1));
  }
}

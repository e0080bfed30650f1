// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), written
// from the published algorithm with BigInt arithmetic: the oracle for the WGSL generator, which
// has to build its 64-bit products from 16-bit halves.

const MULTIPLIERS = [0xd2511f53n, 0xcd9e8d57n] as const;
const WEYL = [0x9e3779b9n, 0xbb67ae85n] as const;
const WORD = 0xffffffffn;

export type Counter = readonly [number, number, number, number];
export type Key = readonly [number, number];

/** The four 32-bit outputs of Philox4x32 with `rounds` rounds for one counter and key. */
export function philox4x32(counter: Counter, key: Key, rounds = 10): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => BigInt(v >>> 0));
  let [k0, k1] = key.map((v) => BigInt(v >>> 0));
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      // the key schedule: a Weyl sequence, bumped before every round after the first
      k0 = (k0! + WEYL[0]) & WORD;
      k1 = (k1! + WEYL[1]) & WORD;
    }
    const product0 = MULTIPLIERS[0] * c0!;
    const product1 = MULTIPLIERS[1] * c2!;
    [c0, c1, c2, c3] = [
      (product1 >> 32n) ^ c1! ^ k0!,
      product1 & WORD,
      (product0 >> 32n) ^ c3! ^ k1!,
      product0 & WORD,
    ];
  }
  return [Number(c0), Number(c1), Number(c2), Number(c3)];
}

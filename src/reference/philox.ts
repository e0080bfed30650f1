// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), written
// from the published algorithm: the one TypeScript copy, used by the dropout reference (the oracle
// for the WGSL generator) and by augmentation's parameter draws (src/ops/augment.ts). Its
// 64-bit products are built exactly from float64 pieces, as the WGSL builds them from 16-bit
// halves; Random123's known-answer vectors pin it (kernels-test/dropout.test.ts).

const MULTIPLIERS = [0xd2511f53, 0xcd9e8d57] as const;
const WEYL = [0x9e3779b9, 0xbb67ae85] as const;

export type Counter = readonly [number, number, number, number];
export type Key = readonly [number, number];

/** The high and low 32 bits of a * b for 32-bit unsigned a and b, exact in float64 pieces. */
function mulHiLo(a: number, b: number): [number, number] {
  const aHi = Math.floor(a / 65536);
  const aLo = a % 65536;
  const high = aHi * b; // < 2^48, exact
  const low = aLo * b; // < 2^48, exact
  // a * b = high * 2^16 + low; split high at bit 16 so the sum below stays under 2^53.
  const highLo = high % 65536;
  const carry = Math.floor((highLo * 65536 + low) / 2 ** 32);
  return [Math.floor(high / 65536) + carry, Math.imul(a, b) >>> 0];
}

/** The four 32-bit outputs of Philox4x32 with `rounds` rounds (10 by default) for one counter and key. */
export function philox4x32(counter: Counter, key: Key, rounds = 10): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0) as [number, number, number, number];
  let [k0, k1] = key.map((v) => v >>> 0) as [number, number];
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      // the key schedule: a Weyl sequence, bumped before every round after the first
      k0 = (k0 + WEYL[0]) >>> 0;
      k1 = (k1 + WEYL[1]) >>> 0;
    }
    const [hi0, lo0] = mulHiLo(MULTIPLIERS[0], c0);
    const [hi1, lo1] = mulHiLo(MULTIPLIERS[1], c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): four
// random 32-bit words from a 128-bit counter and a 64-bit key, so a random draw depends on
// (key, counter) alone, never on the dispatch layout. src/reference/philox.ts is its oracle.

// The high and low 32 bits of a * b, from 16-bit halves (WGSL has no 64-bit integers).
fn mul_hi_lo(a: u32, b: u32) -> vec2u {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let lo_lo = a_lo * b_lo;
  let hi_lo = a_hi * b_lo;
  let lo_hi = a_lo * b_hi;
  // At most 2^32 - 1: the middle column plus the carry out of the low one.
  let middle = (lo_lo >> 16u) + (hi_lo & 0xffffu) + lo_hi;
  let hi = a_hi * b_hi + (hi_lo >> 16u) + (middle >> 16u);
  return vec2u(hi, a * b);
}

fn philox4x32_10(counter: vec4u, key: vec2u) -> vec4u {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k += vec2u(0x9e3779b9u, 0xbb67ae85u); }
    let p0 = mul_hi_lo(0xd2511f53u, c.x);
    let p1 = mul_hi_lo(0xcd9e8d57u, c.z);
    c = vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}

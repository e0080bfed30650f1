// Tests and constants for special floats, by their bit patterns: a compiler may assume that no
// float is NaN or infinite and fold a float comparison away, but not an integer one. WGSL's
// max(v, 0.0) leaves NaN to the implementation, hence not_positive for the ReLUs.

fn is_nan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn is_neg_inf(v: f32) -> bool { return bitcast<u32>(v) == 0xff800000u; }
fn is_nan_or_pos_inf(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) >= 0x7f800000u && !is_neg_inf(v); }
fn is_finite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u; }

// Whether none of v's components is NaN or infinite.
fn all_finite(v: vec4f) -> bool {
  let exponent = vec4u(0x7f800000u);
  return all((bitcast<vec4u>(v) & exponent) != exponent);
}

// v <= 0, false for NaN: +0, or the sign set and not a NaN. A ReLU zeroes these and keeps NaN, as
// PyTorch's does, and its gradient passes at NaN (threshold_backward zeroes only where v <= 0).
fn not_positive(v: f32) -> bool {
  let bits = bitcast<u32>(v);
  return bits == 0u || bits - 0x80000000u <= 0x7f800000u;
}

fn nan() -> f32 { let bits = 0x7fc00000u; return bitcast<f32>(bits); }
fn neg_inf() -> f32 { let bits = 0xff800000u; return bitcast<f32>(bits); }

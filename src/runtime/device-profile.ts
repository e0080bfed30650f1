// Device profiles: every threshold behind a route or tile choice, per kind of device. The
// planners (src/ops/conv-plan.ts, planGemm in src/ops/gemm-tile.ts) read them; no op file holds
// a threshold of its own. The engine picks a profile from the adapter (CPU adapters: Mesa's
// lavapipe / llvmpipe, SwiftShader, WARP; anything else is taken for a GPU), and EngineOptions
// can force one (the tests run every route with the discrete profile forced on lavapipe).

/** A GEMM tile of the register-blocked kernels: `threads` invocations cover rows x (threads * cols) outputs. */
export interface RegisterTileShape {
  rows: number;
  cols: number;
  threads: number;
}

export interface GemmProfile {
  /**
   * The kernel products take where they fit it: 'subgroup' (shaders/gemm_subgroup.wgsl, A's rows
   * shared through subgroup shuffles: a CPU adapter's fast path) or 'tiled'
   * (shaders/gemm_tiled.wgsl, operands staged in workgroup memory: a GPU's). The portable kernel
   * (shaders/gemm.wgsl) takes the rest.
   */
  preferred: 'subgroup' | 'tiled';
  /** Below this K a product takes the portable kernel with `portableShortK`: little work per workgroup. */
  shortK: number;
  /** The subgroup kernel's rows per workgroup: `fewRows` when M <= fewRows, else `rows` (cols: 4 per invocation). */
  subgroup: { rows: number; fewRows: number; cols: number };
  /** The portable kernel's tile (rows shrink to a power of two >= M), for K >= shortK and for shorter K. */
  portable: RegisterTileShape;
  portableShortK: RegisterTileShape;
  /**
   * The tiled kernel's block: `rows` (or `fewRows` when M < rows) x `cols` outputs, `depth` steps
   * of K per stage in workgroup memory; products with M < minRows take the portable kernel.
   */
  tiled: { rows: number; fewRows: number; cols: number; depth: number; minRows: number };
}

export interface ConvProfile {
  /** When 'auto' takes Winograd (3x3, stride 1): both channel counts, the direct FLOPs and batch x tiles at least these. */
  winograd: { minChannels: number; minFlops: number; minTiles: number };
  /** 1-D and 2-D convolutions take the implicit GEMM over explicit im2col columns above this many output positions. */
  implicitAbovePositions: number;
  /** The transposed input gradient over col2im: channels per group at least this, input positions at most this times the output's. */
  transposedInput: { minChannelsPerGroup: number; maxInputPerOutput: number };
  /**
   * The shifted weight gradient over im2col: channels per group at least this (a multiple of 4
   * where `alignedChannels`), padded grid at most this times the output.
   */
  shiftedWeight: { minChannelsPerGroup: number; alignedChannels: boolean; maxPaddedPerOutput: number };
  /** Split-K of the column weight gradient: aim for this many workgroups, each split reducing at least `minTerms`. */
  splitK: { workgroups: number; minTerms: number };
}

export interface DeviceProfile {
  readonly name: 'cpu' | 'discrete';
  readonly gemm: GemmProfile;
  readonly conv: ConvProfile;
}

/**
 * CPU adapters, measured on Mesa lavapipe (2 Zen 5 cores, 256-bit LLVM code). A workgroup runs
 * on one CPU thread with its invocations in SIMD lanes, and every storage load inside a loop
 * costs a scalar step per lane, so time follows the elements moved more than the FLOPs.
 */
export const CPU_PROFILE: DeviceProfile = {
  name: 'cpu',
  gemm: {
    preferred: 'subgroup',
    // A 1x1 convolution with one input channel ran 4.5x faster on the portable kernel with 64
    // invocations per workgroup: below K = 16 the subgroup kernel's sharing of A has little to
    // share, and a workgroup's fixed cost dominates.
    shortK: 16,
    // 16 x 4 per invocation ran as fast as 24 x 4 and 16 x 8 (more accumulators only spill) and
    // compiles faster; 8 x 4 was ~25% slower but wastes less when M <= 8.
    subgroup: { rows: 16, fewRows: 8, cols: 4 },
    // The portable kernel keeps A loads uniform across a workgroup: 16 x 2 per invocation on CPUs.
    portable: { rows: 16, cols: 2, threads: 8 },
    portableShortK: { rows: 8, cols: 4, threads: 64 },
    // Planned on no CPU product (the subgroup and portable kernels serve them); the discrete
    // values, for tiles asked for by kernel (gemmTileFor: the tests run the tiled kernel everywhere).
    tiled: { rows: 64, fewRows: 32, cols: 64, depth: 16, minRows: 16 },
  },
  conv: {
    // Measured at batch 1 unless said:
    // - Winograd's product is a GEMM over N = batch x tiles columns, which the GEMM core covers 32
    //   at a time: below one full block the transforms (the weights' above all, redone every
    //   call) cost more than the product saves. 512 channels at 7x7 (16 tiles of 2x2) ran ~1.6x
    //   slower by F(2x2) than by im2col at batch 1, ~1.3x faster at batch 2.
    // - The transforms grow with C + O and the savings with C x O: with 16 channels or fewer the
    //   implicit GEMM (K = 9C is short) won everywhere tried; 32 -> 64 channels at 12x12 won by
    //   F(4x4) from batch 8 (1.5x) and lost at batch 1 (2x slower).
    // - Four dispatches cost a fixed ~1 ms: 32 channels at 28x28 (14.5 MFLOP) still lost by 1.4x,
    //   at 56x56 (58 MFLOP) F(4x4) was level with the implicit GEMM.
    // F(4x4) beat F(2x2) wherever it had enough tiles (~1.8x at 64 channels, 56x56).
    winograd: { minChannels: 32, minFlops: 32e6, minTiles: 32 },
    // The implicit GEMM wins on large outputs (64 ch @ 56x56: ~15% faster); on small ones (28x28
    // and below) the explicit buffer is as fast or faster (256 @ 14x14: ~1.4x), its GEMM reading
    // B as vec4 and its columns costing little to write.
    implicitAbovePositions: 1024,
    // The transposed convolution's GEMM has C/groups rows, so with few of them most of each tile
    // idles (Fashion-MNIST's 1 -> 32 layer: 2-5x slower than col2im); and it does input/output
    // positions times the forward's FLOPs, while col2im's GEMM does exactly the forward's but
    // writes and reads a column buffer: at 1.36x (a 'valid' 3x3 on 14x14 inputs, which the
    // forward runs as Winograd) the transposed route was still ~30% faster, at 1x ('same', 64
    // channels @ 56x56) 2-3x faster.
    transposedInput: { minChannelsPerGroup: 8, maxInputPerOutput: 1.5 },
    // Channels per group are the GEMM's columns (32 to a tile) and must be 4-aligned for its fast
    // path; a 'valid' 3x3 on 12x12 outputs does 1.36x the FLOPs and ran slower than im2col,
    // 'same' at 56x56 ran ~1.3x faster.
    shiftedWeight: { minChannelsPerGroup: 16, alignedChannels: true, maxPaddedPerOutput: 1.2 },
    // CPU adapters run one workgroup per thread: a few dozen keep 2 to 16 cores busy.
    splitK: { workgroups: 16, minTerms: 1024 },
  },
};

/**
 * Discrete (and integrated) GPUs. NOT MEASURED: no GPU was available where these were chosen, so
 * they follow the usual shape of GPU GEMM and convolution tuning and want measuring on one
 * (bench/gemm-tune.ts, bench/conv-backward.ts --routes). Every value is correct anywhere: the
 * tests run every route under this profile on lavapipe.
 */
export const DISCRETE_PROFILE: DeviceProfile = {
  name: 'discrete',
  gemm: {
    preferred: 'tiled',
    shortK: 16,
    // Planned on no GPU product (its 8-invocation workgroups would leave most lanes idle); the
    // CPU values, for tiles asked for by kernel.
    subgroup: { rows: 16, fewRows: 8, cols: 4 },
    // Wide workgroups (64 invocations, a warp or two) for the small products the tiled kernel skips.
    portable: { rows: 8, cols: 2, threads: 64 },
    portableShortK: { rows: 8, cols: 4, threads: 64 },
    // 64 x 64 blocks of 4 x 4 per invocation (256 invocations), 16 steps of K staged per barrier:
    // 8 KiB of workgroup memory, half the 16 KiB every WebGPU device offers. Rows under 64 take
    // 32-row blocks, under 16 the portable kernel (a block would mostly idle).
    tiled: { rows: 64, fewRows: 32, cols: 64, depth: 16, minRows: 16 },
  },
  conv: {
    // The transforms are three extra dispatches through memory: worth it only where the product's
    // savings (2.25x or 4x fewer multiplies) are large, i.e. wide layers with many tiles.
    winograd: { minChannels: 64, minFlops: 1e9, minTiles: 256 },
    // Fused im2col loads cost a GPU little; an explicit column buffer costs memory traffic.
    implicitAbovePositions: 0,
    // Fewer channels per group than a tiled block's fewest rows leave most of it idle.
    transposedInput: { minChannelsPerGroup: 16, maxInputPerOutput: 1.5 },
    shiftedWeight: { minChannelsPerGroup: 16, alignedChannels: false, maxPaddedPerOutput: 1.2 },
    // Enough workgroups to fill a few dozen compute units several times over.
    splitK: { workgroups: 512, minTerms: 1024 },
  },
};

export const DEVICE_PROFILES = { cpu: CPU_PROFILE, discrete: DISCRETE_PROFILE } as const;

/** Adapters that run shaders on the CPU: a workgroup on one thread, its invocations in SIMD lanes. */
export function isCpuAdapter(adapterName: string): boolean {
  return /llvmpipe|lavapipe|swiftshader|warp/i.test(adapterName);
}

/** The profile for an adapter, by its description (see describeAdapter). */
export function profileForAdapter(adapterName: string): DeviceProfile {
  return isCpuAdapter(adapterName) ? CPU_PROFILE : DISCRETE_PROFILE;
}

/** A profile given by name or value (EngineOptions.profile), checked. */
export function resolveProfile(profile: DeviceProfile | keyof typeof DEVICE_PROFILES): DeviceProfile {
  if (typeof profile === 'string') {
    const named = DEVICE_PROFILES[profile];
    if (!named) throw new Error(`Engine.create: profile must be ${Object.keys(DEVICE_PROFILES).map((n) => `'${n}'`).join(' or ')} or a DeviceProfile, got '${profile}'`);
    return named;
  }
  if (typeof profile !== 'object' || profile === null || !profile.gemm || !profile.conv) {
    throw new Error(`Engine.create: profile must be 'cpu', 'discrete' or a DeviceProfile, got ${JSON.stringify(profile)}`);
  }
  return profile;
}

/** What a plan is made for: the profile's thresholds and the device's capabilities that bear on routes. */
export interface PlanTarget {
  readonly profile: DeviceProfile;
  /** Whether the subgroup GEMM can run: the 'subgroups' feature with at least 8 invocations per subgroup. */
  readonly subgroups: boolean;
  /** The largest buffer bound at once: the device's maxStorageBufferBindingSize (lower in tests). */
  readonly maxBindingBytes: number;
}

// interpolate: bilinear with either align_corners, nearest, sizes and scale factors (integer,
// fractional, per axis, recomputed), up and down, one-pixel inputs and outputs. k: the taps per
// output (4 for bilinear); gradK: the outputs that can read one input cell.
import type { OpCase } from './case.js';

function interp(name: string, shape: number[], out: [number, number], options: Record<string, unknown>, torch: string): OpCase {
  const bilinear = options.mode === 'bilinear';
  const reach = out.map((o, i) => Math.min(o, (bilinear ? 2 : 1) * Math.ceil(o / shape[i + 2]!) + 1)).reduce((a, b) => a * b, 1);
  return { op: 'interpolate', name, inputs: { x: { shape } }, options, torch: `F.interpolate(x, ${torch})`, k: bilinear ? 4 : undefined, gradK: reach };
}

const bl = { mode: 'bilinear' };
const nn = { mode: 'nearest' };
export const cases: OpCase[] = [
  interp('bilinear_size_align_false', [2, 3, 4, 5], [7, 9], { ...bl, size: [7, 9], alignCorners: false }, "size=(7, 9), mode='bilinear', align_corners=False"),
  interp('bilinear_size_align_true', [2, 3, 4, 5], [7, 9], { ...bl, size: [7, 9], alignCorners: true }, "size=(7, 9), mode='bilinear', align_corners=True"),
  interp('bilinear_downsample_align_true', [1, 2, 9, 8], [4, 3], { ...bl, size: [4, 3], alignCorners: true }, "size=(4, 3), mode='bilinear', align_corners=True"),
  interp('bilinear_scale2', [2, 1, 3, 4], [6, 8], { ...bl, scaleFactor: 2, alignCorners: false }, "scale_factor=2, mode='bilinear', align_corners=False"),
  interp('bilinear_scale_tuple_down', [1, 2, 5, 6], [7, 3], { ...bl, scaleFactor: [1.5, 0.6], alignCorners: false }, "scale_factor=(1.5, 0.6), mode='bilinear', align_corners=False"),
  interp('bilinear_recompute_scale1.3', [1, 2, 7, 9], [9, 11], { ...bl, scaleFactor: 1.3, recomputeScaleFactor: true }, "scale_factor=1.3, mode='bilinear', recompute_scale_factor=True"),
  interp('bilinear_height_unchanged', [1, 2, 5, 4], [5, 7], { ...bl, size: [5, 7] }, "size=(5, 7), mode='bilinear'"),
  {
    ...interp('bilinear_one_pixel_input', [1, 3, 1, 1], [4, 3], { ...bl, size: [4, 3] }, "size=(4, 3), mode='bilinear'"),
    skipNonFinite: 'both taps read the one pixel, so an infinite pixel gives inf or NaN (0 * inf) by whether a weight rounds to exactly 0, which hangs on the last bit of each side source-index arithmetic',
  },
  interp('bilinear_one_pixel_output', [2, 2, 5, 4], [1, 1], { ...bl, size: [1, 1], alignCorners: true }, "size=(1, 1), mode='bilinear', align_corners=True"),
  interp('nearest_size', [2, 2, 3, 4], [7, 9], { ...nn, size: [7, 9] }, "size=(7, 9), mode='nearest'"),
  interp('nearest_scale1.5', [1, 1, 5, 4], [7, 6], { ...nn, scaleFactor: 1.5 }, "scale_factor=1.5, mode='nearest'"),
  interp('nearest_downsample_size', [1, 2, 7, 9], [3, 4], { ...nn, size: [3, 4] }, "size=(3, 4), mode='nearest'"),
  interp('nearest_recompute_scale1.3', [1, 1, 7, 9], [9, 11], { ...nn, scaleFactor: 1.3, recomputeScaleFactor: true }, "scale_factor=1.3, mode='nearest', recompute_scale_factor=True"),
];

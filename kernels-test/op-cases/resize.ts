// interpolate: bilinear with either align_corners, nearest, sizes and scale factors (integer,
// fractional, per axis), up and down. k: the taps per output (4 for bilinear).
import type { OpCase } from './case.js';

function interp(name: string, shape: number[], options: Record<string, unknown>, torch: string): OpCase {
  return { op: 'interpolate', name, inputs: { x: { shape } }, options, torch: `F.interpolate(x, ${torch})`, k: options.mode === 'bilinear' ? 4 : undefined };
}

const bl = { mode: 'bilinear' };
const nn = { mode: 'nearest' };
export const cases: OpCase[] = [
  interp('bilinear_size_align_false', [1, 2, 4, 5], { ...bl, size: [7, 8], alignCorners: false }, "size=(7, 8), mode='bilinear', align_corners=False"),
  interp('bilinear_size_align_true', [1, 2, 4, 5], { ...bl, size: [7, 8], alignCorners: true }, "size=(7, 8), mode='bilinear', align_corners=True"),
  interp('bilinear_scale2_align_false', [2, 1, 3, 4], { ...bl, scaleFactor: 2, alignCorners: false }, "scale_factor=2, mode='bilinear', align_corners=False"),
  interp('bilinear_scale1.5', [1, 2, 5, 4], { ...bl, scaleFactor: 1.5, alignCorners: false }, "scale_factor=1.5, mode='bilinear', align_corners=False"),
  interp('bilinear_scale_tuple', [1, 1, 4, 4], { ...bl, scaleFactor: [2, 1.5], alignCorners: false }, "scale_factor=(2, 1.5), mode='bilinear', align_corners=False"),
  interp('bilinear_downsample_size', [1, 2, 8, 7], { ...bl, size: [3, 5], alignCorners: false }, "size=(3, 5), mode='bilinear', align_corners=False"),
  interp('nearest_size', [1, 2, 3, 4], { ...nn, size: [7, 5] }, "size=(7, 5), mode='nearest'"),
  interp('nearest_scale1.5', [1, 1, 5, 4], { ...nn, scaleFactor: 1.5 }, "scale_factor=1.5, mode='nearest'"),
  interp('nearest_downsample_size', [1, 2, 5, 7], { ...nn, size: [2, 3] }, "size=(2, 3), mode='nearest'"),
];

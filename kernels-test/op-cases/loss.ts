// Cross-entropy: every reduction, ignore_index (ours and the default -100), label smoothing,
// class weights, many classes (a workgroup per row), large logits. k: the classes summed per
// row (times the rows for a reduced loss).
import type { OpCase } from './case.js';

function ce(name: string, rows: number, classes: number, o: { options?: Record<string, unknown>; targets?: number[]; weight?: boolean; scale?: number } = {}): OpCase {
  const options = o.options ?? {};
  const kw: string[] = [];
  if (o.weight) kw.push('weight=weight');
  if (options.reduction) kw.push(`reduction='${options.reduction as string}'`);
  if (options.ignoreIndex !== undefined) kw.push(`ignore_index=${options.ignoreIndex as number}`);
  if (options.labelSmoothing !== undefined) kw.push(`label_smoothing=${options.labelSmoothing as number}`);
  const scale = o.scale ?? 2;
  return {
    op: 'crossEntropy',
    name,
    inputs: {
      logits: { shape: [rows, classes], range: [-scale, scale] },
      target: o.targets ? { shape: [rows], values: o.targets } : { shape: [rows], integers: classes },
      ...(o.weight ? { weight: { shape: [classes], range: [0.2, 2] } } : {}),
    },
    options,
    torch: `F.cross_entropy(logits, target.long(), ${kw.join(', ')})`,
    k: classes * (options.reduction === 'none' ? 1 : rows),
    gradK: classes,
  };
}

export const cases: OpCase[] = [
  ce('mean', 6, 5),
  ce('sum', 6, 5, { options: { reduction: 'sum' } }),
  ce('none', 7, 3, { options: { reduction: 'none' } }),
  ce('mean_large_logits', 5, 4, { scale: 300 }),
  ce('many_classes', 3, 130, { options: { reduction: 'sum' } }),
  ce('ignore_index2_mean', 8, 4, { options: { ignoreIndex: 2 }, targets: [0, 2, 1, 2, 3, 2, 1, 0] }),
  ce('default_ignore_index_none', 5, 4, { options: { reduction: 'none' }, targets: [1, -100, 3, 0, -100] }),
  ce('label_smoothing0.1_mean', 6, 5, { options: { labelSmoothing: 0.1 } }),
  ce('label_smoothing0.2_sum', 4, 6, { options: { reduction: 'sum', labelSmoothing: 0.2 } }),
  ce('weight_mean', 7, 5, { weight: true }),
  ce('weight_none', 5, 4, { options: { reduction: 'none' }, weight: true }),
  ce('weight_smoothing_ignore_mean', 8, 5, { options: { labelSmoothing: 0.15, ignoreIndex: 4 }, weight: true, targets: [0, 4, 1, 2, 4, 3, 1, 0] }),
];

// Learning-rate schedules, computed on the CPU per step (the optimisers take the new rate as a
// uniform, so changing it costs nothing on the GPU).

export type LrSchedule = 'constant' | 'cosine';
export const LR_SCHEDULES: readonly LrSchedule[] = ['constant', 'cosine'];

/**
 * The rate at `step` (0-based) of `total`: `base` throughout ('constant'), or cosine annealing
 * from `base` to 0 over the run ('cosine', torch.optim.lr_scheduler.CosineAnnealingLR with
 * T_max = total and eta_min = 0, stepped per batch). Steps past `total` keep the last rate.
 */
export function scheduledLr(schedule: LrSchedule, base: number, step: number, total: number): number {
  if (schedule === 'constant' || total <= 0) return base;
  return 0.5 * base * (1 + Math.cos((Math.PI * Math.min(step, total)) / total));
}

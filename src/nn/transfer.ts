// Transfer learning with ResNet18, the two ways the textbook teaches:
// - feature extraction: a new classifier on a frozen pretrained backbone;
// - fine-tuning: the new classifier and some (or all) of the backbone's stages trained together.
// Frozen parts get requiresGrad false and their batch norms are pinned to the running statistics
// (normalising as in evaluation and never updating them, even with the model in training mode),
// so they are bit-for-bit unchanged by training. The tape records nothing for them: no backward
// kernels run below the lowest trainable layer, and none computes that layer's input gradient.
import type { Variable } from '../autograd/variable.js';
import { Rng } from './init.js';
import { Linear } from './linear.js';
import type { Module } from './module.js';
import { RESNET_STAGES, ResNetBatchNorm2d, type ResNet18Module, type ResNetStage } from './models/resnet18-module.js';

export type TransferMode = 'feature-extraction' | 'fine-tune';

/** What fine-tuning trains besides the new fc: nothing else, the last stage, the last two, everything. */
export type Unfreeze = 'fc' | 'layer4' | 'layer3+' | 'all';

export const TRANSFER_MODES: readonly TransferMode[] = ['feature-extraction', 'fine-tune'];
export const UNFREEZE_CHOICES: readonly Unfreeze[] = ['fc', 'layer4', 'layer3+', 'all'];

export interface TransferOptions {
  mode: TransferMode;
  /** Fine-tuning only: what to train with fc (default 'all'). Feature extraction is 'fc'. */
  unfreeze?: Unfreeze;
  /** Classes of the new task: rows of the new fc. */
  numClasses: number;
  /** Seeds the new fc's initialisation (default 0). */
  seed?: number;
}

export interface TransferSetup {
  mode: TransferMode;
  unfreeze: Unfreeze;
  /** Stages that train, in forward order. */
  trainableStages: ResNetStage[];
  /** Names of the parameters that train / stay frozen. */
  trainable: string[];
  frozen: string[];
}

const FIRST_TRAINABLE: Record<Unfreeze, ResNetStage> = { fc: 'fc', layer4: 'layer4', 'layer3+': 'layer3', all: 'stem' };

function checkChoice<T extends string>(what: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new Error(`prepareTransfer: ${what} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** The checked mode and unfreeze choice (feature extraction admits only 'fc'). */
export function resolveTransfer(mode: TransferMode, unfreeze?: Unfreeze): { mode: TransferMode; unfreeze: Unfreeze } {
  checkChoice('mode', mode, TRANSFER_MODES);
  if (mode === 'feature-extraction') {
    if (unfreeze !== undefined && unfreeze !== 'fc') {
      throw new Error(`prepareTransfer: feature extraction trains only the new fc (unfreeze 'fc'), got unfreeze '${unfreeze}'; use mode 'fine-tune' to train backbone stages`);
    }
    return { mode, unfreeze: 'fc' };
  }
  return { mode, unfreeze: unfreeze === undefined ? 'all' : checkChoice('unfreeze', unfreeze, UNFREEZE_CHOICES) };
}

/**
 * Freezes and unfreezes the model's stages for a transfer mode without touching fc's weights
 * (prepareTransfer does this after replacing fc; call it alone when resuming from a checkpoint
 * whose fc already has the new classes). Frozen stages: requiresGrad false, batch norms pinned
 * to their running statistics. Trainable stages: requiresGrad true, batch norms follow the
 * model's train()/eval() mode.
 */
export function freezeForTransfer(model: ResNet18Module, mode: TransferMode, unfreeze?: Unfreeze): TransferSetup {
  const resolved = resolveTransfer(mode, unfreeze);
  const first = RESNET_STAGES.indexOf(FIRST_TRAINABLE[resolved.unfreeze]);
  const trainableStages = RESNET_STAGES.slice(first);
  for (const [k, stage] of RESNET_STAGES.entries()) {
    const train = k >= first;
    for (const m of model.stage(stage)) {
      m.requiresGrad(train);
      for (const [, sub] of m.namedModules()) if (sub instanceof ResNetBatchNorm2d) sub.pinned = !train;
    }
  }
  model.clearFoldCache();
  const named = model.namedParameters();
  return {
    ...resolved,
    trainableStages,
    trainable: named.filter(([, p]) => p.requiresGrad).map(([n]) => n),
    frozen: named.filter(([, p]) => !p.requiresGrad).map(([n]) => n),
  };
}

/**
 * Readies a (pretrained) ResNet18 for a new task: replaces fc with a new Linear(512, numClasses)
 * (PyTorch's default initialisation, seeded), then freezes as the mode says (freezeForTransfer).
 */
export function prepareTransfer(model: ResNet18Module, options: TransferOptions): TransferSetup {
  const { mode, unfreeze, numClasses, seed = 0 } = options;
  resolveTransfer(mode, unfreeze);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`prepareTransfer: numClasses must be a positive integer, got ${numClasses}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`prepareTransfer: seed must be an integer >= 0, got ${seed}`);
  model.replaceFc(new Linear(model.engine, 512, numClasses, { rng: new Rng(seed) }));
  return freezeForTransfer(model, mode, unfreeze);
}

/** The parameters an optimiser should get: those that require a gradient, in state_dict order. */
export function trainableParameters(model: Module): Variable[] {
  return model.parameters().filter((p) => p.requiresGrad);
}

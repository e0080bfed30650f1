// The `explain` command's help and defaults, apart from src/cli/explain.ts so that main.ts loads
// the model code only when `explain` runs.
import type { LoadedModelKind } from '../nn/load-model.js';
import type { CommandHelp } from './help.js';
import { FASHION_CONVERSION } from './infer-usage.js';

/** Per model kind: the layers whose feature maps are drawn, and Grad-CAM's layer (none: the DNN has no maps). */
export const EXPLAIN_LAYERS: Record<LoadedModelKind, { features: string[]; gradCam: string | undefined }> = {
  // The two stages' ReLU outputs (28x28 and 12x12), before their max pools.
  'fashion-cnn': { features: ['layer1.2', 'layer2.2'], gradCam: 'layer2.2' },
  'fashion-dnn': { features: ['fc1', 'fc2'], gradCam: undefined },
  'resnet18-transfer': { features: ['layer1', 'layer4'], gradCam: 'layer4' },
  resnet18: { features: ['layer1', 'layer4'], gradCam: 'layer4' },
};

export const EXPLAIN_DEFAULTS = { outDir: 'runs/explain', top: 5, channels: 16, batch: 8 } as const;

export const EXPLAIN_HELP: CommandHelp = {
  name: 'explain',
  summary: 'show what a model looks at: feature maps, Grad-CAM and saliency heat maps, class probabilities',
  synopsis: ['explain --weights FILE [options] IMAGE...', 'explain --weights FILE --test-index N[,N...] [options]'],
  description:
    'Loads FILE (a checkpoint of train or transfer-train, or ResNet18 weights, as infer does) and, for each image, prints the most ' +
    'probable classes and writes PNGs to the output folder: NAME-features-LAYER.png, a grid of the feature maps of each chosen ' +
    'layer (the most active channels, each map scaled to its own range, labelled layer · channel); NAME-gradcam.png, the Grad-CAM ' +
    'heat map of the explained class over the image as the model sees it, with a colour bar; NAME-saliency.png, the gradient ' +
    'saliency |d score / d pixel| the same way; NAME-topK.png, the top classes as a bar chart. Everything runs on the GPU.\n' +
    'Default layers: the Fashion CNN layer1.2 and layer2.2 (its two ReLU outputs; Grad-CAM at layer2.2), the Fashion DNN fc1 and ' +
    'fc2 (no Grad-CAM: it has no maps, saliency only), ResNet18 layer1 and layer4 (Grad-CAM at layer4). An unknown layer name ' +
    "is refused with the model's layer names listed.\n" +
    FASHION_CONVERSION,
  options: [
    { name: 'weights', value: 'FILE', text: 'the model: a checkpoint of train or transfer-train, or ResNet18 weights (required)' },
    { name: 'checkpoint', value: 'FILE', text: 'the same as --weights' },
    { name: 'test-index', value: 'N[,N...]', text: 'Fashion-MNIST models: explain these images of the test split (needs the fashion-mnist package), besides any IMAGE' },
    { name: 'layers', value: 'L[,L...]', text: "the layers whose feature maps are drawn, by state-dict name (e.g. layer1.0, layer3.1.conv2; default: see above)" },
    { name: 'layer', value: 'L', text: 'the layer Grad-CAM weighs (its output must be maps [N, C, h, w]; default: see above)' },
    { name: 'class', value: 'C', text: "the class explained, by index or name (default: each image's most probable class)" },
    { name: 'channels', value: 'N', text: `feature maps drawn per layer, the most active first (default ${EXPLAIN_DEFAULTS.channels})` },
    { name: 'top', value: 'K', text: `classes printed and charted per image (default ${EXPLAIN_DEFAULTS.top})` },
    { name: 'out', value: 'DIR', text: `where the PNGs go (default ${EXPLAIN_DEFAULTS.outDir})` },
    { name: 'size', value: 'N', text: "ResNet18: the side of the square the images are brought to (default 224, or a transfer checkpoint's training size)" },
    { name: 'fit', value: 'center-crop|stretch', text: 'ResNet18: how the image is brought to that square (default center-crop)' },
  ],
};

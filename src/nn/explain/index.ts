// Explainability for CNNs: feature maps, Grad-CAM, gradient saliency, class probabilities, and
// pictures of them. No `node:` imports: a browser app uses the same functions.
export { layerNames, findLayer, enterExplainMode } from './layers.js';
export { featureMaps } from './feature-maps.js';
export { gradCam, gradCamMap, saliency, type ClassChoice, type GradCamOptions, type GradCamResult, type SaliencyOptions, type SaliencyResult } from './gradients.js';
export { classProbabilities, type ClassProbability, type ImageProbabilities } from './probabilities.js';
export {
  featureMapPictures,
  readFeatureMapPictures,
  heatmapPicture,
  heatmapOverlayPicture,
  readHeatmaps,
  toImageData,
  type FeatureMapPicture,
  type FeatureMapPictureOptions,
} from './images.js';

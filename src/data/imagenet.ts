// ImageNet-1k class names (index = the class a classifier's logit stands for), as torchvision
// lists them for its pretrained models. The JSON is written by scripts/golden/make_resnet18_fixtures.py
// from torchvision.models._meta._IMAGENET_CATEGORIES.
import names from './imagenet-classes.json' with { type: 'json' };

export const IMAGENET_CLASSES: readonly string[] = Object.freeze(names as string[]);

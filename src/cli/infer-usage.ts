// The `infer` command's usage text, apart from src/cli/infer.ts so that main.ts loads the model
// code and the image decoders only when `infer` runs.

export const INFER_USAGE = `  infer --weights FILE [--size N] [--fit center-crop|stretch] [--batch N] [--top K] [--json] IMAGE...
                                classify PNG/JPEG images with ResNet18 weights in safetensors (export them
                                with scripts/export_resnet18.py); prints the top K (default 5) classes per image.
                                Images are decoded --batch (default 8) at a time, each up to 100 megapixels
`;

#!/usr/bin/python3
"""Seed images for the loader fuzz test (kernels-test/loader-fuzz.test.ts): small PNG and JPEG files
in the variants our own encoders (src/io/png.ts, jpeg-js) do not write, so that mutations reach
the decoders' other paths. Run with Debian's Python (it has Pillow), from the repository root:

    /usr/bin/python3 scripts/golden/make_fuzz_seeds.py

It rewrites kernels-test/fixtures/fuzz/*; the files are committed. Deterministic: the pixels are
a fixed pattern and Pillow's encoders are deterministic for a given version.
"""
import os
from PIL import Image

OUT = os.path.join('kernels-test', 'fixtures', 'fuzz')


def pattern(width, height):
    image = Image.new('RGB', (width, height))
    image.putdata([((x * 37 + y * 11) % 256, (x * 5 + y * 53) % 256, (x * y * 7) % 256) for y in range(height) for x in range(width)])
    return image


def main():
    os.makedirs(OUT, exist_ok=True)
    rgb = pattern(24, 17)
    rgb.save(os.path.join(OUT, 'progressive-420.jpg'), quality=80, progressive=True, subsampling=2)
    rgb.save(os.path.join(OUT, 'baseline-444-optimized.jpg'), quality=90, optimize=True, subsampling=0)
    rgb.convert('L').save(os.path.join(OUT, 'grey.jpg'), quality=85)
    rgb.convert('P', palette=Image.ADAPTIVE, colors=16).save(os.path.join(OUT, 'palette.png'))
    rgb.convert('LA').save(os.path.join(OUT, 'grey-alpha.png'))
    rgb.convert('1').save(os.path.join(OUT, 'one-bit.png'))
    Image.frombytes('I;16', (9, 7), bytes(range(126))).save(os.path.join(OUT, 'grey16.png'))


if __name__ == '__main__':
    main()

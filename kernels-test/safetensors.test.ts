// safetensors: round trips of every dtype, the byte layout the format specifies, a strict refusal
// (naming the tensor) of each kind of malformed file, and reading a file header first. Plus the
// atomic file writer and the model description checkpoints carry in their metadata.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/io/atomic-write.js';
import { modelDescriptionMetadata, readModelDescription } from '../src/io/checkpoint.js';
import { readSafetensorsFile } from '../src/io/safetensors-file.js';
import { decodeSafetensors, encodeSafetensors, f32, toFloat32, type SafeTensor } from '../src/io/safetensors.js';

/** Builds a file from a hand-written header object and raw data bytes. */
function handMade(header: unknown, data: Uint8Array | number, rawHeader?: string): Uint8Array {
  const json = new TextEncoder().encode(rawHeader ?? JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

/** The pid of a process that has exited (so no live process has it, barring reuse). */
function exitedPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '']);
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid!));
  });
}

function refuse(bytes: Uint8Array): string {
  try {
    decodeSafetensors(bytes, 'model.safetensors');
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the file to be refused');
}

describe('safetensors', () => {
  it('round-trips tensors of every dtype with metadata, in order', () => {
    const tensors: Array<[string, SafeTensor]> = [
      ['conv.weight', f32(Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3), [2, 3, 2, 2])],
      ['bn.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(123456789012n) }],
      ['ids', { dtype: 'I32', shape: [3], data: Int32Array.of(-1, 0, 2 ** 31 - 1) }],
      ['mask', { dtype: 'BOOL', shape: [2, 2], data: Uint8Array.of(1, 0, 0, 1) }],
      ['pixels', { dtype: 'U8', shape: [5], data: Uint8Array.of(0, 1, 127, 128, 255) }],
      ['half', { dtype: 'F16', shape: [3], data: Uint16Array.of(0x3c00, 0xc000, 0x3555) }],
      ['bf', { dtype: 'BF16', shape: [2], data: Uint16Array.of(0x3f80, 0xc2f7) }],
      ['wide', { dtype: 'F64', shape: [2], data: Float64Array.of(Math.PI, -1e300) }],
      ['empty', f32(new Float32Array(0), [0, 4])],
    ];
    const bytes = encodeSafetensors(tensors, { epoch: '3', format: 'pt' });
    const { tensors: back, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ epoch: '3', format: 'pt' });
    expect([...back.keys()]).toEqual(tensors.map(([n]) => n));
    for (const [name, t] of tensors) {
      const got = back.get(name)!;
      expect(got.dtype, name).toBe(t.dtype);
      expect(got.shape, name).toEqual(t.shape);
      expect(got.data, name).toEqual(t.data);
    }
    expect(Array.from(toFloat32(back.get('half')!))).toEqual([1, -2, Math.fround(0.333251953125)]);
    expect(Array.from(toFloat32(back.get('bf')!))).toEqual([1, -123.5]);
    expect(Array.from(toFloat32(back.get('ids')!))).toEqual([-1, 0, 2 ** 31]);
    expect(Array.from(toFloat32(back.get('bn.num_batches_tracked')!))).toEqual([Math.fround(123456789012)]);
  });

  it('writes the layout the format specifies: u64 header length, padded JSON, packed data', () => {
    const bytes = encodeSafetensors({ a: f32(Float32Array.of(1, 2), [2]), b: f32(Float32Array.of(3), [1, 1]) }, { k: 'v' });
    const view = new DataView(bytes.buffer);
    const n = Number(view.getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header).toEqual({
      __metadata__: { k: 'v' },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [1, 1], data_offsets: [8, 12] },
    });
    expect(bytes.length).toBe(8 + n + 12);
    expect(view.getFloat32(8 + n + 8, true)).toBe(3);
  });

  it('copies data out, so results survive the input buffer and sit aligned', () => {
    // Unaligned start: a header of odd length.
    const bytes = handMade({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(new Float32Array([7]).buffer));
    const t = decodeSafetensors(bytes).tensors.get('x')!;
    bytes.fill(0);
    expect(Array.from(t.data as Float32Array)).toEqual([7]);
  });

  it('copies only the tensor out of a Node Buffer (whose own slice is a view of the whole file)', () => {
    const bytes = Buffer.from(encodeSafetensors({ a: f32(new Float32Array([1, 2]), [2]), b: f32(new Float32Array([3]), [1]) }));
    const decoded = decodeSafetensors(bytes).tensors;
    expect(Array.from(decoded.get('a')!.data as Float32Array)).toEqual([1, 2]);
    expect(Array.from(decoded.get('b')!.data as Float32Array)).toEqual([3]);
  });

  it('refuses writing data that does not match its shape or dtype', () => {
    expect(() => encodeSafetensors({ w: f32(new Float32Array(5), [2, 3]) })).toThrow(
      "safetensors: tensor 'w': shape [2, 3] holds 6 values but the data has 5",
    );
    expect(() => encodeSafetensors({ w: { dtype: 'I32', shape: [1], data: new Float32Array(1) } })).toThrow(
      "safetensors: tensor 'w': dtype I32 needs a Int32Array, got Float32Array",
    );
    expect(() => encodeSafetensors({ __metadata__: f32(new Float32Array(1), [1]) })).toThrow("'__metadata__' is reserved");
  });

  describe('refuses malformed files with a message naming the problem', () => {
    const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

    it('too short for the length', () => {
      expect(refuse(new Uint8Array(5))).toBe('safetensors (model.safetensors): file is 5 bytes, too short for the 8-byte header length (truncated?)');
    });

    it('header longer than the file', () => {
      const bytes = handMade(ok, 8).subarray(0, 20);
      expect(refuse(bytes)).toMatch(/header says it is \d+ bytes but only 12 follow the length \(truncated file\?\)/);
    });

    it('absurd header length', () => {
      const bytes = new Uint8Array(16);
      new DataView(bytes.buffer).setBigUint64(0, 2n ** 40n, true);
      expect(refuse(bytes)).toContain("header length 1099511627776 is over the format's limit");
    });

    it('invalid JSON', () => {
      expect(refuse(handMade(null, 0, '{"w": {"dtype": "F32",'))).toMatch(/^safetensors \(model.safetensors\): header is not valid JSON: /);
    });

    it('a header that is not an object', () => {
      expect(refuse(handMade(null, 0, '[1, 2]'))).toContain("header must be a JSON object starting with '{'");
    });

    it('unsupported dtype', () => {
      expect(refuse(handMade({ w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, 2))).toContain(
        "tensor 'w': unsupported dtype \"F8_E4M3\"",
      );
    });

    it('bad shape', () => {
      expect(refuse(handMade({ w: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 8] } }, 8))).toContain(
        "tensor 'w': shape must be an array of integers >= 0, got [2,-1]",
      );
    });

    it('shape that disagrees with the byte length', () => {
      expect(refuse(handMade({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8))).toBe(
        "safetensors (model.safetensors): tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8",
      );
    });

    it('bad offsets', () => {
      expect(refuse(handMade({ w: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8))).toContain(
        "tensor 'w': data_offsets must be [begin, end] with integers >= 0, got [0]",
      );
      expect(refuse(handMade({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8))).toContain(
        "tensor 'w': data_offsets [8, 0] end before they begin",
      );
    });

    it('unknown fields in an entry', () => {
      expect(refuse(handMade({ w: { ...ok.w, layout: 'nhwc' } }, 8))).toContain("tensor 'w': unexpected header field 'layout'");
    });

    it('non-string metadata', () => {
      expect(refuse(handMade({ __metadata__: { epoch: 3 }, ...ok }, 8))).toContain("__metadata__ value 'epoch' must be a string, got 3");
    });

    it('truncated data', () => {
      const header = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } };
      expect(refuse(handMade(header, 20))).toBe(
        "safetensors (model.safetensors): tensor 'b': data_offsets [8, 24] reach past the end of the data (20 bytes; truncated file?)",
      );
    });

    it('overlapping ranges', () => {
      const header = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
      expect(refuse(handMade(header, 12))).toContain("tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
    });

    it('gaps between ranges', () => {
      const header = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
      expect(refuse(handMade(header, 12))).toContain("tensor 'b': data_offsets [8, 12] leave a gap of 4 bytes after byte 4");
    });

    it('a header nested a million levels deep (no stack overflow)', () => {
      const deep = `{"w":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`;
      expect(refuse(handMade(null, 0, deep))).toBe(
        'safetensors (model.safetensors): header nests deeper than 3 levels at character 7 (a safetensors header is an object of tensor entries, each with a shape array)',
      );
    });

    it('a key repeated in one object (JSON.parse would keep the last)', () => {
      const w = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
      expect(refuse(handMade(null, 4, `{"w":${w}, "w" :${w}}`))).toBe(
        'safetensors (model.safetensors): key "w" appears twice in the header (each name may appear once)',
      );
      expect(refuse(handMade(null, 4, '{"w":{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}}'))).toContain(
        'key "shape" appears twice in an entry at depth 2',
      );
      expect(refuse(handMade(null, 4, `{"__metadata__":{"epoch":"1","ep\\u006fch":"2"},"w":${w}}`))).toContain('key "epoch" appears twice');
      // The same name in different objects, or as a value, is fine.
      expect([...decodeSafetensors(handMade(null, 4, `{"__metadata__":{"w":"w"},"w":${w}}`)).tensors.keys()]).toEqual(['w']);
    });

    it('trailing bytes the header does not describe', () => {
      expect(refuse(handMade(ok, 12))).toContain("4 bytes after the last tensor's data are not described by the header");
    });
  });
});

describe('writeFileAtomic', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('replaces a file in one step and leaves no temporary files behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'atomic-'));
    dirs.push(dir);
    const path = join(dir, 'sub', 'ckpt.safetensors');
    await writeFileAtomic(path, 'first');
    await writeFileAtomic(path, Uint8Array.of(1, 2, 3));
    expect(new Uint8Array(await readFile(path))).toEqual(Uint8Array.of(1, 2, 3));
    expect(await readdir(join(dir, 'sub'))).toEqual(['ckpt.safetensors']);
  });

  it('leaves the old file intact and cleans up when the write fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'atomic-'));
    dirs.push(dir);
    const path = join(dir, 'ckpt.bin');
    await writeFileAtomic(path, 'old');
    // A directory in the file's place makes the final rename fail after the data was written.
    const blocked = join(dir, 'blocked');
    await writeFileAtomic(join(blocked, 'x'), 'x');
    await expect(writeFileAtomic(blocked, 'new')).rejects.toThrow();
    expect(await readFile(path, 'utf8')).toBe('old');
    expect((await readdir(dir)).sort()).toEqual(['blocked', 'ckpt.bin']);
  });

  it("removes the temporary files of dead writers to the same file, never a live writer's", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'atomic-'));
    dirs.push(dir);
    const dead = await exitedPid();
    const live = spawn('sleep', ['30']);
    try {
      const [killed, running, mine] = [dead, live.pid!, process.pid].map((pid) => `.ckpt.safetensors.${pid}.lz4k2.a1b2c3.tmp`);
      const otherTarget = `.other.safetensors.${dead}.lz4k2.a1b2c3.tmp`;
      for (const name of [killed, running, mine, otherTarget]) await writeFile(join(dir, name), new Uint8Array(1000));
      await writeFileAtomic(join(dir, 'ckpt.safetensors'), 'new');
      // The dead writer's leftover goes; a live process's (another or this one: a write in
      // progress) and another target's stay.
      expect((await readdir(dir)).sort()).toEqual([otherTarget, running, mine, 'ckpt.safetensors'].sort());
    } finally {
      live.kill('SIGKILL');
    }
  });
});

describe('readSafetensorsFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'safetensors-file-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Bytes this process has read from files so far (Linux's /proc/self/io). */
  const bytesRead = (): number => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);

  it('reads a good file whole', async () => {
    const bytes = encodeSafetensors({ w: f32(Float32Array.of(1, 2, 3), [3]) }, { note: 'x' });
    writeFileSync(join(dir, 'good.safetensors'), bytes);
    expect(await readSafetensorsFile(join(dir, 'good.safetensors'))).toEqual(bytes);
  });

  it('refuses a large file whose header does not describe it after reading only the header', async () => {
    // 256 MB (sparse): a small valid header, then far more data than it describes.
    const path = join(dir, 'big.bin');
    writeFileSync(path, encodeSafetensors({ w: f32(Float32Array.of(1), [1]) }));
    truncateSync(path, 256 * 2 ** 20);
    const before = bytesRead();
    await expect(readSafetensorsFile(path)).rejects.toThrow(`safetensors (${path}): 268435388 bytes after the last tensor's data are not described by the header`);
    expect(bytesRead() - before).toBeLessThan(2 ** 20);
    // Something that is not safetensors at all: refused by its first 8 bytes.
    writeFileSync(path, 'PK\x03\x04 a zip archive, say');
    truncateSync(path, 256 * 2 ** 20);
    const start = bytesRead();
    await expect(readSafetensorsFile(path)).rejects.toThrow(/header length \d+ is over the format's limit/);
    expect(bytesRead() - start).toBeLessThan(2 ** 20);
  });

  it('refuses what is not a regular file (a FIFO would block a plain read forever)', async () => {
    const fifo = join(dir, 'weights.safetensors');
    execFileSync('mkfifo', [fifo]);
    symlinkSync(fifo, join(dir, 'link.safetensors'));
    for (const path of [fifo, join(dir, 'link.safetensors')]) {
      await expect(readSafetensorsFile(path)).rejects.toThrow(`${path}: cannot read the safetensors file: is a FIFO (named pipe), not a regular file`);
    }
    await expect(readSafetensorsFile(dir)).rejects.toThrow(`${dir}: cannot read the safetensors file: is a directory`);
    await expect(readSafetensorsFile(join(dir, 'none'))).rejects.toThrow(`${join(dir, 'none')}: cannot read the safetensors file: no such file`);
  });
});

describe('model descriptions in checkpoint metadata', () => {
  it('round-trip the kind and class names as plain strings', () => {
    const metadata = modelDescriptionMetadata({ kind: 'resnet18-transfer', classNames: ['cat', 'dog "big"'] });
    expect(metadata).toEqual({ model_kind: 'resnet18-transfer', class_names: '["cat","dog \\"big\\""]' });
    expect(readModelDescription(decodeSafetensors(encodeSafetensors({}, metadata)).metadata)).toEqual({ kind: 'resnet18-transfer', classNames: ['cat', 'dog "big"'] });
    expect(readModelDescription({ format: 'pt' })).toBeUndefined();
  });

  it('refuse a malformed description', () => {
    expect(() => readModelDescription({ model_kind: 'vgg' }, 'x.safetensors')).toThrow(
      "x.safetensors: metadata 'model_kind' must be one of fashion-cnn, fashion-dnn, resnet18-transfer, got \"vgg\"",
    );
    expect(() => readModelDescription({ model_kind: 'fashion-cnn', class_names: '[1, 2]' }, 'x')).toThrow("x: metadata 'class_names' must be a JSON array of strings, got \"[1, 2]\"");
    expect(() => modelDescriptionMetadata({ kind: 'vgg' as never, classNames: [] })).toThrow('model description: unknown kind "vgg"');
  });
});

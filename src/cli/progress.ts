// The training progress line: epoch, a bar, step/total, loss, accuracy, samples/s and ETA. On a
// terminal it redraws in place (\r and erase-to-end-of-line, throttled); into a file or pipe it
// prints a plain line every N steps, so CI logs stay readable.

export interface ProgressState {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /** Running mean training loss (undefined until the first read). */
  loss?: number;
  /** Running training accuracy in [0, 1]. */
  accuracy?: number;
  samplesPerSecond?: number;
  etaSeconds?: number;
}

/** "m:ss", or "h:mm:ss" from an hour up; "--:--" when not known yet. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function formatBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const filled = Math.floor(f * width);
  const head = filled < width && f > 0 ? '>' : '';
  return `[${'='.repeat(filled)}${head}${' '.repeat(width - filled - head.length)}]`;
}

export function formatProgress(s: ProgressState, barWidth = 24): string {
  const digits = String(s.steps).length;
  const parts = [
    `epoch ${String(s.epoch).padStart(String(s.epochs).length)}/${s.epochs}`,
    formatBar(s.steps > 0 ? s.step / s.steps : 0, barWidth),
    `${String(s.step).padStart(digits)}/${s.steps}`,
    `loss ${s.loss === undefined ? '  -   ' : s.loss.toFixed(4)}`,
    `acc ${s.accuracy === undefined ? '  -  ' : `${(100 * s.accuracy).toFixed(1).padStart(5)}%`}`,
    `${s.samplesPerSecond === undefined ? '-' : Math.round(s.samplesPerSecond).toString().padStart(5)} samples/s`,
    `ETA ${formatDuration(s.etaSeconds)}`,
  ];
  return parts.join('  ');
}

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Where a command writes: its progress line and its log lines. */
export interface CommandIO {
  /** Where the progress line goes (stdout: redrawn in place on a terminal). */
  progress: ProgressOutput;
  log: (line: string) => void;
}

export interface ProgressOptions {
  /** Without a terminal, print a line every this many steps (and at each epoch's last step). */
  everySteps?: number;
  /** On a terminal, redraw at most this often (ms); the last step of an epoch always draws. */
  minIntervalMs?: number;
  now?: () => number;
}

export class ProgressBar {
  private lastDraw = -Infinity;
  private drawn = false;
  private readonly everySteps: number;
  private readonly minIntervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly out: ProgressOutput,
    options: ProgressOptions = {},
  ) {
    this.everySteps = options.everySteps ?? 50;
    this.minIntervalMs = options.minIntervalMs ?? 100;
    this.now = options.now ?? (() => performance.now());
  }

  update(state: ProgressState): void {
    const last = state.step === state.steps;
    if (this.out.isTTY) {
      const t = this.now();
      if (!last && t - this.lastDraw < this.minIntervalMs) return;
      this.lastDraw = t;
      this.out.write(`\r${formatProgress(state)}\x1b[K`);
      this.drawn = true;
    } else if (last || state.step % this.everySteps === 0) {
      this.out.write(`${formatProgress(state)}\n`);
    }
  }

  /** Ends the in-place line (on a terminal) so the next output starts on a fresh line. */
  finish(): void {
    if (this.out.isTTY && this.drawn) this.out.write('\n');
    this.drawn = false;
    this.lastDraw = -Infinity;
  }

  /** Prints a message without garbling the bar (it is redrawn by the next update). */
  log(line: string): void {
    if (this.out.isTTY && this.drawn) this.out.write('\r\x1b[K');
    this.out.write(`${line}\n`);
    this.drawn = false;
    this.lastDraw = -Infinity;
  }
}

// The figures' shared look: ink, grid and series colours, text sizes.

export const INK = '#222222';
export const MUTED_INK = '#5f5f5f';
export const AXIS = '#444444';
export const GRID = '#e4e4e4';
export const MATTE = '#ececec';

/** Series colours (matplotlib's "tab10" hues), by name so callers say what they mean. */
export const COLORS = {
  blue: '#1f77b4',
  orange: '#ff7f0e',
  green: '#2ca02c',
  red: '#d62728',
  purple: '#9467bd',
  brown: '#8c564b',
} as const;

/** Right and wrong, for predictions (a green and a red that stay apart for most colour-blind eyes). */
export const CORRECT_COLOR = '#1a9641';
export const WRONG_COLOR = '#d7191c';

export const SIZES = {
  figureTitle: 17,
  panelTitle: 15,
  label: 13,
  tick: 12,
  legend: 12,
  caption: 12,
} as const;

/** Parsing of the unit-bearing strings users write in config: durations ("500ms", "2s", "1m", "7d") and sizes ("1mb"). */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

export const DURATION_PATTERN = '^\\d+(\\.\\d+)?(ms|s|m|h|d)$';
/** Unit letters in either case, spelt out: JSON Schema patterns carry no `i` flag. */
export const SIZE_PATTERN = '^\\d+(\\.\\d+)?([bB]|[kKmMgG][bB])$';
export const PERCENT_PATTERN = '^\\d+(\\.\\d+)?%$';

const durationRe = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const sizeRe = /^(\d+(?:\.\d+)?)(b|kb|mb|gb)$/i;

/** Milliseconds in a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = durationRe.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
}

/** Bytes in a size string, or undefined when it is not one. */
export function parseSize(text: string): number | undefined {
  const m = sizeRe.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

/** A fraction in [0, 1] from "20%", or undefined. */
export function parsePercent(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  if (!m) return undefined;
  const v = Number(m[1]) / 100;
  return v <= 1 ? v : undefined;
}

/** "1500" ms shown the way a user wrote it: "1.5s", "250ms". */
export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 100 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
